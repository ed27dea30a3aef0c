"""Writes the PostgreSQL projection of a case and its timeline in one transaction.

Idempotent by construction: the case row carries the workflow's state version and is only
overwritten by a newer one; child rows are upserted by id; timeline events are inserted by id and
ignored when already present. A retried activity or a replayed workflow therefore writes nothing twice.

Every step runs this, so it is built for speed (see BENCHMARKS.md): the statements are Core
statements built once per column set and executed with parameters (SQLAlchemy compiles each once
and reuses it), and rows of a table go in one executemany, which psycopg pipelines.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
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

CASES: Table = ComplaintCase.__table__
NOTES: Table = CaseNote.__table__
CHILD_TABLES: dict[str, Table] = {
    "correspondents": CaseCorrespondent.__table__,
    "documents": CaseDocument.__table__,
    "clarifications": CaseClarification.__table__,
    "contributions": CaseContribution.__table__,
    "notes": NOTES,
}

INSERT_EVENTS = insert(TimelineEntry.__table__).on_conflict_do_nothing(index_elements=["id"])
DELETE_REMOVED_NOTES = delete(NOTES).where(
    NOTES.c.case_reference == bindparam("ref"), NOTES.c.id.not_in(bindparam("keep", expanding=True)))
LINK_ESCALATION = (update(CASES).where(CASES.c.reference == bindparam("original"))
                   .values(escalated_to=bindparam("escalated_to")))


@cache
def _upsert_case(columns: tuple[str, ...]):
    """Insert or overwrite the case row, but only with a newer version (RETURNING says which)."""
    stmt = insert(CASES)
    return stmt.on_conflict_do_update(
        index_elements=["reference"],
        set_={c: stmt.excluded[c] for c in columns if c != "reference"},
        where=CASES.c.version < stmt.excluded.version,
    ).returning(CASES.c.reference)


@cache
def _upsert_children(table_name: str, columns: tuple[str, ...]):
    table = next(t for t in CHILD_TABLES.values() if t.name == table_name)
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=["id"],
                                      set_={c: stmt.excluded[c] for c in columns if c != "id"})


async def write_projection(conn: AsyncConnection, data: ProjectCaseInput) -> bool:
    """Apply one projection. Returns False when a newer version is already stored."""
    state = data.state
    row = case_row(state)
    applied = (await conn.execute(_upsert_case(tuple(row)), row)).first() is not None

    if applied:
        ref = state.reference
        changed = CASE_COLLECTIONS if data.collections is None else data.collections
        for name in changed:
            items = getattr(state, name)
            if not items:
                continue
            rows = [{"case_reference": ref, **item.model_dump()} for item in items]
            await conn.execute(_upsert_children(CHILD_TABLES[name].name, tuple(rows[0])), rows)
        if "notes" in changed and state.notes:
            await conn.execute(DELETE_REMOVED_NOTES, {"ref": ref, "keep": [n.id for n in state.notes]})
    if data.events:
        await conn.execute(INSERT_EVENTS, [
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
        ])
    if state.escalated_from and data.collections is None:
        # The first projection of a stage-2 case links the original back to it.
        await conn.execute(LINK_ESCALATION, {"original": state.escalated_from, "escalated_to": state.reference})
    return applied


class ProjectionActivities:
    def __init__(self, sessionmaker: async_sessionmaker) -> None:
        self._engine = sessionmaker.kw["bind"]

    @activity.defn
    async def project_case(self, data: ProjectCaseInput) -> bool:
        async with self._engine.begin() as conn:
            return await write_projection(conn, data)
