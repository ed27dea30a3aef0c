"""Customer complaints' (F3) side effects: posting a sales adjustment as a saga of idempotent steps.

- draft: one row per business key (`reference/adjustment/attempt`), so a retried activity, or the
  step replayed after a worker died, finds the draft it made instead of making another;
- post: under the invoice's row lock, refuses an adjustment that would take what is credited on
  the invoice past its total (the invoice may have been corrected since the claim); posting an
  already posted draft answers it as it is;
- void: the compensation of a refused post.
A partial unique index keeps at most one posted adjustment per complaint whatever happens."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

from casework.kinds.customer_complaint.contracts import DraftAdjustmentJob, PostAdjustmentResult, VoidAdjustmentJob
from casework.parties.models import Contract, Invoice
from casework.parties.money import shown
from casework.platform.config import Settings
from casework.tables.customer_complaint import SalesAdjustment


def _result(row: SalesAdjustment, refusal: str | None = None) -> PostAdjustmentResult:
    return PostAdjustmentResult(id=row.id, number=row.number, status=row.status, posted_at=row.posted_at,
                                refusal=refusal)


class AdjustmentActivities:
    def __init__(self, sessionmaker: async_sessionmaker) -> None:
        self._sessions = sessionmaker

    @activity.defn
    async def draft_sales_adjustment(self, job: DraftAdjustmentJob) -> PostAdjustmentResult:
        async with self._sessions() as session, session.begin():
            found = select(SalesAdjustment).where(SalesAdjustment.business_key == job.business_key)
            row = await session.scalar(found)
            if row is not None:  # a retry: the draft made before
                return _result(row)
            number = await session.scalar(text("SELECT 'SA-' || lpad(nextval('sales_adjustment_number_seq')::text,"
                                               " 6, '0')"))
            await session.execute(insert(SalesAdjustment).values(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, job.business_key)), business_key=job.business_key,
                number=number, case_reference=job.case_reference, customer=job.customer, contract=job.contract,
                invoice=job.invoice, amount=job.amount, currency=job.currency, status="draft",
                posted_by=job.posted_by).on_conflict_do_nothing(index_elements=["business_key"]))
            row = await session.scalar(found)
            assert row is not None
            return _result(row)

    @activity.defn
    async def post_sales_adjustment(self, adjustment_id: str) -> PostAdjustmentResult:
        async with self._sessions() as session, session.begin():
            row = await session.get(SalesAdjustment, adjustment_id, with_for_update=True)
            assert row is not None, adjustment_id
            if row.status != "draft":
                return _result(row)  # posted (or voided) already: a retry
            refusal = await self._refusal(session, row)
            if refusal is not None:
                return _result(row, refusal)
            row.status, row.posted_at = "posted", func.now()
            await session.flush()
            await session.refresh(row)
            return _result(row)

    async def _refusal(self, session, row: SalesAdjustment) -> str | None:
        contract = await session.get(Contract, row.contract)
        if contract is None or contract.customer != row.customer:
            return f"contract {row.contract} no longer belongs to customer {row.customer}"
        if row.invoice is None:
            return None
        invoice = await session.get(Invoice, row.invoice, with_for_update=True)  # serialises posts on it
        if invoice is None:
            return f"invoice {row.invoice} no longer exists"
        if invoice.currency != row.currency:
            return f"invoice {row.invoice} is now in {invoice.currency}, not {row.currency}"
        credited = await session.scalar(select(func.coalesce(func.sum(SalesAdjustment.amount), 0)).where(
            SalesAdjustment.invoice == row.invoice, SalesAdjustment.status == "posted"))
        if credited + row.amount > invoice.total:
            return (f"invoice {row.invoice} now totals {shown(invoice.total, invoice.currency)} and "
                    f"{shown(credited, invoice.currency)} is already credited on it: "
                    f"{shown(row.amount, row.currency)} more cannot be")
        return None

    @activity.defn
    async def void_sales_adjustment(self, job: VoidAdjustmentJob) -> bool:
        async with self._sessions() as session, session.begin():
            await session.execute(update(SalesAdjustment).where(
                SalesAdjustment.id == job.id, SalesAdjustment.status == "draft").values(
                status="voided", void_reason=job.reason))
        return True


def activities(sessionmaker: async_sessionmaker, settings: Settings) -> list:
    posting = AdjustmentActivities(sessionmaker)
    return [posting.draft_sales_adjustment, posting.post_sales_adjustment, posting.void_sales_adjustment]
