"""Administration of case types: a service runs several side by side (service complaints on 20
working days, ex-gratia payment claims on 60, serious misconduct with its own team). A type names
its kind of case, reference prefix, stage plan, outcomes and close reasons, deadline policy, the
team its new cases are routed to, and its stage-2 type. Letter and email templates for a type are
uploaded through the template library (`POST /admin/templates/{purpose}/letter` with `case_type`).

Changes apply to cases registered from then on; open cases keep the type as it was when they were
registered (their workflow carries it). Every change is on the audit trail.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy import exists, select

from api import errors
from api.deps import CurrentUser, SessionDep, require_permission
from api.routes.admin import policy_from_body
from api.schemas.case_types import CaseTypeCreate, CaseTypeRead, CaseTypeUpdate, TypeCode
from casework.cases import repository
from casework.cases.roles import Role
from casework.cases.stages import rules_of
from casework.kinds import KINDS
from casework.people import audit
from casework.people.permissions import declare
from casework.platform.db import AppUser, CaseRecord, CaseType, Team

router = APIRouter(prefix="/admin/case-types", tags=["administration"])
MANAGE = declare("case_types.manage", "create and edit case types: plan, policy, routing team, outcomes",
                 {Role.ADMIN})
FIELDS = ("name", "reference_prefix", "stages", "outcome_options", "close_reasons", "escalation_type",
          "deadline_policy", "default_team", "active")


async def administrator(user: CurrentUser) -> AppUser:
    require_permission(user, MANAGE, "administering case types")
    return user


Administrator = Annotated[AppUser, Depends(administrator)]


def _values(row: CaseType) -> dict[str, Any]:
    return {field: getattr(row, field) for field in FIELDS}


async def _checked(session: SessionDep, kind: str, body: CaseTypeCreate | CaseTypeUpdate, code: str) -> dict[str, Any]:
    """The columns the body sets, each checked: 422 naming what is wrong."""
    sent = body.model_dump(exclude_unset=True)
    for field in ("name", "reference_prefix", "stages", "outcome_options", "close_reasons", "active"):
        if field in sent and sent[field] is None:
            raise errors.unprocessable(field, f"{field} cannot be null: leave it out to keep it")
    values: dict[str, Any] = {}
    for field in ("name", "reference_prefix", "outcome_options", "close_reasons", "active"):
        if field in sent:
            values[field] = sent[field]
    if "stages" in sent:
        try:
            values["stages"] = rules_of(kind).plan(sent["stages"]).to_data()
        except ValueError as exc:
            raise errors.unprocessable("stages", str(exc)) from exc
    if "deadline_policy" in sent:
        policy = sent["deadline_policy"]
        if policy is not None:
            policy = policy_from_body(policy, "deadline_policy").model_dump(mode="json")
        values["deadline_policy"] = policy
    if "team" in sent:
        if sent["team"] is not None and await session.get(Team, sent["team"]) is None:
            raise errors.unprocessable("team", f"no team '{sent['team']}'")
        values["default_team"] = sent["team"]
    if sent.get("escalation_type") is not None:
        stage2 = await repository.get_case_type(session, sent["escalation_type"])
        if stage2 is None or stage2.code == code:
            raise errors.unprocessable("escalation_type", f"no other case type '{sent['escalation_type']}'")
        if stage2.kind != kind:
            raise errors.unprocessable("escalation_type", f"{stage2.code} is a {stage2.kind} type, not {kind}")
    if "escalation_type" in sent:
        values["escalation_type"] = sent["escalation_type"]
    if "reference_prefix" in sent:
        taken = await session.scalar(select(CaseType.code).where(
            CaseType.reference_prefix == sent["reference_prefix"], CaseType.code != code))
        if taken:
            raise errors.conflict(f"the reference prefix {sent['reference_prefix']} is case type {taken}'s")
    return values


def _forget(request: Request, row: CaseType, before: dict[str, Any] | None = None) -> None:
    """Registrations and steps read case types through the short-lived cache."""
    cache = request.app.state.cache
    cache.forget(("case_type", row.code))
    for prefix in {row.reference_prefix, (before or {}).get("reference_prefix")} - {None}:
        cache.forget(("case_type_prefix", prefix))


@router.get("", response_model=list[CaseTypeRead])
async def list_case_types(session: SessionDep, user: Administrator) -> Any:
    """Every case type, retired ones too."""
    return list((await session.scalars(select(CaseType).order_by(CaseType.active.desc(), CaseType.code))).all())


@router.get("/{code}", response_model=CaseTypeRead)
async def get_case_type(code: TypeCode, session: SessionDep, user: Administrator) -> Any:
    row = await repository.get_case_type(session, code)
    if row is None:
        raise errors.not_found(f"case type {code}")
    return row


@router.post("", response_model=CaseTypeRead, status_code=status.HTTP_201_CREATED,
             responses={409: {"description": "the code or the reference prefix is taken"}})
async def create_case_type(body: CaseTypeCreate, request: Request, session: SessionDep, user: Administrator) -> Any:
    """A new case type. Its cases are registered with `POST /cases` (`case_type`: its code), routed
    to its team, on its deadline policy."""
    if body.kind not in KINDS:
        raise errors.unprocessable("kind", f"no kind of case '{body.kind}'; one of: {', '.join(KINDS)}")
    if await repository.get_case_type(session, body.code) is not None:
        raise errors.conflict(f"case type {body.code} exists: edit it with PATCH")
    values = await _checked(session, body.kind, body, body.code)
    row = CaseType(code=body.code, kind=body.kind, **values)
    session.add(row)
    await audit.record(session, user, "case_type.created", "case_type", body.code, None,
                       {"kind": body.kind, **values})
    await session.commit()
    _forget(request, row)
    return row


@router.patch("/{code}", response_model=CaseTypeRead,
              responses={409: {"description": "the reference prefix is taken, or the type has cases"}})
async def edit_case_type(code: TypeCode, body: CaseTypeUpdate, request: Request, response: Response,
                         session: SessionDep, user: Administrator) -> Any:
    """Change what the body names. The kind and code never change; the reference prefix only while
    no case of the type exists (references already given keep theirs)."""
    row = await session.get(CaseType, code, with_for_update=True)
    if row is None:
        raise errors.not_found(f"case type {code}")
    values = await _checked(session, row.kind, body, code)
    if "reference_prefix" in values and values["reference_prefix"] != row.reference_prefix:
        if await session.scalar(select(exists().where(CaseRecord.case_type == code))):
            raise errors.conflict(f"case type {code} has cases: its reference prefix stays {row.reference_prefix}")
    before = _values(row)
    was, now = audit.changed(before, {**before, **values})
    for field, value in values.items():
        setattr(row, field, value)
    if now:
        await audit.record(session, user, "case_type.changed", "case_type", code, was, now)
    await session.commit()
    _forget(request, row, before)
    return row
