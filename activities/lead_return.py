"""Lead returns' side effects: the steps of the accept saga, each idempotent by the return's
reference (a retried activity or a restarted worker does nothing twice), each in one transaction.

- claim_return_cap: count the acceptance against the partner's monthly cap, under a per-partner
  lock, so two returns accepted at once cannot both slip under it. Answers why not, or "".
- reset_returned_lead: set the lead's status (with its history row) and reset its billing point,
  answering what it was (or, as the compensation, put it back).
- reverse_returned_lead: reverse every transaction of the lead not yet reversed, all or none, each
  reversal a new ledger row keyed by the return and the transaction.
- release_return_cap: the compensation of the claim.
- link_replacement_lead: record the replacement lead sent for an accepted return (one per return,
  and a lead replaces one return only). Answers why not, or "".
"""

from __future__ import annotations

import zlib
from datetime import date
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.refusals import refused_for_good
from casework.kinds.lead_return.contracts import (
    CapClaim,
    LeadReset,
    LeadSnapshot,
    ReplacementJob,
    ReversalJob,
    ReversalPosted,
)
from casework.parties import ledger
from casework.parties.models import Lead, LeadStatusChange, LeadTransaction
from casework.parties.records import Who
from casework.platform.config import Settings
from casework.tables.lead_return import LeadReturnAcceptance, LeadReturnReplacement

LEAD_GONE = "LeadGone"


def _next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def cap_refusal(claim: CapClaim, accepted: int, referred: int) -> str:
    """Why one more acceptance would break the cap ("" when it would not); `accepted` counts
    those already accepted this month, `referred` the leads referred to the partner this month."""
    cap = claim.cap
    if cap is None:
        return ""
    month = claim.month.strftime("%B %Y")
    if cap.count is not None and accepted + 1 > cap.count:
        return (f"partner {claim.partner} has had {accepted} return(s) accepted in {month}; "
                f"the cap is {cap.count} a month")
    if cap.percent is not None and Decimal(accepted + 1) * 100 > cap.percent * referred:
        return (f"accepting would make {accepted + 1} of the {referred} lead(s) referred to partner "
                f"{claim.partner} in {month} returned; the cap is {cap.percent}%")
    return ""


# Called after the reversals are committed and before the activity answers: a test's crash (the
# worker dying there), after which Temporal runs the activity again.
AfterReversal = Callable[[ReversalJob], None]


