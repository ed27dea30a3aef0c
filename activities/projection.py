"""Writes the PostgreSQL projection of a case and its timeline in one transaction.

Idempotent by construction: the case row carries the workflow's state version and is only
overwritten by a newer one; child rows are upserted by id; timeline events are inserted by id and
ignored when already present. A retried activity or a replayed workflow therefore writes nothing twice.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from casework.contracts import CASE_COLLECTIONS, ProjectCaseInput
from casework.db import (
    CaseClarification,
    CaseContribution,
    CaseCorrespondent,
    CaseDocument,
    CaseNote,
    ComplaintCase,
    TimelineEntry,
)
from casework.repository import case_row


CHILD_TABLES = {
    "correspondents": CaseCorrespondent,
    "documents": CaseDocument,
    "clarifications": CaseClarification,
    "contributions": CaseContribution,
    "notes": CaseNote,
}


async def _upsert(session: AsyncSession, model, rows: list[dict], key: str = "id") -> None:
    if not rows:
        return
    stmt = insert(model).values(rows)
    updatable = {c: stmt.excluded[c] for c in rows[0] if c != key}
    await session.execute(stmt.on_conflict_do_update(index_elements=[key], set_=updatable))


async def write_projection(session: AsyncSession, data: ProjectCaseInput) -> bool:
    """Apply one projection. Returns False when a newer version is already stored."""
    state = data.state
    row = case_row(state)
    stmt = insert(ComplaintCase).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["reference"],
        set_={c: stmt.excluded[c] for c in row if c != "reference"},
        where=ComplaintCase.version < stmt.excluded.version,
    ).returning(ComplaintCase.reference)
    applied = (await session.execute(stmt)).first() is not None

    if applied:
        ref = state.reference
        changed = CASE_COLLECTIONS if data.collections is None else data.collections
        for name in changed:
            model = CHILD_TABLES[name]
            rows = [{"case_reference": ref, **item.model_dump()} for item in getattr(state, name)]
            await _upsert(session, model, rows)
        if "notes" in changed and state.notes:
            await session.execute(
                delete(CaseNote).where(CaseNote.case_reference == ref,
                                       CaseNote.id.not_in([n.id for n in state.notes]))
            )
    if data.events:
        await session.execute(
            insert(TimelineEntry)
            .values(
                [
                    {
                        "id": e.id,
                        "case_reference": e.case_reference or state.reference,
                        "occurred_at": e.at,
                        "actor_id": e.actor_id,
                        "actor_name": e.actor_name,
                        "kind": e.kind,
                        "summary": e.summary,
                        "reason": e.reason,
                        "data": e.data,
                    }
                    for e in data.events
                ]
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
    if state.escalated_from:
        await session.execute(
            update(ComplaintCase)
            .where(ComplaintCase.reference == state.escalated_from)
            .values(escalated_to=state.reference)
        )
    return applied


class ProjectionActivities:
    def __init__(self, sessionmaker: async_sessionmaker) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn
    async def project_case(self, data: ProjectCaseInput) -> bool:
        async with self._sessionmaker() as session, session.begin():
            return await write_projection(session, data)
