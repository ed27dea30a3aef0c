"""Administration of deadlines: case types' deadline policies and each region's extra closed days.

Adding or removing a closed day starts a CalendarChangeWorkflow that signals every open case on that
region's calendar to recompute its deadlines and move its timers; each case explains the change in
its own timeline when its dates move.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from api import errors
from api.deps import CurrentUser, SessionDep, SettingsDep, TemporalDep, require_permission
from api.schemas.admin import ClosureCreate
from api.schemas.base import IsoDate, check_storable, clip, unstorable
from casework.calendar.deadlines import format_day
from casework.calendar.policies import PRESETS, DeadlinePolicy, policy_from_data
from casework.calendar.workdays import Region, bank_holiday_names
from casework.cases import repository
from casework.cases.contracts import CalendarChangeRun
from casework.cases.roles import Role
from casework.people.permissions import declare
from casework.platform.db import AppUser, CalendarClosure, CaseRecord
from workflows.calendar import CalendarChangeWorkflow

router = APIRouter(prefix="/admin", tags=["administration"])
ADMINISTER_DEADLINES = declare(
    "deadlines.administer", "change deadline policies and calendars, recalculate deadlines", {Role.ADMIN})


def _admin(user: AppUser) -> None:
    require_permission(user, ADMINISTER_DEADLINES, "administering deadlines")


def policy_from_body(body: dict[str, Any], *at: str) -> DeadlinePolicy:
    """A deadline policy as sent: a preset by name, a preset with some fields changed, or every
    field (a 422 naming what is wrong, under `at` in the body)."""
    for field, value in body.items():
        try:
            check_storable([field, value])
        except ValueError as exc:
            raise errors.unprocessable(".".join([*at, clip(field)]), f"{clip(field)} {exc}") from exc
    preset = body.get("preset")
    if preset is not None and preset not in PRESETS:
        raise errors.unprocessable(".".join([*at, "preset"]), f"unknown preset '{clip(str(preset))}'; "
                                   f"one of {', '.join(PRESETS)}")
    try:
        return DeadlinePolicy.model_validate({**(PRESETS[preset].model_dump() if preset else {}), **body})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *at, *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
        ) from None


def _policy_read(policy: DeadlinePolicy) -> dict[str, Any]:
    return {**policy.model_dump(mode="json"), "summary": policy.describe()}


@router.get("/deadline-presets")
async def deadline_presets(user: CurrentUser) -> list[dict[str, Any]]:
    """The built-in deadline policies (UK public sector, FCA DISP, payment services, CFPB)."""
    _admin(user)
    return [_policy_read(p) for p in PRESETS.values()]


@router.get("/case-types/{code}/deadline-policy")
async def get_deadline_policy(code: str, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    _admin(user)
    row = await repository.get_case_type(session, code)
    if row is None:
        raise errors.not_found(f"case type {code}")
    return _policy_read(policy_from_data(row.deadline_policy))


@router.put("/case-types/{code}/deadline-policy")
async def set_deadline_policy(code: str, request: Request, session: SessionDep, user: CurrentUser,
                              body: dict[str, Any] = Body(examples=[{"preset": "fca-disp"},
                                                                    {"preset": "uk-public-sector",
                                                                     "response_days": 15}])) -> dict[str, Any]:
    """Set a case type's policy: a preset by name, a preset with some fields changed, or every field.

    Applies to cases registered from now on, and to cases changed to this type; open cases keep the
    policy they were registered under.
    """
    _admin(user)
    policy = policy_from_body(body)
    row = await repository.get_case_type(session, code)
    if row is None:
        raise errors.not_found(f"case type {code}")
    row.deadline_policy = policy.model_dump(mode="json")
    await session.commit()
    request.app.state.cache.forget(("case_type", code))  # registrations use it from now
    return _policy_read(policy)


def _closure_read(row: CalendarClosure) -> dict[str, Any]:
    return {"region": row.region, "date": row.day, "kind": row.kind, "reason": row.reason,
            "created_by": row.created_by, "created_at": row.created_at}


@router.get("/calendars/{region}")
async def calendar(region: Region, year: int, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Every closed weekday of `year` in the region: bank holidays (from the `holidays` package) and
    the administrator's closures."""
    _admin(user)
    if not 1990 <= year <= 2100:
        raise errors.unprocessable("year", "year must be between 1990 and 2100", location="query")
    closures = (await session.scalars(
        select(CalendarClosure).where(CalendarClosure.region == region.value,
                                      func.extract("year", CalendarClosure.day) == year)
        .order_by(CalendarClosure.day))).all()
    holidays = [{"date": d, "name": name} for d, name in sorted(bank_holiday_names(region, [year]).items())]
    return {"region": region.value, "year": year, "bank_holidays": holidays,
            "closures": [_closure_read(c) for c in closures]}