class LeadReturnActivities:
    def __init__(self, sessionmaker: async_sessionmaker, *, after_reversal: AfterReversal | None = None) -> None:
        self._sessionmaker = sessionmaker
        self._after_reversal = after_reversal

    @activity.defn
    async def claim_return_cap(self, claim: CapClaim) -> str:
        with refused_for_good(f"lead return {claim.reference}"):
            async with self._sessionmaker() as session, session.begin():
                # One acceptance at a time per partner: the count and the insert see the same month.
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                      {"k": zlib.crc32(f"lead_return_cap:{claim.partner}".encode())})
                if await session.get(LeadReturnAcceptance, claim.reference) is not None:
                    return ""  # a retry: already counted
                why = cap_refusal(claim, *await self._this_month(session, claim))
                if why:
                    return why
                await session.execute(insert(LeadReturnAcceptance).values(
                    reference=claim.reference, partner=claim.partner, lead=claim.lead_id, month=claim.month))
                return ""

    @staticmethod
    async def _this_month(session: AsyncSession, claim: CapClaim) -> tuple[int, int]:
        accepted = await session.scalar(select(func.count()).select_from(LeadReturnAcceptance).where(
            LeadReturnAcceptance.partner == claim.partner, LeadReturnAcceptance.month == claim.month))
        referred = await session.scalar(select(func.count()).select_from(Lead).where(
            Lead.referral_partner == claim.partner, Lead.referred_at >= claim.month,
            Lead.referred_at < _next_month(claim.month)))
        return int(accepted or 0), int(referred or 0)

    @activity.defn
    async def release_return_cap(self, claim: CapClaim) -> bool:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(delete(LeadReturnAcceptance).where(LeadReturnAcceptance.reference == claim.reference))
        return True

    @activity.defn
    async def reset_returned_lead(self, job: LeadReset) -> LeadSnapshot:
        with refused_for_good(f"lead return {job.reference}"):
            async with self._sessionmaker() as session, session.begin():
                lead = await session.scalar(select(Lead).where(Lead.external_id == job.lead_id).with_for_update())
                if lead is None:
                    raise ApplicationError(f"lead {job.lead_id} no longer exists", type=LEAD_GONE, non_retryable=True)
                before = LeadSnapshot(status=lead.status, billing_point=lead.billing_point,
                                      referred_at=lead.referred_at)
                target: dict[str, Any] = ({"status": job.restore.status, "billing_point": job.restore.billing_point}
                                          if job.restore else {"status": job.status or lead.status,
                                                               "billing_point": None})
                if target["status"] != lead.status:
                    await session.execute(insert(LeadStatusChange).values(
                        lead=lead.external_id, from_status=lead.status, to_status=target["status"],
                        changed_by=job.who, changed_by_id=job.who_id))
                await session.execute(update(Lead).where(Lead.external_id == job.lead_id).values(
                    prior_status=lead.status, **target))
                return before

    @activity.defn
    async def reverse_returned_lead(self, job: ReversalJob) -> list[ReversalPosted]:
        posted = await self._reverse(job)
        if self._after_reversal is not None:
            self._after_reversal(job)
        return posted

    @activity.defn
    async def link_replacement_lead(self, job: ReplacementJob) -> str:
        with refused_for_good(f"lead return {job.reference}"):
            async with self._sessionmaker() as session, session.begin():
                linked = await session.get(LeadReturnReplacement, job.reference)
                if linked is not None:  # a retry answers as the first time; another lead is refused
                    return "" if linked.lead == job.lead_id else f"lead {linked.lead} was already sent"
                lead = await session.scalar(select(Lead).where(Lead.external_id == job.lead_id))
                why = replacement_refusal(job, lead)
                if why:
                    return why
                taken = await session.scalar(pg_insert(LeadReturnReplacement).values(
                    reference=job.reference, lead=job.lead_id, returned_lead=job.returned_lead, partner=job.partner,
                    linked_by=job.who).on_conflict_do_nothing().returning(LeadReturnReplacement.reference))
                if taken is None:
                    other = await session.scalar(select(LeadReturnReplacement.reference)
                                                 .where(LeadReturnReplacement.lead == job.lead_id))
                    return f"lead {job.lead_id} already replaces the lead of return {other}"
                return ""

    async def _reverse(self, job: ReversalJob) -> list[ReversalPosted]:
        who = Who(name=job.who, user_id=job.who_id)
        with refused_for_good(f"lead return {job.reference}"):
            async with self._sessionmaker() as session, session.begin():
                rows = await ledger.transactions(session, job.lead_id)
                reversed_ids = {r.reverses for r in rows if r.reverses is not None}
                posted = []
                for row in sorted(rows, key=lambda r: (r.posted_at, r.id)):
                    mine = f"lead_return:{job.reference}:{row.id}"
                    if row.reverses is not None:
                        continue
                    if row.id in reversed_ids and not any(r.idempotency_key == mine for r in rows):
                        continue  # reversed before, by someone else
                    done = await ledger.reverse(session, job.lead_id, row.id, job.reason, who, mine)
                    assert done is not None
                    reversal: LeadTransaction = done[0]
                    posted.append(ReversalPosted(id=reversal.id, reverses=row.id, kind=reversal.kind,
                                                 amount=reversal.amount, currency=reversal.currency))
                return posted


def replacement_refusal(job: ReplacementJob, lead: Lead | None) -> str:
    """Why `lead` cannot replace the returned lead ("" when it can)."""
    if lead is None:
        return f"there is no lead {job.lead_id}"
    if lead.external_id == job.returned_lead:
        return f"lead {job.lead_id} is the returned lead itself"
    if lead.lead_group != job.lead_group:
        return (f"lead {job.lead_id} is of lead group {lead.lead_group or '(none)'}; the replacement must be "
                f"of the returned lead's group, {job.lead_group or '(none)'}")
    if lead.referral_partner != job.partner:
        return f"lead {job.lead_id} is not referred to partner {job.partner}: refer it to them first"
    return ""


def activities(sessionmaker: async_sessionmaker, settings: Settings, *,
               after_reversal: AfterReversal | None = None) -> list:
    acts = LeadReturnActivities(sessionmaker, after_reversal=after_reversal)
    return [acts.claim_return_cap, acts.release_return_cap, acts.reset_returned_lead, acts.reverse_returned_lead,
            acts.link_replacement_lead]
