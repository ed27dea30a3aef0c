"""Customer complaints (F3): registration (directly, or from a customer invoice, the invoice's
claims capped at its total in PostgreSQL), the kind's own steps (plan, review results, decide,
fulfil, post) and the sales adjustments posting made, listed and exported for accounting.
Assignment (allocate), the action plan's tasks, notes, documents and "not fulfilled" (close) are
every case's routes (api/routes/cases.py, api/routes/tasks.py)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy import delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from api import errors
from api.casesteps import CaseStep, authorised_step, case_type_config
from api.deps import (
    CurrentUser,
    IdempotencyKey,
    SessionDep,
    SettingsDep,
    TemporalDep,
    actor_of,
    get_viewer,
    require_permission,
)
from api.routes.cases import release_reference, reserve_reference, start_registered
from api.schemas.cases import CaseListItem, CaseRead
from api.schemas.customer_complaint import (
    ComplaintCommon,
    CustomerComplaintCreate,
    DecideRequest,
    FromInvoiceCreate,
    FulfilRequest,
    PlanRequest,
    ReviewRequest,
)
from api.uploads import document_ref, refuse_unclaimed
from casework.calendar.deadlines import case_today
from casework.cases import limits, repository
from casework.cases.contracts import Correspondent, PartyLink
from casework.cases.visibility import visible_cases
from casework.kinds.customer_complaint.contracts import (
    CustomerComplaintStart,
    DecideInput,
    FulfilInput,
    PlanInput,
    PostInput,
    ReviewInput,
    SalesAdjustmentClaim,
)
from casework.kinds.customer_complaint.rules import CREATE_REASON, EXPORT_ADJUSTMENTS, KIND, REGISTER, RULES
from casework.parties.models import Contract, Customer, Invoice
from casework.parties.money import amount_refusal, in_minor_units, shown
from casework.platform.db import AppUser, CaseRecord
from casework.reference_lists import ListValueError, require_value
from casework.reference_lists.models import ReferenceValue
from casework.reporting.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, CsvEncoder, write_xlsx
from casework.reporting.search import Column
from casework.tables.customer_complaint import REASONS, InvoiceClaim, SalesAdjustment
from workflows.customer_complaint import CustomerComplaintWorkflow

router = APIRouter(tags=["customer complaints"])
CASE = "/cases/{prefix}/{number}/{year}"
REGISTER_PERMISSION = RULES.permission(REGISTER)
OVER_CLAIM = "ck_claim_within_invoice_total"


def _refused(*fields: tuple[str, str]) -> HTTPException:
    """422 naming every field refused at once."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         detail=[{"loc": ["body", f], "msg": m, "type": "value_error"} for f, m in fields])


# ---- registration ---------------------------------------------------------------------------


