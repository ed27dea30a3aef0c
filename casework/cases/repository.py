"""Reads of the case projection and reservations of identity. Callers own the transaction;
functions here only execute and flush. A missing row is None; the route turns it into 404."""

from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace

import psycopg
from sqlalchemy import ColumnElement, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from casework.cases.collections import collection, load_kind
from casework.cases.contracts import CaseCore, state_type
from casework.cases.stages import StagePlan
from casework.platform.db import (
    AppUser,
    CaseDocument,
    CaseRecord,
    CaseType,
    Escalation,
    Team,
    TeamMember,
    TimelineEntry,
)

# What the case row keeps of an unconfirmed email (what a person needs to check it).
UNCONFIRMED_COLUMNS = {"id", "purpose", "channel", "recipient", "message_id", "sent_at", "task_id"}


def case_row(state: CaseCore) -> dict:
    """The case's row: the core columns every kind has, and its kind's details."""
    plan = StagePlan.from_data(state.case_type.stages)
    return {
        "reference": state.reference,
        "kind": state.kind,
        "case_type": state.case_type.code,
        "version": state.version,
        "status": state.status.value,
        "stage": state.stage,
        "stage_label": "Closed" if state.status == "closed" else plan.get(state.stage).label,
        "team": state.team,
        "assignee_id": state.assignee_id,
        "assignee_name": state.assignee_name,
        "date_received": state.date_received,
        "complainant_name": state.complainant.name,
        **state.detail_columns(),
        "details": state.kind_details(),
        "close_reason": state.close_reason,
        "close_note": state.close_note,
        "closed_at": state.closed_at,
        "registered_by": state.registered_by,
        "registered_at": state.registered_at,
        "escalated_from": state.escalated_from,
        "unconfirmed_deliveries": [d.model_dump(mode="json", include=UNCONFIRMED_COLUMNS)
                                   for d in state.unconfirmed_deliveries],
        "updated_at": datetime.now(timezone.utc),
        **clock_columns(state),
    }


def clock_columns(state: CaseCore) -> dict:
    clock = state.clock
    if clock is None:
        return {}
    return {
        "deadline": clock.deadline,
        "deadline_warning_on": clock.warning_on,
        "acknowledgement_due": clock.acknowledgement_due,
        "deadline_policy": clock.policy.name,
        "calendar_region": clock.policy.region.value,
        "deadline_explanation": clock.explanation,
        "deadline_warned": clock.warned_for is not None,
        "overdue": clock.overdue,
        "overdue_since": clock.overdue_since,
        "escalated_to_manager": clock.escalated_to,
        "clock_paused": clock.open_pause is not None,
        "deadline_met": clock.deadline_met,
        "stage_deadlines": {kind: day.isoformat() for kind, day in clock.stage_deadlines.items()},
        "clock_pauses": [p.model_dump(mode="json") for p in clock.pauses],
        "deadline_extensions": [e.model_dump(mode="json") for e in clock.extensions],
    }


# The next number for a prefix and year, counted under the counter row's lock (an upsert). `source`
# is what the INSERT takes its row from.
_COUNT = ("INSERT INTO reference_counter AS counter (prefix, year, last_value) {source}"
          " ON CONFLICT (prefix, year) DO UPDATE SET last_value = counter.last_value + 1 RETURNING last_value")
# A counted number as a reference, COMP/000042/26: at least six digits, the year's last two.
_REFERENCE = ("%(prefix)s::varchar || '/' || lpad(last_value::text, greatest(6, length(last_value::text)), '0')"
              " || '/' || lpad((%(year)s::int %% 100)::text, 2, '0')")
_NEXT_REFERENCE = (f"WITH counted AS ({_COUNT.format(source='VALUES (%(prefix)s::varchar, %(year)s::int, 1)')})"
                   f" SELECT {_REFERENCE} FROM counted")
# Registration's reference for an Idempotency-Key in one statement: the one reserved before, or a
# newly counted one reserved now. Empty if a concurrent request with the key won the race.
_REGISTERED = "SELECT reference FROM case_registration WHERE idempotency_key = %(key)s"
_RESERVE_REGISTRATION = (
    f"WITH existing AS ({_REGISTERED}),"
    " counted AS (" + _COUNT.format(source="SELECT %(prefix)s::varchar, %(year)s::int, 1"
                                    " WHERE NOT EXISTS (SELECT FROM existing)") + "),"
    " reserved AS (INSERT INTO case_registration (idempotency_key, reference)"
    f" SELECT %(key)s, {_REFERENCE} FROM counted ON CONFLICT (idempotency_key) DO NOTHING RETURNING reference)"
    " SELECT reference FROM existing UNION ALL SELECT reference FROM reserved"
)


async def next_reference(session: AsyncSession, prefix: str, today: date) -> str:
    """Allocate the next number for prefix+year atomically, in the session's transaction."""
    result = await (await session.connection()).exec_driver_sql(
        _NEXT_REFERENCE, {"prefix": prefix, "year": today.year})
    return result.scalar_one()


