"""The task lists: "my tasks" and "my team's tasks", overdue first then soonest due, only on cases
the user may see (casework.cases.visibility). Callers own the session; a read only."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from casework.cases.visibility import Viewer, visible_cases
from casework.platform.db import CaseRecord, CaseTask

Scope = Literal["mine", "team"]
StatusFilter = Literal["open", "done", "cancelled", "all"]


def _scope(scope: Scope, viewer: Viewer) -> ColumnElement[bool]:
    if scope == "mine":
        return CaseTask.assignee_id == viewer.user_id
    return CaseTask.team.in_(sorted(viewer.teams)) if viewer.teams else false()


async def task_list(session: AsyncSession, viewer: Viewer, *, scope: Scope, status: StatusFilter = "open",
                    case_reference: str | None = None, overdue: bool | None = None,
                    limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Each task's columns with its case's type, stage and complainant."""
    stmt = (select(CaseTask, CaseRecord.case_type, CaseRecord.stage_label, CaseRecord.complainant_name)
            .join(CaseRecord, CaseRecord.reference == CaseTask.case_reference)
            .where(_scope(scope, viewer), visible_cases(viewer))
            .order_by(CaseTask.overdue.desc(), CaseTask.due_at, CaseTask.id)
            .limit(limit).offset(offset))
    if status != "all":
        stmt = stmt.where(CaseTask.status == status)
    if case_reference is not None:
        stmt = stmt.where(CaseTask.case_reference == case_reference)
    if overdue is not None:
        stmt = stmt.where(CaseTask.overdue.is_(overdue))
    rows = (await session.execute(stmt)).all()
    return [{**{c.key: getattr(task, c.key) for c in CaseTask.__table__.columns},
             "case_type": case_type, "case_stage": stage_label, "complainant_name": complainant}
            for task, case_type, stage_label, complainant in rows]
