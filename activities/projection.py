"""Writes the PostgreSQL projection of a case and its timeline: one statement, one round trip.

Idempotent by construction: the case row carries the workflow's state version and is only
overwritten by a newer one; child rows are upserted by id; timeline events are inserted by id and
ignored when already present. A retried activity or a replayed workflow therefore writes nothing twice.

Every step runs this, so it is built for speed (see docs/performance.md). The case row, the child rows
that changed and the new events travel as JSON parameters into a single statement whose parts
are data-modifying CTEs: PostgreSQL runs it atomically on its own, so there is no BEGIN/COMMIT, and
one round trip replaces five. The SQL for each shape of projection (which columns, which
collections) is built once from the SQLAlchemy tables and cached.
"""

from __future__ import annotations

from functools import cache

from pydantic_core import to_json
from sqlalchemy import String, Table
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from temporalio import activity

from activities.refusals import refused_for_good
from casework.cases.collections import collection, load_kind
from casework.cases.jobs import ProjectCaseInput
from casework.cases.repository import case_row
from casework.platform.db import CaseRecord, TimelineEntry, driver_connection, table_of

CASES = table_of(CaseRecord)
EVENTS = table_of(TimelineEntry)


EVENT_COLUMNS = ("id", "case_reference", "occurred_at", "actor_id", "actor_name", "kind", "summary",
                 "reason", "data")


def _rows_from(table: Table, columns: tuple[str, ...], parameter: str, *, many: bool) -> str:
    """SELECT the given columns, typed as the table's, out of a JSON parameter."""
    function = "jsonb_populate_recordset" if many else "jsonb_populate_record"
    listed = ", ".join(columns)
    return f"SELECT {listed} FROM {function}(NULL::{table.name}, %({parameter})s::jsonb)"


def _upsert(table: Table, columns: tuple[str, ...], parameter: str, key: str, *, many: bool,
            only_if: str = "") -> str:
    listed = ", ".join(columns)
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return (f"INSERT INTO {table.name} ({listed}) {_rows_from(table, columns, parameter, many=many)} {only_if}"
            f" ON CONFLICT ({key}) DO UPDATE SET {assignments}")


@cache
def projection_sql(case_columns: tuple[str, ...],
                   children: tuple[tuple[str, tuple[str, ...]], ...],
                   prune_notes: bool, events: bool, link_escalation: bool) -> str:
    """The whole projection as one statement. Child rows, pruned notes and the escalation link
    are written only if the case row was (a newer version); events are inserted regardless,
    because they are facts keyed by id and a late retry must still be able to add them."""
    applied = "WHERE EXISTS (SELECT FROM projected)"
    parts = [f"projected AS ({_upsert(CASES, case_columns, 'case', 'reference', many=False)}"
             f" WHERE {CASES.name}.version < excluded.version RETURNING reference)"]
    for n, (name, columns) in enumerate(children):
        table = collection(name).table
        parts.append(f"child_{n} AS ({_upsert(table, columns, name, 'id', many=True, only_if=applied)})")
    if prune_notes:
        parts.append(f"pruned AS (DELETE FROM {collection('notes').table.name} WHERE case_reference = %(reference)s"
                     f" AND NOT (id = ANY(%(kept_notes)s)) AND EXISTS (SELECT FROM projected))")
    if events:
        parts.append(f"events AS (INSERT INTO {EVENTS.name} ({', '.join(EVENT_COLUMNS)}) "
                     f"{_rows_from(EVENTS, EVENT_COLUMNS, 'events', many=True)} ON CONFLICT (id) DO NOTHING)")
    if link_escalation:
        parts.append(f"linked AS (UPDATE {CASES.name} SET escalated_to = %(reference)s"
                     f" WHERE reference = %(escalated_from)s)")
    return "WITH " + ",\n".join(parts) + "\nSELECT count(*) FROM projected"


def projection_statement(data: ProjectCaseInput) -> tuple[str, dict[str, object]]:
    state = data.state
    load_kind(state.kind)
    row = case_row(state)
    ref = state.reference
    params: dict[str, object] = {"case": to_json(row).decode(), "reference": ref}
    children = []
    changed = type(state).COLLECTIONS if data.collections is None else data.collections
    for name in changed:
        items = getattr(state, name)
        if items:
            rows = [{"case_reference": ref, **item.model_dump()} for item in items]
            children.append((name, tuple(rows[0])))
            params[name] = to_json(rows).decode()
    prune_notes = "notes" in changed and bool(state.notes)
    if prune_notes:
        params["kept_notes"] = [n.id for n in state.notes]
    if data.events:
        params["events"] = to_json([
            {"id": e.id, "case_reference": e.case_reference or ref, "occurred_at": e.at,
             "actor_id": e.actor_id, "actor_name": e.actor_name, "kind": e.kind, "summary": e.summary,
             "reason": e.reason, "data": e.data}
            for e in data.events]).decode()
    # The first projection of a stage-2 case links the original back to it.
    link = bool(state.escalated_from) and data.collections is None
    if link:
        params["escalated_from"] = state.escalated_from
    sql = projection_sql(tuple(row), tuple(children), prune_notes, bool(data.events), link)
    return sql, params


def _unstorable(value: object, length: int | None) -> bool:
    if isinstance(value, str):
        return "\x00" in value or (length is not None and len(value) > length) or any(
            "\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, (list, tuple)):
        return any(_unstorable(v, None) for v in value)
    if isinstance(value, dict):
        return any(_unstorable(k, None) or _unstorable(v, None) for k, v in value.items())
    return False


def _offending(table: Table, row: dict[str, object]) -> str | None:
    for name, value in row.items():
        column = table.columns.get(name)
        length = column.type.length if column is not None and isinstance(column.type, String) else None
        if _unstorable(value, length):
            return name
    return None


def offending_field(data: ProjectCaseInput) -> str | None:
    """The first field of the projection PostgreSQL cannot store (too long for its column, a NUL,
    a lone surrogate), as ``column`` or ``collection.column``; None if none is found."""
    state = data.state
    load_kind(state.kind)
    found = _offending(CASES, case_row(state))
    if found:
        return found
    for name in type(state).COLLECTIONS:
        for item in getattr(state, name):
            found = _offending(collection(name).table, item.model_dump())
            if found:
                return f"{name}.{found}"
    for event in data.events:
        if _unstorable(event.summary, None) or _unstorable(event.reason, None) or _unstorable(event.data, None):
            return "reason" if _unstorable(event.reason, None) else "event"
    return None


async def write_projection(engine: AsyncEngine, data: ProjectCaseInput) -> bool:
    """Apply one projection. Returns False when a newer version is already stored. Data PostgreSQL
    refuses for good raises a non-retryable DATA_REFUSED error naming the field (activities.refusals)."""
    with refused_for_good(f"case {data.state.reference}", lambda: offending_field(data)):
        sql, params = projection_statement(data)
        # One statement is its own transaction (autocommit: no BEGIN and COMMIT round trips), and a
        # prepared one: PostgreSQL plans it once per connection instead of on every step (0.9 -> 0.5
        # ms of its CPU).
        async with driver_connection(engine) as conn, conn.cursor() as cursor:
            await cursor.execute(sql, params, prepare=True)
            written = await cursor.fetchone()
            return written is not None and written[0] > 0


class ProjectionActivities:
    def __init__(self, sessionmaker: async_sessionmaker) -> None:
        self._engine: AsyncEngine = sessionmaker.kw["bind"]

    @activity.defn
    async def project_case(self, data: ProjectCaseInput) -> bool:
        return await write_projection(self._engine, data)
