"""Who am I, and the configuration a client needs to build forms (case types, teams)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep, ViewerDep
from api.schemas.reference import UserRead
from casework.platform.db import CaseType, Team, TeamMember

router = APIRouter(tags=["reference data"])


@router.get("/me", response_model=UserRead)
async def me(user: CurrentUser, viewer: ViewerDep) -> UserRead:
    """Who you are: your roles, teams and the permissions you hold."""
    return UserRead(id=user.id, username=user.username, display_name=user.display_name, email=user.email,
                    roles=list(user.roles), teams=sorted(viewer.teams), permissions=sorted(user.permissions))


@router.get("/case-types")
async def case_types(session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(CaseType).where(CaseType.active).order_by(CaseType.code))).all()
    return [
        {"code": r.code, "name": r.name, "reference_prefix": r.reference_prefix, "stages": r.stages,
         "outcome_options": r.outcome_options, "close_reasons": r.close_reasons,
         "escalation_type": r.escalation_type}
        for r in rows
    ]


@router.get("/teams")
async def teams(session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(Team).order_by(Team.code))).all()
    members = (await session.execute(select(TeamMember.team_code, TeamMember.user_id))).all()
    return [
        {"code": t.code, "name": t.name, "email": t.email,
         "member_ids": [uid for code, uid in members if code == t.code]}
        for t in rows
    ]
