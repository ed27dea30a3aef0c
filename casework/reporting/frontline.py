"""Frontline complaint figures (F4): complaints and contacts, resolved at first contact, repeat
contacts, follow-ups on time and overdue, per department (the owner's team) or per owner. Read
from the frontline cases' `details` in PostgreSQL; only cases the viewer may see are counted.

They are served by `/frontline/statistics` (any period), and per team by the shared team
statistics (`/statistics/teams`) and the digest emails, over the last `TEAM_PERIOD_DAYS` days.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Integer, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from casework.cases.visibility import Viewer, visible_cases
from casework.platform.db import CaseRecord, CaseTask

KIND = "frontline"
FOLLOW_UP_SOURCE = "follow_up"  # the source of a follow-up task (casework.kinds.frontline.contracts)
TEAM_PERIOD_DAYS = 30  # team statistics and digests count the complaints received in this many days


class FrontlineStatistics(BaseModel):
    group: str | None = Field(description="the department, or the owner's name (null: not yet claimed)")
    complaints: int
    contacts: int = Field(0, description="contacts taken on those complaints, repeats included")
    resolved_first_contact: int
    first_contact_resolution_rate: Decimal | None = Field(description="percent of complaints")
    repeat_contacts: int = Field(description="complaints the complainant contacted about again")
    repeat_contact_rate: Decimal | None
    follow_ups_due: int = Field(description="complaints investigated with a follow-up promised")
    follow_ups_on_time: int = Field(description="followed up without the same-day promise being missed")
    follow_ups_on_time_rate: Decimal | None
    follow_ups_overdue: int = Field(0, description="complaints with a follow-up task open and overdue now")


class FrontlineTeamFigures(BaseModel):
    """A team's frontline figures in the team statistics and digests: the complaints it owns
    (its department's) received from `received_from`, in all and per owner."""

    received_from: date
    totals: FrontlineStatistics
    by_owner: list[FrontlineStatistics] = []


def _count(condition: ColumnElement[bool] | None = None) -> Any:
    return func.count() if condition is None else func.count().filter(condition)


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part * 100) / whole).quantize(Decimal("0.1")) if whole else None


async def frontline_statistics(
    session: AsyncSession, viewer: Viewer, *, by: Literal["department", "owner"] = "department",
    received_from: date | None = None, received_to: date | None = None,
    departments: list[str] | None = None, case_type: str | None = None,
) -> list[FrontlineStatistics]:
    """The figures per department (or owner) over the frontline complaints received in the period."""
    details = CaseRecord.details
    group = details["department" if by == "department" else "owner_name"].astext.label("group")
    follow_ups = func.jsonb_array_length(details["follow_ups"])
    escalations = details["escalations"].astext.cast(Integer)
    overdue_follow_up = exists().where(
        CaseTask.case_reference == CaseRecord.reference, CaseTask.source == FOLLOW_UP_SOURCE,
        CaseTask.status == "open", CaseTask.overdue.is_(True))
    stmt = (select(group, _count().label("complaints"),
                   func.coalesce(func.sum(func.jsonb_array_length(details["contacts"])), 0).label("contacts"),
                   _count(details.contains({"resolved_first_contact": True})).label("first_contact"),
                   _count(or_(details["repeat_contacts"].astext.cast(Integer) > 0,
                              details["repeat_of"].astext.is_not(None))).label("repeats"),
                   _count(or_(follow_ups > 0, escalations > 0)).label("follow_ups_due"),
                   _count(and_(follow_ups > 0, escalations == 0)).label("on_time"),
                   _count(overdue_follow_up).label("overdue"))
            .where(CaseRecord.kind == KIND, visible_cases(viewer)).group_by(group).order_by(group))
    if received_from:
        stmt = stmt.where(CaseRecord.date_received >= received_from)
    if received_to:
        stmt = stmt.where(CaseRecord.date_received <= received_to)
    if departments is not None:
        stmt = stmt.where(details["department"].astext.in_(departments))
    if case_type:
        stmt = stmt.where(CaseRecord.case_type == case_type)
    return [FrontlineStatistics(
        group=row.group, complaints=row.complaints, contacts=row.contacts, resolved_first_contact=row.first_contact,
        first_contact_resolution_rate=_rate(row.first_contact, row.complaints), repeat_contacts=row.repeats,
        repeat_contact_rate=_rate(row.repeats, row.complaints), follow_ups_due=row.follow_ups_due,
        follow_ups_on_time=row.on_time, follow_ups_on_time_rate=_rate(row.on_time, row.follow_ups_due),
        follow_ups_overdue=row.overdue)
        for row in (await session.execute(stmt)).all()]


async def team_figures(session: AsyncSession, viewer: Viewer, teams: list[str], today: date, *,
                       case_type: str | None = None) -> dict[str, FrontlineTeamFigures]:
    """Per team of `teams` that owns frontline complaints received in the last TEAM_PERIOD_DAYS."""
    if not teams:
        return {}
    since = today - timedelta(days=TEAM_PERIOD_DAYS)
    totals = await frontline_statistics(session, viewer, received_from=since, departments=teams,
                                        case_type=case_type)
    figures = {row.group: FrontlineTeamFigures(received_from=since, totals=row) for row in totals if row.group}
    for team, figure in figures.items():
        figure.by_owner = await frontline_statistics(session, viewer, by="owner", received_from=since,
                                                     departments=[team], case_type=case_type)
    return figures
