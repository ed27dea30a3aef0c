"""Frontline statistics on their own, for any period (the team statistics and digests carry them
for the last 30 days: casework/reporting/frontline.py)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep, ViewerDep, require_permission
from api.routes.frontline.register import READ_REGISTER, register_filter
from api.schemas.base import IsoDate
from casework.reporting.frontline import FrontlineStatistics, frontline_statistics

router = APIRouter(tags=["frontline"])


@router.get("/frontline/statistics", response_model=list[FrontlineStatistics])
async def statistics(user: CurrentUser, viewer: ViewerDep, session: SessionDep,
                     by: Literal["department", "owner"] = "department", received_from: IsoDate | None = None,
                     received_to: IsoDate | None = None) -> Any:
    """Complaints and contacts, first-contact resolution, repeat contacts, follow-ups on time and
    overdue, by department or by owner, over the complaints received in the period that you may see."""
    require_permission(user, READ_REGISTER, "reading frontline statistics")
    f = register_filter(received_from=received_from, received_to=received_to)
    return await frontline_statistics(session, viewer, by=by, received_from=f.received_from,
                                      received_to=f.received_to)
