"""The activity history of a lead or a customer: one timeline, newest first, of what happened on
every case about it (the cases' own timelines, those the reader may see) and on the record itself
(a lead's status changes, its transactions posted and reversed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from casework.parties.models import CaseParty, LeadStatusChange, LeadTransaction
from casework.parties.money import shown
from casework.platform.db import CaseRecord, TimelineEntry


@dataclass(frozen=True)
class Activity:
    occurred_at: datetime
    order: int  # ties within one source: the later written first
    who: str
    kind: str
    what: str
    reason: str | None = None
    case_reference: str | None = None
    who_id: int | None = None  # the user, where known (None: a system, or not recorded)


async def history(session: AsyncSession, party_type: str, external_id: str, visible: ColumnElement[bool],
                  limit: int, offset: int, events: ColumnElement[bool] | None = None) -> list[Activity]:
    """A page of the record's activities, newest first. `visible`: the cases the reader may see
    (casework.cases.visibility.visible_cases); `events`: which of their timeline events (all when
    None). Each source is read to the end of the page, newest first, and the sources merged."""
    wanted = offset + limit
    found = await _case_events(session, party_type, external_id, visible if events is None else and_(visible, events),
                               wanted)
    if party_type == "lead":
        found += await _status_changes(session, external_id, wanted)
        found += await _transactions(session, external_id, wanted)
    found.sort(key=lambda a: (a.occurred_at, a.order), reverse=True)
    return found[offset:wanted]


async def _case_events(session: AsyncSession, party_type: str, external_id: str, visible: ColumnElement[bool],
                       wanted: int) -> list[Activity]:
    about = exists().where(CaseParty.case_reference == TimelineEntry.case_reference,
                           CaseParty.party_type == party_type, CaseParty.external_id == external_id)
    stmt = (select(TimelineEntry).join(CaseRecord, CaseRecord.reference == TimelineEntry.case_reference)
            .where(about, visible)
            .order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.seq.desc()).limit(wanted))
    return [Activity(e.occurred_at, e.seq, e.actor_name, e.kind, e.summary, e.reason, e.case_reference, e.actor_id)
            for e in (await session.scalars(stmt)).all()]


async def _status_changes(session: AsyncSession, lead: str, wanted: int) -> list[Activity]:
    stmt = (select(LeadStatusChange).where(LeadStatusChange.lead == lead)
            .order_by(LeadStatusChange.id.desc()).limit(wanted))
    return [Activity(c.changed_at, c.id, c.changed_by, "lead_status_changed",
                     f"Status set to {c.to_status}" if c.from_status is None
                     else f"Status changed from {c.from_status} to {c.to_status}", who_id=c.changed_by_id)
            for c in (await session.scalars(stmt)).all()]


async def _transactions(session: AsyncSession, lead: str, wanted: int) -> list[Activity]:
    stmt = (select(LeadTransaction).where(LeadTransaction.lead == lead)
            .order_by(LeadTransaction.posted_at.desc()).limit(wanted))
    found = []
    for t in (await session.scalars(stmt)).all():
        if t.reverses is None:
            found.append(Activity(t.posted_at, 0, t.posted_by, "transaction_posted",
                                  f"{t.kind} of {shown(t.amount, t.currency)} posted for partner {t.partner}",
                                  t.note, who_id=t.posted_by_id))
        else:
            found.append(Activity(t.posted_at, 0, t.posted_by, "transaction_reversed",
                                  f"{t.kind} {t.reverses} reversed ({shown(t.amount, t.currency)})", t.note,
                                  who_id=t.posted_by_id))
    return found
