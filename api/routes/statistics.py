"""Team statistics: what the digest emails carry, on demand."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from api import errors
from api.deps import SessionDep, ViewerDep
from casework.calendar.deadlines import case_today
from casework.platform.db import CaseType, Team
from casework.reporting.statistics import Statistics, team_statistics

router = APIRouter(prefix="/statistics", tags=["statistics"])


@router.get("/teams", response_model=Statistics)
async def statistics_by_team(
    session: SessionDep,
    viewer: ViewerDep,
    case_type: Annotated[str | None, Query(description="count only this case type")] = None,
    team: Annotated[list[str] | None, Query(description="only these teams (repeatable)")] = None,
) -> Any:
    """Per team you may see: open, unallocated (no person yet), overdue, due within 5 working days,
    open cases by stage, and per member their open and overdue cases. Also your own totals and
    the open cases no team has yet."""
    if case_type and await session.get(CaseType, case_type) is None:
        raise errors.unprocessable("case_type", f"unknown case type '{case_type}'", location="query")
    if team:
        known = set((await session.scalars(select(Team.code).where(Team.code.in_(team)))).all())
        unknown = [code for code in team if code not in known]
        if unknown:
            raise errors.unprocessable("team", f"unknown team {', '.join(unknown)}", location="query")
    today = case_today(datetime.now(timezone.utc))
    return await team_statistics(session, viewer, today, case_type=case_type, teams=team)
