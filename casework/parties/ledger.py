"""The ledger of a lead: fees and commissions posted, and their reversals. Append-only (the table's
trigger refuses UPDATE and DELETE): a reversal is a new row with the opposite amount, naming the
row it reverses, and a row is reversed at most once (a unique index). Balances are per currency.
Callers own the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casework.parties.models import LeadTransaction
from casework.parties.records import Who, unknown_reference
from casework.platform.db import table_of

TRANSACTIONS = table_of(LeadTransaction)
_REVERSED_ONCE = "lead_transaction_reverses_key"  # the unique index on `reverses`


class LedgerConflict(Exception):
    """The step is not allowed now (a second reversal, reversing a reversal): 409."""


class KeyReused(Exception):
    """An Idempotency-Key sent again with a different request."""


@dataclass(frozen=True)
class Posting:
    partner: str
    kind: str
    amount: Decimal
    currency: str
    note: str | None = None


async def _by_key(session: AsyncSession, lead: str, key: str) -> LeadTransaction | None:
    return await session.scalar(select(LeadTransaction).where(LeadTransaction.lead == lead,
                                                              LeadTransaction.idempotency_key == key))


async def _insert(session: AsyncSession, values: dict, key: str | None) -> LeadTransaction | None:
    """Insert the row; None when a concurrent request with the same key inserted one first."""
    stmt = insert(TRANSACTIONS).values(id=str(uuid.uuid4()), idempotency_key=key, **values)
    stmt = stmt.on_conflict_do_nothing(index_elements=["lead", "idempotency_key"],
                                       index_where=text("idempotency_key IS NOT NULL"))
    async with session.begin_nested():
        row_id = (await session.execute(stmt.returning(TRANSACTIONS.c.id))).scalar_one_or_none()
    return None if row_id is None else await session.get(LeadTransaction, row_id)


async def post(session: AsyncSession, lead: str, posting: Posting, who: Who,
               key: str | None) -> tuple[LeadTransaction, bool]:
    """Post a transaction on the lead: (the row, True) or, for a retried key, (its row, False).
    Raises UnknownReference for a partner that does not exist, KeyReused for a key sent before with
    another posting."""
    values = {"lead": lead, "partner": posting.partner, "kind": posting.kind, "amount": posting.amount,
              "currency": posting.currency, "note": posting.note, "posted_by": who.name, "posted_by_id": who.user_id}
    if key is not None:
        found = await _by_key(session, lead, key)
        if found is not None:
            return _same_posting(found, posting), False
    try:
        row = await _insert(session, values, key)
    except IntegrityError as exc:
        refused = unknown_reference(exc, values)
        if refused is None:
            raise
        raise refused from exc
    if row is None:
        assert key is not None  # only a keyed insert can meet a conflict
        found = await _by_key(session, lead, key)
        assert found is not None
        return _same_posting(found, posting), False
    return row, True


def _same_posting(row: LeadTransaction, posting: Posting) -> LeadTransaction:
    if (row.reverses is not None or row.partner != posting.partner or row.kind != posting.kind
            or row.amount != posting.amount or row.currency != posting.currency):
        raise KeyReused("this Idempotency-Key was used for another transaction on the lead")
    return row


async def reverse(session: AsyncSession, lead: str, transaction_id: str, reason: str, who: Who,
                  key: str | None) -> tuple[LeadTransaction, bool] | None:
    """Reverse a transaction of the lead with a new row: (the reversal, True), or for a retried key
    (its reversal, False). None when the lead has no such transaction. Raises LedgerConflict for a
    reversal or a transaction already reversed."""
    if key is not None:
        found = await _by_key(session, lead, key)
        if found is not None:
            if found.reverses != transaction_id:
                raise KeyReused("this Idempotency-Key was used for another transaction on the lead")
            return found, False
    original = await session.scalar(select(LeadTransaction).where(LeadTransaction.id == transaction_id,
                                                                  LeadTransaction.lead == lead))
    if original is None:
        return None
    if original.reverses is not None:
        raise LedgerConflict(f"transaction {transaction_id} is itself a reversal (of {original.reverses}); "
                             "it cannot be reversed")
    values = {"lead": lead, "partner": original.partner, "kind": original.kind, "amount": -original.amount,
              "currency": original.currency, "note": reason, "reverses": original.id,
              "posted_by": who.name, "posted_by_id": who.user_id}
    try:
        row = await _insert(session, values, key)
    except IntegrityError as exc:
        if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) != _REVERSED_ONCE:
            raise
        by = await session.scalar(select(LeadTransaction.id).where(LeadTransaction.reverses == transaction_id))
        raise LedgerConflict(f"transaction {transaction_id} is already reversed (by {by})") from exc
    if row is None:
        assert key is not None
        found = await _by_key(session, lead, key)
        assert found is not None
        return found, False
    return row, True


async def transactions(session: AsyncSession, lead: str) -> list[LeadTransaction]:
    stmt = (select(LeadTransaction).where(LeadTransaction.lead == lead)
            .order_by(LeadTransaction.posted_at.desc(), LeadTransaction.id))
    return list((await session.scalars(stmt)).all())


async def balances(session: AsyncSession, lead: str) -> list[tuple[str, Decimal]]:
    """The lead's balance in each currency it has transactions in (never one sum across them)."""
    stmt = (select(LeadTransaction.currency, func.sum(LeadTransaction.amount))
            .where(LeadTransaction.lead == lead).group_by(LeadTransaction.currency)
            .order_by(LeadTransaction.currency))
    return [(currency, total) for currency, total in (await session.execute(stmt)).all()]