@router.get("/calendars/{region}/closures")
async def list_closures(region: Region, session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    _admin(user)
    rows = (await session.scalars(
        select(CalendarClosure).where(CalendarClosure.region == region.value).order_by(CalendarClosure.day))).all()
    return [_closure_read(r) for r in rows]


@router.post("/calendars/{region}/closures", status_code=status.HTTP_201_CREATED)
async def add_closure(region: Region, body: ClosureCreate, session: SessionDep, client: TemporalDep,
                      settings: SettingsDep, user: CurrentUser) -> dict[str, Any]:
    """Add a closed day (an office closure, or a bank holiday newer than the `holidays` data) and
    recompute the deadlines of every open case on this calendar."""
    _admin(user)
    if body.date.weekday() >= 5:
        raise errors.unprocessable("date", f"{body.date.isoformat()} is a {body.date.strftime('%A')}; "
                                   f"weekends are never working days")
    if body.date in bank_holiday_names(region, [body.date.year]):
        raise errors.unprocessable("date", f"{body.date.isoformat()} is already a bank holiday in {region.value}")
    added = (await session.execute(
        insert(CalendarClosure)
        .values(region=region.value, day=body.date, kind=body.kind, reason=body.reason,
                created_by=user.display_name)
        .on_conflict_do_nothing(index_elements=["region", "day"])
        .returning(CalendarClosure.day))).first()
    if added is None:
        raise errors.stage_conflict(f"{body.date.isoformat()} is already closed in {region.value}", None)
    await session.commit()
    row = await session.get(CalendarClosure, (region.value, body.date))
    assert row is not None  # just added
    what = "Bank holiday" if body.kind == "bank_holiday" else "Closure"
    recalculation = await _recalculate(session, client, settings.task_queue, region, user,
                                       f"{what} added on {format_day(body.date)}: {body.reason}")
    return {**_closure_read(row), "recalculation": recalculation}


@router.delete("/calendars/{region}/closures/{day}")
async def remove_closure(region: Region, day: IsoDate, session: SessionDep, client: TemporalDep,
                         settings: SettingsDep, user: CurrentUser) -> dict[str, Any]:
    """Remove a closed day (entered by mistake) and recompute open cases' deadlines."""
    _admin(user)
    row = await session.get(CalendarClosure, (region.value, day))
    if row is None:
        raise errors.not_found(f"closure on {day.isoformat()} in {region.value}")
    gone = _closure_read(row)
    await session.delete(row)
    await session.commit()
    recalculation = await _recalculate(session, client, settings.task_queue, region, user,
                                       f"Closure on {format_day(day)} removed ({gone['reason']})")
    return {**gone, "recalculation": recalculation}


@router.post("/calendars/{region}/recalculate", status_code=status.HTTP_202_ACCEPTED)
async def recalculate(region: Region, session: SessionDep, client: TemporalDep, settings: SettingsDep,
                      user: CurrentUser, body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
    """Recompute every open case on this calendar, e.g. after upgrading the `holidays` package."""
    _admin(user)
    reason = (body or {}).get("reason") or "Calendar recalculation requested"
    if not isinstance(reason, str) or len(reason) > 500:
        raise errors.unprocessable("reason", "reason must be text of at most 500 characters")
    if (problem := unstorable(reason)) is not None:
        raise errors.unprocessable("reason", f"reason {problem}")
    return await _recalculate(session, client, settings.task_queue, region, user, reason)


async def _recalculate(session: SessionDep, client: TemporalDep, task_queue: str, region: Region,
                       user: AppUser, description: str) -> dict[str, Any]:
    open_cases = await session.scalar(
        select(func.count()).select_from(CaseRecord)
        .where(CaseRecord.status == "open", CaseRecord.calendar_region == region.value))
    # A transaction begun after the change's commit: closures read since then count it.
    as_of = await session.scalar(select(func.now()))
    workflow_id = f"calendar-change/{region.value}/{uuid.uuid4()}"
    await client.start_workflow(
        CalendarChangeWorkflow.run,
        CalendarChangeRun(region=region.value, description=description, requested_by=user.display_name,
                          calendar_as_of=as_of),
        id=workflow_id, task_queue=task_queue, static_summary=description[:200],
    )
    return {"workflow_id": workflow_id, "open_cases": open_cases, "description": description}
