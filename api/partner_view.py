"""What a partner's user sees of a case about one of its leads: the narrow view.

Staff see a case whole. A user of a partner organisation (casework.cases.visibility: only the
cases about its own leads) sees what the partner is told anyway: the case's status, stage, dates,
the decision and its reason, and the comments meant for the partner (a return's decision notes,
which are emailed to it). Never internal notes, tasks, documents, correspondents, allocation,
contributions, or the names of staff: someone on the staff side is shown as "Staff", the case
itself as "Casework"; the partner's own users keep their names.

Each kind says which of its details and which of its timeline events a partner sees
(`KindRules.partner_details`, `KindRules.partner_events`); the engine's registration, stage
changes and closure are every kind's. The filter is in SQL, so a partner's pages are full pages.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas.cases import CaseRead
from casework.cases.stages import every_kind_rules, rules_of
from casework.cases.visibility import Viewer
from casework.parties.models import PartnerMember
from casework.platform.db import CaseRecord, TimelineEntry

STAFF = "Staff"
CASEWORK = "Casework"  # the case itself (a timer, an automatic rule)
ENGINE_EVENTS = frozenset({"registered", "stage_changed", "closed"})
# A case read's fields a partner is not shown: emptied (lists), or None.
HIDDEN_LISTS = ("allowed_actions", "unconfirmed_deliveries", "correspondents", "documents", "clarifications",
                "contributions", "notes", "tasks", "paused_intervals", "extensions")
HIDDEN_FIELDS = ("team", "assignee_id", "assignee_name", "outcome_detail", "redress_amount", "close_note",
                 "escalated_from", "escalated_to", "submitted_draft_id", "approved_by", "escalated_to_manager",
                 "temporal_ui_url", "description")


async def partner_users(session: AsyncSession, viewer: Viewer) -> frozenset[int]:
    """The users of the viewer's partner organisations: their names are shown to one another."""
    if viewer.partners is None:
        return frozenset()
    rows = await session.scalars(select(PartnerMember.user_id)
                                 .where(PartnerMember.partner.in_(sorted(viewer.partners))))
    return frozenset(rows.all())


def who(actor_id: int | None, name: str, colleagues: frozenset[int]) -> str:
    if actor_id is not None and actor_id in colleagues:
        return name
    return CASEWORK if not actor_id else STAFF


def partner_events() -> ColumnElement[bool]:
    """The timeline events a partner sees (a WHERE on timeline_entry joined to case_record)."""
    return or_(TimelineEntry.kind.in_(sorted(ENGINE_EVENTS)), *(
        and_(CaseRecord.kind == rules.kind, TimelineEntry.kind.in_(sorted(rules.partner_events)))
        for rules in every_kind_rules() if rules.partner_events))


def timeline_entry(entry: TimelineEntry, colleagues: frozenset[int]) -> dict[str, Any]:
    """A timeline event as a partner reads it: who as above, no data (recipients, ids, staff)."""
    return {"id": entry.id, "occurred_at": entry.occurred_at, "kind": entry.kind, "summary": entry.summary,
            "actor_name": who(entry.actor_id, entry.actor_name, colleagues),
            "reason": entry.reason if entry.kind not in ENGINE_EVENTS else None, "data": {}}


def case_read(read: CaseRead, registered_by_id: int | None, colleagues: frozenset[int]) -> CaseRead:
    shown = rules_of(read.kind).partner_details
    update: dict[str, Any] = {name: [] for name in HIDDEN_LISTS}
    update |= dict.fromkeys(HIDDEN_FIELDS)
    update |= {"details": {k: v for k, v in read.details.items() if k in shown},
               "registered_by": who(registered_by_id, read.registered_by, colleagues)}
    return read.model_copy(update=update)


async def registered_by_id(session: AsyncSession, reference: str) -> int | None:
    """Who registered the case, by id (the case row keeps only the name): its first event's actor."""
    return await session.scalar(select(TimelineEntry.actor_id).where(TimelineEntry.case_reference == reference)
                                .order_by(TimelineEntry.seq).limit(1))



async def timeline(session: AsyncSession, reference: str, colleagues: frozenset[int], limit: int,
                   offset: int) -> list[dict[str, Any]]:
    """A case's timeline as a partner reads it, newest first, paged over what it may see."""
    stmt = (select(TimelineEntry).join(CaseRecord, CaseRecord.reference == TimelineEntry.case_reference)
            .where(TimelineEntry.case_reference == reference, partner_events())
            .order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.seq.desc()).limit(limit).offset(offset))
    return [timeline_entry(e, colleagues) for e in (await session.scalars(stmt)).all()]


async def shown_to(session: AsyncSession, viewer: Viewer, read: CaseRead) -> CaseRead:
    """The case as this viewer may read it: whole for staff, the narrow view for a partner's user."""
    if viewer.partners is None:
        return read
    return case_read(read, await registered_by_id(session, read.reference), await partner_users(session, viewer))
