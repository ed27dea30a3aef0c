"""Writes the PostgreSQL projection of a case and its timeline in one transaction.

Idempotent by construction: the case row carries the workflow's state version and is only
overwritten by a newer one; child rows are upserted by id; timeline events are inserted by id and
ignored when already present. A retried activity or a replayed workflow therefore writes nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from casework.contracts import CaseState, ProjectCaseInput
from casework.db import (
    CaseClarification,
    CaseContribution,
    CaseCorrespondent,
    CaseDocument,
    CaseNote,
    ComplaintCase,
    TimelineEntry,
)
from casework.stages import StagePlan


def case_row(state: CaseState) -> dict:
    plan = StagePlan.from_data(state.case_type.stages)
    return {
        "reference": state.reference,
        "case_type": state.case_type.code,
        "version": state.version,
        "status": state.status.value,
        "stage": state.stage,
        "stage_label": "Closed" if state.status == "closed" else plan.get(state.stage).label,
        "team": state.team,
        "assignee_id": state.assignee_id,
        "assignee_name": state.assignee_name,
        "channel": state.details.channel,
        "category": state.details.category,
        "severity": state.details.severity,
        "description": state.details.description,
        "date_received": state.details.date_received,
        "complainant_name": state.complainant.name,
        "submitted_draft_id": state.submitted_draft_id,
        "drafted_by_id": state.drafted_by_id,
        "approved_by": state.approved_by,
        "sent_channel": state.sent_channel.value if state.sent_channel else None,
        "sent_on": state.sent_on,
        "outcome": state.outcome,
        "outcome_detail": state.outcome_detail,
        "redress_amount": state.redress_amount,
        "close_reason": state.close_reason,
        "close_note": state.close_note,
        "closed_at": state.closed_at,
        "registered_by": state.registered_by,
        "registered_at": state.registered_at,
        "escalated_from": state.escalated_from,
        "updated_at": datetime.now(timezone.utc),
        **clock_columns(state),
    }


def clock_columns(state: CaseState) -> dict:
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
        await _upsert(
            session,
            CaseCorrespondent,
            [{"case_reference": ref, **c.model_dump()} for c in state.correspondents],
        )
        await _upsert(
            session,
            CaseDocument,
            [{"case_reference": ref, **d.model_dump()} for d in state.documents],
        )
        await _upsert(
            session,
            CaseClarification,
            [{"case_reference": ref, **c.model_dump()} for c in state.clarifications],
        )
        await _upsert(
            session,
            CaseContribution,
            [{"case_reference": ref, **c.model_dump()} for c in state.contributions],
        )
        await _upsert(
            session, CaseNote, [{"case_reference": ref, **n.model_dump()} for n in state.notes]
        )
        note_ids = [n.id for n in state.notes]
        if note_ids:
            await session.execute(
                delete(CaseNote).where(CaseNote.case_reference == ref, CaseNote.id.not_in(note_ids))
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