async def reserve_registration(conn: psycopg.AsyncConnection, idempotency_key: str, prefix: str,
                               today: date) -> str:
    """The reference for this Idempotency-Key: the one reserved before, or a new one. On a
    psycopg connection in autocommit (``casework.platform.db.driver_connection``): one prepared statement,
    atomic on its own, where it had been five round trips through the ORM."""
    parameters = {"key": idempotency_key, "prefix": prefix, "year": today.year}
    row = await (await conn.execute(_RESERVE_REGISTRATION, parameters, prepare=True)).fetchone()
    if row is None:  # a concurrent request with the same key reserved it first
        row = await (await conn.execute(_REGISTERED, {"key": idempotency_key})).fetchone()
    if row is None:
        raise LookupError(f"no reservation for idempotency key {idempotency_key}")
    return row[0]


async def release_registration(conn: psycopg.AsyncConnection, idempotency_key: str, reference: str) -> None:
    """Forget the reservation of a registration the workflow refused (nothing was registered), so
    no reference is left reserved for a case that does not exist."""
    await conn.execute("DELETE FROM case_registration WHERE idempotency_key = %(key)s"
                       " AND reference = %(reference)s", {"key": idempotency_key, "reference": reference})


async def reserve_escalation(
    session: AsyncSession, original: str, prefix: str, today: date
) -> tuple[str, bool]:
    """The stage-2 reference for a case: (reference, newly_reserved)."""
    existing = await session.scalar(
        select(Escalation.escalated_reference).where(Escalation.original_reference == original)
    )
    if existing:
        return existing, False
    reference = await next_reference(session, prefix, today)
    result = await session.execute(
        insert(Escalation)
        .values(original_reference=original, escalated_reference=reference)
        .on_conflict_do_nothing(index_elements=["original_reference"])
        .returning(Escalation.escalated_reference)
    )
    if result.first() is None:
        existing = await session.scalar(
            select(Escalation.escalated_reference).where(Escalation.original_reference == original)
        )
        if existing is None:
            raise LookupError(f"case {original} has an escalation reserved and none recorded")
        return existing, False
    return reference, True


async def get_case(session: AsyncSession, reference: str) -> CaseRecord | None:
    return await session.get(CaseRecord, reference)


async def get_case_type(session: AsyncSession, code: str) -> CaseType | None:
    return await session.get(CaseType, code)


async def get_case_type_by_prefix(session: AsyncSession, prefix: str) -> CaseType | None:
    """The type whose references start with `prefix` (a case keeps its reference when re-typed,
    and types change only within a kind, so the prefix tells a case's kind)."""
    return await session.scalar(select(CaseType).where(CaseType.reference_prefix == prefix))


async def get_team(session: AsyncSession, code: str) -> Team | None:
    return await session.get(Team, code)


async def get_user_by_username(session: AsyncSession, username: str) -> AppUser | None:
    return await session.scalar(select(AppUser).where(AppUser.username == username))


async def is_team_member(session: AsyncSession, team: str, user_id: int) -> bool:
    found = await session.scalar(
        select(TeamMember.user_id).where(TeamMember.team_code == team, TeamMember.user_id == user_id)
    )
    return found is not None


async def case_children(session: AsyncSession, reference: str, kind: str = "complaint") -> dict[str, list]:
    """Every child collection of a case of `kind` (the engine's and the kind's), each in its order,
    as rows by column name."""
    load_kind(kind)
    children = {}
    for name in state_type(kind).COLLECTIONS:
        found = collection(name)
        stmt = (select(found.table).where(found.table.c.case_reference == reference)
                .order_by(text(found.order_by), found.table.c.id))
        children[name] = [SimpleNamespace(**row) for row in (await session.execute(stmt)).mappings()]
    return children


async def timeline(session: AsyncSession, reference: str, limit: int, offset: int) -> list[TimelineEntry]:
    stmt = (
        select(TimelineEntry)
        .where(TimelineEntry.case_reference == reference)
        .order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.seq.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(stmt)).all())


async def claim_uploads(session: AsyncSession, upload_ids: list[str], user_id: int,
                        also_on_case: str | None = None) -> list[CaseDocument]:
    """Documents with these ids (in request order) that `user_id` uploaded and nobody has attached
    yet; with ``also_on_case``, documents already attached to that case count too."""
    if not upload_ids:
        return []
    unattached: ColumnElement[bool] = CaseDocument.case_reference.is_(None) & (
        CaseDocument.uploaded_by_id == user_id)
    if also_on_case is not None:
        unattached = unattached | (CaseDocument.case_reference == also_on_case)
    rows = (
        await session.scalars(
            select(CaseDocument).where(CaseDocument.id.in_(upload_ids), unattached)
        )
    ).all()
    found = {row.id: row for row in rows}
    return [found[i] for i in upload_ids if i in found]