@router.post("/customer-complaints", status_code=status.HTTP_201_CREATED, response_model=CaseRead)
async def register_customer_complaint(
    body: CustomerComplaintCreate, request: Request, session: SessionDep, client: TemporalDep,
    settings: SettingsDep, user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    """Register a customer complaint (status Registered). With `sales_adjustment_required`, the
    company, counterparty, contract (the customer's), amount and currency are all required."""
    require_permission(user, REGISTER_PERMISSION, "registering a customer complaint")
    customer = await session.get(Customer, body.customer)
    if customer is None:
        raise errors.unprocessable("customer", f"no customer with external_id '{body.customer}'")
    claim = None
    if body.sales_adjustment_required:
        claim = await _claim_of(session, body, customer)
    elif any(v is not None for v in (body.counterparty, body.contract, body.amount, body.currency, body.invoice)):
        raise errors.unprocessable("sales_adjustment_required", "set sales_adjustment_required to claim an "
                                   "adjustment (counterparty, contract, amount, currency, invoice)")
    return await _register(request, session, client, settings, user, idempotency_key, body, customer, claim)


@router.post("/customer-complaints/from-invoice/{invoice_id}", status_code=status.HTTP_201_CREATED,
             response_model=CaseRead)
async def register_from_invoice(
    invoice_id: str, body: FromInvoiceCreate, request: Request, session: SessionDep, client: TemporalDep,
    settings: SettingsDep, user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    """Create a customer complaint from a customer invoice: its customer, contract, amount (its
    total unless a smaller one is given) and currency are filled in, and the invoice is linked.
    What all complaints claim against one invoice never exceeds its total."""
    require_permission(user, REGISTER_PERMISSION, "registering a customer complaint")
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None:
        raise errors.not_found(f"invoice {invoice_id}")
    if invoice.contract is None:
        raise errors.unprocessable("invoice", f"invoice {invoice.number} has no contract to adjust")
    customer = await session.get(Customer, invoice.customer)
    assert customer is not None  # a foreign key
    amount = in_minor_units(body.amount if body.amount is not None else invoice.total, invoice.currency)
    why = amount_refusal(body.amount, invoice.currency) if body.amount is not None else None
    if why is None and amount <= 0:
        why = "the amount claimed must be more than 0"
    if why is not None:
        raise errors.unprocessable("amount", why)
    if not body.company:
        raise errors.unprocessable("company", "the company the adjustment is booked in is required")
    claim = SalesAdjustmentClaim(company=body.company, counterparty=invoice.customer, contract=invoice.contract,
                                 amount=amount, currency=invoice.currency, invoice=invoice.external_id)
    working_name = body.working_name or f"Complaint about invoice {invoice.number}"
    return await _register(request, session, client, settings, user, idempotency_key, body, customer, claim,
                           working_name=working_name)


async def _claim_of(session: SessionDep, body: CustomerComplaintCreate, customer: Customer) -> SalesAdjustmentClaim:
    """The adjustment claimed, every field required and checked: 422 naming each one missing or wrong."""
    wrong: list[tuple[str, str]] = []
    for name in ("company", "counterparty", "contract", "amount", "currency"):
        if getattr(body, name) is None:
            wrong.append((name, f"{name} is required when a sales adjustment is required"))
    if body.counterparty is not None and await session.get(Customer, body.counterparty) is None:
        wrong.append(("counterparty", f"no customer with external_id '{body.counterparty}'"))
    contract = await session.get(Contract, body.contract) if body.contract is not None else None
    if body.contract is not None:
        if contract is None:
            wrong.append(("contract", f"no contract with external_id '{body.contract}'"))
        elif contract.customer != customer.external_id:
            wrong.append(("contract", f"contract {contract.number} belongs to another customer, not "
                                      f"{customer.external_id}"))
    if body.amount is not None and body.amount <= 0:
        wrong.append(("amount", "the amount claimed must be more than 0"))
    if body.invoice is not None:
        invoice = await session.get(Invoice, body.invoice)
        if invoice is None or invoice.customer != customer.external_id:
            wrong.append(("invoice", f"no invoice '{body.invoice}' of customer {customer.external_id}"))
        elif body.currency is not None and invoice.currency != body.currency:
            wrong.append(("currency", f"invoice {invoice.number} is in {invoice.currency}"))
    if wrong:
        raise _refused(*wrong)
    assert body.company and body.counterparty and body.contract and body.amount is not None and body.currency
    return SalesAdjustmentClaim(company=body.company, counterparty=body.counterparty, contract=body.contract,
                                amount=in_minor_units(body.amount, body.currency), currency=body.currency,
                                invoice=body.invoice)


async def _over_claim(session: SessionDep, claim: SalesAdjustmentClaim) -> str:
    """What the refused claim could have been (PostgreSQL refused it; this only words the answer)."""
    invoice = await session.get(Invoice, claim.invoice)
    assert invoice is not None
    claimed = await session.scalar(select(func.sum(InvoiceClaim.amount)).where(
        InvoiceClaim.invoice == invoice.external_id)) or Decimal(0)
    left = max(invoice.total - claimed, Decimal(0))
    return (f"invoice {invoice.number} totals {shown(invoice.total, invoice.currency)} and "
            f"{shown(claimed, invoice.currency)} is already claimed on it, so at most "
            f"{shown(left, invoice.currency)} can be claimed")


async def _reason(session: SessionDep, user: AppUser, body: ComplaintCommon) -> None:
    """The reason must be on the admin list; with `new_reason_label`, a user who may adds it."""
    try:
        await require_value(session, REASONS, body.reason, field="reason")
        return
    except ListValueError:
        if body.new_reason_label is None:
            raise
    require_permission(user, RULES.permission(CREATE_REASON), "adding a complaint reason")
    existing = await session.get(ReferenceValue, (REASONS, body.reason))
    if existing is not None:  # retired: not offered, not revived by a registration
        raise errors.unprocessable("reason", f"reason '{body.reason}' is retired; pick another")
    await session.execute(insert(ReferenceValue).values(
        list_name=REASONS, code=body.reason, label=body.new_reason_label, updated_by=user.username,
    ).on_conflict_do_nothing())


async def _parties(session: SessionDep, body: ComplaintCommon, reference: str,
                   customer: Customer) -> tuple[list[PartyLink], list[Correspondent]]:
    """The complaint's parties: its customer, and the further partners and contact persons listed."""
    links = [_link(reference, customer.external_id, "subject")]
    people = [Correspondent(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference}/customer")), relationship="customer",
                            is_primary=True, name=customer.name, email=customer.email, phone=customer.phone)]
    for n, party in enumerate(body.parties):
        row = await session.get(Customer, party.customer)
        if row is None:
            raise errors.unprocessable("parties", f"parties[{n}]: no customer with external_id '{party.customer}'")
        if party.customer != customer.external_id:
            links.append(_link(reference, party.customer, "party"))
        contacts = {c.get("external_id") or c.get("name"): c for c in row.contacts}
        contacts.update({c.get("name"): c for c in row.contacts})
        for name in party.contact_persons:
            contact = contacts.get(name)
            if contact is None:
                raise errors.unprocessable("parties", f"parties[{n}]: '{name}' is not a contact person of "
                                                      f"{party.customer}")
            people.append(Correspondent(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference}/{party.customer}/{name}")),
                relationship="contact person", name=contact["name"], email=contact.get("email"),
                phone=contact.get("phone"), external_reference=party.customer))
    return links, people


