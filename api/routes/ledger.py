"""The ledger of a lead: transactions posted (referral fees, introducer commissions...) and their
reversals, and the lead's balance per currency. Append-only: a reversal is a new row."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from api import errors
from api.deps import IdempotencyKey, SessionDep, ViewerDep
from api.routes.parties import ExternalIdPath, LeadReader, Poster, Reverser, found, refused, who
from api.schemas.parties import LedgerRead, TransactionPost, TransactionRead, TransactionReverse
from casework.parties import ledger
from casework.parties.ledger import KeyReused, LedgerConflict, Posting
from casework.parties.models import LeadTransaction
from casework.parties.records import RECORD_TYPES, UnknownReference

router = APIRouter(prefix="/leads/{external_id}/transactions", tags=["records"])
LEADS = RECORD_TYPES["leads"]
CREATED_OR_RETRIED: dict[int | str, dict[str, Any]] = {
    201: {"description": "posted"},
    200: {"description": "a retry with the same Idempotency-Key: the row it posted"},
}


def _key_reused(exc: KeyReused) -> Any:
    return errors.unprocessable("Idempotency-Key", str(exc), location="header")


def _answer(row: LeadTransaction, created: bool, response: Response) -> LeadTransaction:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return row


@router.get("", response_model=LedgerRead)
async def lead_ledger(external_id: ExternalIdPath, session: SessionDep, user: LeadReader, viewer: ViewerDep) -> Any:
    """The lead's transactions, newest first, and its balance in each currency."""
    await found(session, LEADS, external_id, viewer)
    rows = await ledger.transactions(session, external_id)
    reversed_by = {row.reverses: row.id for row in rows if row.reverses}
    return {"balances": [{"currency": c, "amount": a} for c, a in await ledger.balances(session, external_id)],
            "transactions": [{**TransactionRead.model_validate(row).model_dump(),
                              "reversed_by": reversed_by.get(row.id)} for row in rows]}


@router.post("", response_model=TransactionRead, status_code=status.HTTP_201_CREATED, responses=CREATED_OR_RETRIED)
async def post_transaction(external_id: ExternalIdPath, body: TransactionPost, response: Response,
                           session: SessionDep, user: Poster, viewer: ViewerDep,
                           idempotency_key: IdempotencyKey = None) -> Any:
    """Post a fee or commission on the lead. With an Idempotency-Key, a retry posts nothing more and
    answers the row the first request posted."""
    await found(session, LEADS, external_id, viewer)
    posting = Posting(partner=body.partner, kind=body.kind, amount=body.amount, currency=body.currency, note=body.note)
    try:
        row, created = await ledger.post(session, external_id, posting, who(user), idempotency_key)
    except UnknownReference as exc:
        raise refused(exc) from exc
    except KeyReused as exc:
        raise _key_reused(exc) from exc
    await session.commit()
    return _answer(row, created, response)


@router.post("/{transaction_id}/reverse", response_model=TransactionRead, status_code=status.HTTP_201_CREATED,
             responses={**CREATED_OR_RETRIED, 409: {"description": "already reversed, or itself a reversal"}})
async def reverse_transaction(external_id: ExternalIdPath, transaction_id: Annotated[str, Path(max_length=36)],
                              body: TransactionReverse, response: Response, session: SessionDep, user: Reverser,
                              viewer: ViewerDep, idempotency_key: IdempotencyKey = None) -> Any:
    """Reverse a transaction with a new one of the opposite amount; a transaction is reversed at most
    once (a second reversal is 409)."""
    await found(session, LEADS, external_id, viewer)
    try:
        result = await ledger.reverse(session, external_id, transaction_id, body.reason, who(user), idempotency_key)
    except LedgerConflict as exc:
        raise errors.stage_conflict(str(exc), None) from exc
    except KeyReused as exc:
        raise _key_reused(exc) from exc
    if result is None:
        raise errors.not_found(f"transaction {transaction_id} of lead {external_id}")
    await session.commit()
    return _answer(*result, response)
