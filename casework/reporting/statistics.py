"""Team statistics: per team, its open cases, unallocated, overdue, in warning (past the clock's
warning day, not yet overdue), due within five working days, with an email awaiting confirmation,
by stage, and per member (their open and overdue cases); for a team that owns frontline
complaints, their figures too (casework/reporting/frontline.py).
Counted in PostgreSQL with FILTERed aggregates over the (team, status) index; only cases the viewer
may see are counted.

"Due soon" counts open cases that are not overdue and whose deadline falls on or before the fifth
working day from today on the England and Wales calendar.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from functools import lru_cache

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, func, literal_column, not_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from casework.calendar.workdays import Region, WorkingCalendar, add_working_days, build_calendar
from casework.cases.stages import StagePlan
from casework.cases.visibility import Viewer, visible_cases
from casework.platform.db import AppUser, CaseRecord, CaseType, Team, TeamMember
from casework.reporting.frontline import FrontlineTeamFigures, team_figures
from casework.reporting.search import overdue_cases, warned_cases

DUE_SOON_WORKING_DAYS = 5
_OPEN: ColumnElement[str] = literal_column("'open'")


class MemberStatistics(BaseModel):
    username: str
    display_name: str
    member: bool  # False: holds cases of the team without belonging to it (moved on, say)
    open: int = 0
    overdue: int = 0


class StageCount(BaseModel):
    stage: str
    label: str
    open: int


class CategoryCount(BaseModel):
    category: str  # what the cases are about: a complaint's category, a lead complaint's type
    open: int


class TeamStatistics(BaseModel):
    code: str
    name: str
    open: int = 0
    unallocated: int = 0  # open, with the team but no person
    overdue: int = 0
    warning: int = 0  # open, past its own warning day, not yet overdue
    due_soon: int = 0
    unconfirmed_deliveries: int = 0  # open, with an email awaiting confirmation or a resend
    by_stage: list[StageCount] = []
    by_category: list[CategoryCount] = []
    members: list[MemberStatistics] = []
    # The frontline complaints the team owns (its department's), received in the last 30 days:
    # contacts, first-contact resolution, repeats, follow-ups; None when it has none.
    frontline: FrontlineTeamFigures | None = None


class MyStatistics(BaseModel):
    open: int = 0
    overdue: int = 0


class Statistics(BaseModel):
    as_of: date
    due_soon_until: date
    case_type: str | None
    untriaged: int  # open cases not yet allocated to any team
    mine: MyStatistics
    teams: list[TeamStatistics]


@lru_cache(maxsize=4)
def _calendar(year: int) -> WorkingCalendar:
    # Two years, so five working days from late December can reach January.
    return build_calendar(Region.ENGLAND_AND_WALES, [year, year + 1])


def due_soon_until(today: date) -> date:
    return add_working_days(today, DUE_SOON_WORKING_DAYS, _calendar(today.year))


def _count(condition: ColumnElement[bool] | None = None):
    return func.count() if condition is None else func.count().filter(condition)


async def team_statistics(
    session: AsyncSession,
    viewer: Viewer,
    today: date,
    *,
    case_type: str | None = None,
    teams: list[str] | None = None,
) -> Statistics:
    """Statistics for the teams the viewer may see (or those of `teams` among them)."""
    case = CaseRecord
    until = due_soon_until(today)
    overdue = overdue_cases(today)
    due_soon = and_(not_(overdue), case.deadline >= today, case.deadline <= until)
    scope = [case.status == _OPEN, visible_cases(viewer)]
    if case_type:
        scope.append(case.case_type == case_type)

    team_query = select(Team).order_by(Team.code)
    if not viewer.all_teams:
        team_query = team_query.where(Team.code.in_(sorted(viewer.teams)))
    if teams:
        team_query = team_query.where(Team.code.in_(teams))
    team_rows = (await session.scalars(team_query)).all()
    codes = [t.code for t in team_rows]
    in_teams = case.team.in_(codes)

    totals = {
        row.team: row
        for row in await session.execute(
            select(case.team, _count().label("open"),
                   _count(case.assignee_id.is_(None)).label("unallocated"),
                   _count(overdue).label("overdue"), _count(warned_cases(today)).label("warning"),
                   _count(due_soon).label("due_soon"),
                   _count(case.unconfirmed_deliveries != text("'[]'::jsonb")).label("unconfirmed_deliveries"))
            .where(in_teams, *scope).group_by(case.team))
    }
    stages: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for team, stage, label, count in await session.execute(
        select(case.team, case.stage, case.stage_label, _count())
        .where(in_teams, *scope).group_by(case.team, case.stage, case.stage_label)
    ):
        stages[team].append((stage, label, count))
    # A complaint's category is a column of its own; another kind names it in its details.
    category = func.coalesce(case.category, case.details["category"].astext)
    categories: dict[str, list[CategoryCount]] = defaultdict(list)
    for team, name, count in await session.execute(
        select(case.team, category, _count()).where(in_teams, category.is_not(None), *scope)
        .group_by(case.team, category).order_by(case.team, _count().desc(), category)
    ):
        categories[team].append(CategoryCount(category=name, open=count))
    held: dict[str, dict[int, tuple[int, int]]] = defaultdict(dict)
    for team, assignee_id, count, late in await session.execute(
        select(case.team, case.assignee_id, _count(), _count(overdue))
        .where(in_teams, case.assignee_id.is_not(None), *scope).group_by(case.team, case.assignee_id)
    ):
        held[team][assignee_id] = (count, late)
    members: dict[str, set[int]] = defaultdict(set)
    for team, user_id in await session.execute(
        select(TeamMember.team_code, TeamMember.user_id).where(TeamMember.team_code.in_(codes))
    ):
        members[team].add(user_id)
    people_ids = {uid for ids in members.values() for uid in ids} | {
        uid for by_person in held.values() for uid in by_person}
    people = {
        user.id: user
        for user in (await session.scalars(select(AppUser).where(AppUser.id.in_(people_ids)))).all()
    }
    order = await _stage_order(session)
    frontline = await team_figures(session, viewer, codes, today, case_type=case_type)

    result = []
    for team in team_rows:
        total = totals.get(team.code)
        by_person = held.get(team.code, {})
        member_stats = [
            MemberStatistics(username=people[uid].username, display_name=people[uid].display_name,
                             member=uid in members[team.code], open=by_person.get(uid, (0, 0))[0],
                             overdue=by_person.get(uid, (0, 0))[1])
            for uid in sorted(members[team.code] | set(by_person),
                              key=lambda uid: people[uid].display_name if uid in people else "")
            if uid in people
        ]
        result.append(TeamStatistics(
            code=team.code, name=team.name,
            open=total.open if total else 0, unallocated=total.unallocated if total else 0,
            overdue=total.overdue if total else 0, warning=total.warning if total else 0,
            due_soon=total.due_soon if total else 0,
            unconfirmed_deliveries=total.unconfirmed_deliveries if total else 0,
            by_stage=[StageCount(stage=s, label=label, open=n) for s, label, n in
                      sorted(stages.get(team.code, []), key=lambda x: (order.get(x[0], 99), x[1]))],
            by_category=categories.get(team.code, []),
            members=member_stats,
            frontline=frontline.get(team.code),
        ))

    untriaged = await session.scalar(select(_count()).where(case.team.is_(None), *scope))
    mine_open, mine_late = (await session.execute(
        select(_count(), _count(overdue)).where(case.assignee_id == viewer.user_id, *scope))).one()
    return Statistics(as_of=today, due_soon_until=until, case_type=case_type,
                      untriaged=untriaged or 0, mine=MyStatistics(open=mine_open, overdue=mine_late),
                      teams=result)


async def _stage_order(session: AsyncSession) -> dict[str, int]:
    """Stage keys in the order case types walk them (a stage first met later sorts later)."""
    order: dict[str, int] = {}
    for plan in (await session.scalars(select(CaseType.stages).order_by(CaseType.code))).all():
        for stage in StagePlan.from_data(plan).stages:
            order.setdefault(stage.key, len(order))
    return order