def _link(reference: str, external_id: str, role: str) -> PartyLink:
    return PartyLink(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference}/customer/{external_id}")),
                     party_type="customer", external_id=external_id, role=role)


async def _register(request: Request, session: SessionDep, client: TemporalDep, settings: SettingsDep,
                    user: AppUser, idempotency_key: str | None, body: ComplaintCommon, customer: Customer,
                    claim: SalesAdjustmentClaim | None, working_name: str | None = None) -> Any:
    case_type_code = body.case_type
    case_type = await repository.get_case_type(session, case_type_code)
    if case_type is None or not case_type.active or case_type.kind != KIND:
        raise errors.unprocessable("case_type", f"'{case_type_code}' is not a customer complaint type")
    await _reason(session, user, body)
    today = case_today(datetime.now(timezone.utc))
    uploads = await repository.claim_uploads(session, body.attachment_ids, user.id)
    refuse_unclaimed(body.attachment_ids, uploads)
    key, reference = await reserve_reference(request, user, idempotency_key, case_type.reference_prefix)
    try:
        links, people = await _parties(session, body, reference, customer)
        if claim is not None and claim.invoice is not None:
            # The trigger locks the invoice's row and refuses a claim past its total (migration
            # 0018). A retried registration (same Idempotency-Key, same reference) finds its claim.
            await session.execute(insert(InvoiceClaim).values(
                case_reference=reference, invoice=claim.invoice, amount=claim.amount, currency=claim.currency,
            ).on_conflict_do_nothing(index_elements=["case_reference"]))
        await session.commit()  # the new reason and the claim, together
    except (IntegrityError, HTTPException) as exc:
        await session.rollback()  # nothing is written, and the reference is not kept reserved
        await release_reference(request, key, reference)
        orig = getattr(exc, "orig", None)
        if claim is not None and getattr(getattr(orig, "diag", None), "constraint_name", None) == OVER_CLAIM:
            raise errors.unprocessable("amount", await _over_claim(session, claim)) from exc
        raise
    start = CustomerComplaintStart(
        reference=reference, case_type=case_type_config(case_type), correspondents=people,
        attachments=[document_ref(u, "attachment") for u in uploads], parties=links, actor=actor_of(user),
        customer=customer.external_id, working_name=working_name or body.working_name or "",
        issued_on=body.issued_on or today, description=body.description, reason=body.reason, claim=claim,
        team=case_type.default_team)

    async def undo() -> None:  # the claim goes with the complaint the workflow refused
        await session.execute(delete(InvoiceClaim).where(InvoiceClaim.case_reference == reference))
        await session.commit()

    return await start_registered(request, session, client, settings, start, key, CustomerComplaintWorkflow, undo)


# ---- search ---------------------------------------------------------------------------------


@router.get("/customer-complaints", response_model=list[CaseListItem])
async def search_customer_complaints(
    session: SessionDep, user: CurrentUser, request: Request,
    customer: Annotated[str | None, Query(max_length=limits.EXTERNAL_REFERENCE)] = None,
    reason: Annotated[str | None, Query(max_length=limits.CODE)] = None,
    invoice: Annotated[str | None, Query(max_length=limits.EXTERNAL_REFERENCE)] = None,
    status_: Annotated[Literal["open", "closed"] | None, Query(alias="status")] = None,
    stage: Annotated[str | None, Query(max_length=limits.CODE)] = None,
    team: Annotated[str | None, Query(max_length=limits.CODE)] = None,
    assignee_id: int | None = None,
    issued_from: date | None = None, issued_to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    """Customer complaints the user may see, by customer, reason, invoice, status, stage, business
    unit (team), employee (assignee) and date of issue; newest first."""
    viewer = await get_viewer(request, user)
    details = {k: v for k, v in (("customer", customer), ("reason", reason), ("invoice", invoice)) if v}
    stmt = select(CaseRecord).where(CaseRecord.kind == KIND, visible_cases(viewer))
    if details:
        stmt = stmt.where(CaseRecord.details.contains(details))
    for column, value in ((CaseRecord.status, status_), (CaseRecord.stage, stage), (CaseRecord.team, team),
                          (CaseRecord.assignee_id, assignee_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if issued_from is not None:
        stmt = stmt.where(CaseRecord.date_received >= issued_from)
    if issued_to is not None:
        stmt = stmt.where(CaseRecord.date_received <= issued_to)
    rows = (await session.scalars(stmt.order_by(CaseRecord.registered_at.desc()).limit(limit).offset(offset))).all()
    return [CaseListItem.model_validate(row, from_attributes=True) for row in rows]


# ---- the kind's steps -----------------------------------------------------------------------


@router.post(CASE + "/plan", response_model=CaseRead)
async def plan(case: Annotated[CaseStep, authorised_step(CustomerComplaintWorkflow.set_planned)],
               body: PlanRequest) -> Any:
    """Set the complaint Planned (with comments) once its action plan has a task."""
    return await case.take(PlanInput(actor=case.actor(), comment=body.comment))


@router.post(CASE + "/review-results", response_model=CaseRead)
async def record_review(case: Annotated[CaseStep, authorised_step(CustomerComplaintWorkflow.record_review)],
                        body: ReviewRequest) -> Any:
    """Record the review results (decisions, actions, results, customer feedback) as a new version."""
    return await case.take(ReviewInput(actor=case.actor(), text=body.text))


@router.post(CASE + "/decide-claim", response_model=CaseRead)
async def decide(case: Annotated[CaseStep, authorised_step(CustomerComplaintWorkflow.decide)],
                 body: DecideRequest, request: Request, session: SessionDep, settings: SettingsDep) -> Any:
    """Accept the claim (fully, or partly with the amount) or reject it with feedback, which can go
    to the customer by email. Above the decision limit for its currency, accepting needs
    customer_complaint.decide_above_limit."""
    row = await repository.get_case(session, case.reference)
    claim = (row.details or {}).get("claim") if row is not None else None
    above = False
    if claim is not None and body.amount is not None:
        why = amount_refusal(body.amount, claim["currency"])
        if why is not None:
            raise errors.unprocessable("amount", why)
    if claim is not None and body.outcome != "rejected":
        amount = body.amount if body.amount is not None else Decimal(claim["amount"])
        limit = settings.customer_complaint_decision_limits.get(claim["currency"])
        above = limit is None or amount > limit
    return await case.take(DecideInput(actor=case.actor(), outcome=body.outcome, amount=body.amount,
                                       feedback=body.feedback, channel=body.channel, above_limit=above))


@router.post(CASE + "/fulfil", response_model=CaseRead)
async def fulfil(case: Annotated[CaseStep, authorised_step(CustomerComplaintWorkflow.fulfil)],
                 body: FulfilRequest) -> Any:
    """Set the complaint Fulfilled with its end date: every action-plan task must be done or cancelled."""
    end = body.end_date or case_today(datetime.now(timezone.utc))
    return await case.take(FulfilInput(actor=case.actor(), end_date=end))


@router.post(CASE + "/post", response_model=CaseRead)
async def post(case: Annotated[CaseStep, authorised_step(CustomerComplaintWorkflow.post)]) -> Any:
    """Post a fulfilled complaint: an accepted adjustment becomes one sales adjustment record, and
    the complaint closes. A refused posting voids its draft and leaves the complaint Fulfilled."""
    return await case.take(PostInput(actor=case.actor()))


# ---- the adjustments, for accounting --------------------------------------------------------

COLUMNS = ("number", "case_reference", "customer", "contract", "invoice", "amount", "currency", "status",
           "posted_at")
EXPORT_COLUMNS = [Column(key, key, "date" if key == "posted_at" else "text", lambda today: literal(None))
                  for key in COLUMNS]


async def _adjustments(session: SessionDep, user: AppUser, status_: str | None, customer: str | None) -> list[dict]:
    require_permission(user, RULES.permission(EXPORT_ADJUSTMENTS), "listing sales adjustments")
    stmt = select(SalesAdjustment).order_by(SalesAdjustment.drafted_at, SalesAdjustment.number)
    if status_ is not None:
        stmt = stmt.where(SalesAdjustment.status == status_)
    if customer is not None:
        stmt = stmt.where(SalesAdjustment.customer == customer)
    return [{**{c: getattr(row, c) for c in COLUMNS}, "amount": in_minor_units(row.amount, row.currency)}
            for row in (await session.scalars(stmt)).all()]


AdjustmentStatus = Annotated[Literal["draft", "posted", "voided"] | None, Query(alias="status")]


@router.get("/sales-adjustments")
async def list_adjustments(session: SessionDep, user: CurrentUser, status_: AdjustmentStatus = "posted",
                           customer: Annotated[str | None, Query(max_length=100)] = None) -> list[dict]:
    """The sales adjustments posting made (posted ones unless `status` says otherwise)."""
    return [{**row, "amount": str(row["amount"])} for row in await _adjustments(session, user, status_, customer)]


@router.get("/sales-adjustments/export")
async def export_adjustments(session: SessionDep, user: CurrentUser,
                             format: Literal["csv", "xlsx"] = "csv",  # noqa: A002
                             status_: AdjustmentStatus = "posted",
                             customer: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """The same list as CSV or XLSX for accounting (casework/reporting/export.py's writers): amounts
    as decimal text in their currency's minor units, posted_at a date and time."""
    rows = await _adjustments(session, user, status_, customer)
    if format == "csv":
        encoder = CsvEncoder(EXPORT_COLUMNS, field_names=True)
        return Response(encoder.header() + encoder.rows(rows), media_type=CSV_MEDIA_TYPE,
                        headers={"Content-Disposition": 'attachment; filename="sales-adjustments.csv"'})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sales-adjustments.xlsx"

        async def batches() -> AsyncIterator[list[dict]]:
            yield rows

        await write_xlsx(path, EXPORT_COLUMNS, batches(), field_names=True)
        content = path.read_bytes()
    return Response(content, media_type=XLSX_MEDIA_TYPE,
                    headers={"Content-Disposition": 'attachment; filename="sales-adjustments.xlsx"'})
