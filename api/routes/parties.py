"""Records kept in sync by the systems of record (customers, partners, lead groups, leads,
contracts, invoices): upsert by external id, bulk import, list and search, read, and the activity
history of a lead or customer. The lead ledger's routes are in api/routes/ledger.py.

A record is addressed by its external_id, the id the CRM or ERP that owns it gives it:
`PUT /leads/L-1001` creates or updates lead L-1001 (201 created, 200 updated)."""

# No `from __future__ import annotations`: the sync routes are made by a function whose body
# and answer types are its arguments, which FastAPI must see as types, not as strings.

from typing import Annotated, Any, Literal, get_origin

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import ColumnElement

from api import errors, partner_view
from api.deps import CurrentUser, SessionDep, ViewerDep, require_permission
from api.schemas.base import ExternalId, IsoDate, Strict
from api.schemas.parties import (
    ActivityRead,
    ContractRead,
    ContractSync,
    CustomerRead,
    CustomerSync,
    ImportResult,
    ImportRowResult,
    InvoiceRead,
    InvoiceSync,
    LeadGroupRead,
    LeadGroupSync,
    LeadListItem,
    LeadRead,
    LeadSync,
    PartnerRead,
    PartnerSync,
)
from casework.cases import limits
from casework.cases.visibility import Viewer, visible_cases
from casework.parties import activity, ledger, records
from casework.parties.access import (
    DOING,
    LEADS_READ,
    LEDGER_POST,
    LEDGER_REVERSE,
    RECORDS_READ,
    RECORDS_SYNC,
    partner_leads,
)
from casework.parties.imports import MAX_IMPORT_BYTES, MEDIA_TYPES, ImportRefused, ImportRow, read_rows
from casework.parties.models import Contract, Invoice, Lead, Partner
from casework.parties.records import RECORD_TYPES, RecordType, UnknownReference, Who
from casework.platform.db import AppUser
from casework.tables.lead_return import NO_RETURN, LeadReturnFilter

router = APIRouter(tags=["records"])


def permitted(permission: str) -> Any:
    """The dependency a route's check is: the user, if they hold `permission`
    (casework.parties.access), else 403 naming it."""

    async def check(user: CurrentUser) -> AppUser:
        require_permission(user, permission, DOING.get(permission))
        return user

    setattr(check, "permission", permission)  # noqa: B010  (read by tests/test_authorisation_matrix.py)
    return Depends(check)


Reader = Annotated[AppUser, permitted(RECORDS_READ)]
LeadReader = Annotated[AppUser, permitted(LEADS_READ)]
Syncer = Annotated[AppUser, permitted(RECORDS_SYNC)]
Poster = Annotated[AppUser, permitted(LEDGER_POST)]
Reverser = Annotated[AppUser, permitted(LEDGER_REVERSE)]
ExternalIdPath = Annotated[str, Path(max_length=limits.EXTERNAL_REFERENCE, pattern=r"^[^/\s]+$",
                                     description="the record's id in the system of record")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=limits.MAX_OFFSET)]


def who(user: AppUser) -> Who:
    return Who(name=user.display_name, user_id=user.id)


def refused(exc: UnknownReference) -> HTTPException:
    return errors.unprocessable(exc.field, exc.message)


def columns(body: BaseModel) -> dict[str, Any]:
    """A sync body as the record's columns (lists and objects as JSON)."""
    custom = getattr(body, "columns", None)
    return custom() if custom is not None else body.model_dump()


def seen_by(kind: RecordType, viewer: Viewer | None) -> list[ColumnElement[bool]]:
    """The rule a reader's records are chosen by: a partner's user sees only its own leads."""
    if kind.model is Lead and viewer is not None and viewer.partners is not None:
        return [partner_leads(viewer.partners)]
    return []


async def found(session: SessionDep, kind: RecordType, external_id: str, viewer: Viewer | None) -> Any:
    """The record, if it exists and the reader may see it; else 404, the same for both."""
    row = await records.get(session, kind, external_id, seen_by(kind, viewer))
    if row is None:
        raise errors.not_found(f"{kind.label} {external_id}")
    return row


# ---- sync: PUT /<records>/{external_id} -----------------------------------------------------

SYNC_BODIES: dict[str, tuple[type[Strict], type[BaseModel]]] = {
    "customers": (CustomerSync, CustomerRead),
    "partners": (PartnerSync, PartnerRead),
    "lead-groups": (LeadGroupSync, LeadGroupRead),
    "leads": (LeadSync, LeadRead),
    "contracts": (ContractSync, ContractRead),
    "invoices": (InvoiceSync, InvoiceRead),
}


def _sync_route(kind: RecordType, body_type: type[Strict], read_type: type[BaseModel]) -> None:
    async def sync(external_id: ExternalIdPath, body: body_type, response: Response,  # type: ignore[valid-type]
                   session: SessionDep, user: Syncer) -> Any:
        try:
            created = await records.upsert(session, kind, external_id, columns(body), who(user))
        except UnknownReference as exc:
            raise refused(exc) from exc
        await session.commit()
        response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return await read_record(session, kind, external_id, None)

    sync.__doc__ = (f"Create or update the {kind.label} with this external_id (201 created, 200 updated): "
                    "the whole record; a field left out is emptied. One statement, safe under concurrent syncs.")
    router.put(f"/{kind.path}/{{external_id}}", response_model=read_type, name=f"sync_{kind.path}",
               responses={201: {"description": "created"}})(sync)


for _path, (_body, _read) in SYNC_BODIES.items():
    _sync_route(RECORD_TYPES[_path], _body, _read)


async def read_record(session: SessionDep, kind: RecordType, external_id: str, viewer: Viewer | None) -> Any:
    row = await found(session, kind, external_id, viewer)
    if kind.model is not Lead:
        return row
    return LeadRead.model_validate({
        **LeadListItem.model_validate(row).model_dump(),
        "status_history": await records.status_history(session, external_id),
        "balances": [{"currency": c, "amount": a} for c, a in await ledger.balances(session, external_id)],
    })


# ---- bulk import ----------------------------------------------------------------------------


@router.post("/imports/{record_type}", response_model=ImportResult,
             responses={413: {"description": "over the size or row limit"}, 415: {"description": "not CSV or NDJSON"}},
             openapi_extra={"requestBody": {"content": {m: {"schema": {"type": "string"}} for m in MEDIA_TYPES}}})
async def import_records(record_type: Annotated[str, Path(pattern="^(" + "|".join(SYNC_BODIES) + ")$")],
                         request: Request, session: SessionDep, user: Syncer) -> Any:
    """Create or update many records of one type: `text/csv` (a header row naming the fields,
    `external_id` among them) or `application/x-ndjson` (one JSON object a line). Answers each row:
    created, updated, or the error naming the field; the good rows are kept, a bad row writes nothing."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            detail=f"send {' or '.join(MEDIA_TYPES)} (Content-Type), not '{media_type[:60]}'")
    kind = RECORD_TYPES[record_type]
    body_type = SYNC_BODIES[record_type][0]
    json_fields = frozenset(name for name, f in body_type.model_fields.items() if get_origin(f.annotation) is list)
    try:
        rows = read_rows(media_type, await _body_within_limit(request), json_fields)
    except ImportRefused as exc:
        if exc.too_large:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=str(exc)) from exc
        raise errors.unprocessable("file", str(exc)) from exc
    results = [await _import_row(session, kind, body_type, row, who(user)) for row in rows]
    await session.commit()
    count = {outcome: sum(r.result == outcome for r in results) for outcome in ("created", "updated", "error")}
    return ImportResult(record_type=record_type, created=count["created"], updated=count["updated"],
                        errors=count["error"], rows=results)


async def _body_within_limit(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"an import is at most {MAX_IMPORT_BYTES} bytes; split the file", too_large=True)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_IMPORT_BYTES:
            break  # read_rows refuses it
    return bytes(body)


_EXTERNAL_ID = TypeAdapter(ExternalId)


async def _import_row(session: SessionDep, kind: RecordType, body_type: type[Strict], row: ImportRow,
                      by: Who) -> ImportRowResult:
    fields = dict(row.fields)
    external_id = fields.pop("external_id", None)
    shown = external_id if isinstance(external_id, str) else None

    def error(field: str, message: str) -> ImportRowResult:
        return ImportRowResult(row=row.number, external_id=shown, result="error", field=field, message=message)

    if row.error is not None:
        return error(row.error_field or "row", row.error)
    if external_id is None:
        return error("external_id", "is required")
    try:
        external_id = _EXTERNAL_ID.validate_python(external_id)
        body = body_type.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        return error(".".join(str(part) for part in first["loc"]) or "external_id", first["msg"])
    try:
        created = await records.upsert(session, kind, external_id, columns(body), by)
    except UnknownReference as exc:
        return error(exc.field, exc.message)
    return ImportRowResult(row=row.number, external_id=external_id, result="created" if created else "updated")


# ---- lists and reads ------------------------------------------------------------------------


@router.get("/customers", response_model=list[CustomerRead])
async def list_customers(session: SessionDep, user: Reader, q: str | None = None, limit: Limit = 50,
                         offset: Offset = 0) -> Any:
    """Customers, most recently synced first; `q`: the external id, or part of the name or email."""
    return await records.search(session, RECORD_TYPES["customers"], q=q, where=[], limit=limit, offset=offset)


@router.get("/partners", response_model=list[PartnerRead])
async def list_partners(session: SessionDep, user: Reader, q: str | None = None,
                        role: Annotated[str | None, Query(pattern="^(introducer|referral_partner)$")] = None,
                        limit: Limit = 50, offset: Offset = 0) -> Any:
    """Partners, most recently synced first; `role`: introducers or referral partners only."""
    where: list[ColumnElement[bool]] = []
    if role is not None:
        where.append((Partner.is_introducer if role == "introducer" else Partner.is_referral_partner).is_(True))
    return await records.search(session, RECORD_TYPES["partners"], q=q, where=where, limit=limit, offset=offset)


@router.get("/lead-groups", response_model=list[LeadGroupRead])
async def list_lead_groups(session: SessionDep, user: Reader, q: str | None = None, limit: Limit = 50,
                           offset: Offset = 0) -> Any:
    return await records.search(session, RECORD_TYPES["lead-groups"], q=q, where=[], limit=limit, offset=offset)


def _return_filter(
    return_status: Annotated[Literal["open", "declined", "accepted", "none"] | None, Query(
        description="the status of the lead's latest return; `none`: never returned")] = None,
    returned_from: Annotated[IsoDate | None, Query(description="its latest return asked for on or after")] = None,
    returned_to: Annotated[IsoDate | None, Query(description="its latest return asked for on or before")] = None,
    return_decided_from: Annotated[IsoDate | None, Query(description="its latest return decided on or after")] = None,
    return_decided_to: Annotated[IsoDate | None, Query(description="its latest return decided on or before")] = None,
) -> LeadReturnFilter:
    found = LeadReturnFilter(return_status, returned_from, returned_to, return_decided_from, return_decided_to)
    for low, high, name in ((returned_from, returned_to, "returned_to"),
                            (return_decided_from, return_decided_to, "return_decided_to")):
        if low is not None and high is not None and high < low:
            raise errors.unprocessable(name, f"{name} is before {name.replace('_to', '_from')}", location="query")
    if return_status == NO_RETURN and found.dated():
        raise errors.unprocessable("return_status", "a lead never returned has no return dates: "
                                   "leave out the return date filters", location="query")
    return found


@router.get("/leads", response_model=list[LeadListItem])
async def list_leads(session: SessionDep, user: LeadReader, viewer: ViewerDep,
                     returns: Annotated[LeadReturnFilter, Depends(_return_filter)], q: str | None = None,
                     lead_group: str | None = None,
                     status_: Annotated[str | None, Query(alias="status")] = None,
                     partner: Annotated[str | None, Query(description="introducer or referral partner")] = None,
                     limit: Limit = 50, offset: Offset = 0) -> Any:
    """Leads, most recently synced first; `q`: the external id, or part of the name, email or phone.
    A partner's user sees only its own leads. The return filters look at each lead's latest
    return (docs/lead-returns.md)."""
    kind = RECORD_TYPES["leads"]
    where = seen_by(kind, viewer) + returns.where()
    if lead_group:
        where.append(Lead.lead_group == lead_group)
    if status_:
        where.append(Lead.status == status_)
    if partner:
        where.append((Lead.introducer == partner) | (Lead.referral_partner == partner))
    return await records.search(session, kind, q=q, where=where, limit=limit, offset=offset)


@router.get("/contracts", response_model=list[ContractRead])
async def list_contracts(session: SessionDep, user: Reader, q: str | None = None, customer: str | None = None,
                         limit: Limit = 50, offset: Offset = 0) -> Any:
    where = [] if customer is None else [Contract.customer == customer]
    return await records.search(session, RECORD_TYPES["contracts"], q=q, where=where, limit=limit, offset=offset)


@router.get("/invoices", response_model=list[InvoiceRead])
async def list_invoices(session: SessionDep, user: Reader, q: str | None = None, customer: str | None = None,
                        contract: str | None = None, limit: Limit = 50, offset: Offset = 0) -> Any:
    where = [] if customer is None else [Invoice.customer == customer]
    if contract is not None:
        where.append(Invoice.contract == contract)
    return await records.search(session, RECORD_TYPES["invoices"], q=q, where=where, limit=limit, offset=offset)


def _read_route(kind: RecordType, read_type: type[BaseModel]) -> None:
    reader = LeadReader if kind.model is Lead else Reader

    async def read(external_id: ExternalIdPath, session: SessionDep, user: reader, viewer: ViewerDep) -> Any:  # type: ignore[valid-type]
        return await read_record(session, kind, external_id, viewer)

    read.__doc__ = f"The {kind.label}" + (", its status history and its balance per currency"
                                          if kind.model is Lead else "") + "."
    router.get(f"/{kind.path}/{{external_id}}", response_model=read_type, name=f"read_{kind.path}")(read)


for _path, (_body, _read) in SYNC_BODIES.items():
    _read_route(RECORD_TYPES[_path], _read)


# ---- activity history -----------------------------------------------------------------------


def _activities_route(kind: RecordType, party_type: str) -> None:
    reader = LeadReader if kind.model is Lead else Reader

    async def activities(external_id: ExternalIdPath, session: SessionDep, user: reader,  # type: ignore[valid-type]
                         viewer: ViewerDep, limit: Limit = 100,
                         offset: Annotated[int, Query(ge=0, le=10_000)] = 0) -> Any:
        await found(session, kind, external_id, viewer)
        partner = viewer.partners is not None  # the narrow view (api/partner_view.py)
        page = await activity.history(session, party_type, external_id, visible_cases(viewer), limit, offset,
                                      partner_view.partner_events() if partner else None)
        colleagues = await partner_view.partner_users(session, viewer)
        return [ActivityRead(occurred_at=a.occurred_at, kind=a.kind, what=a.what,
                             who=partner_view.who(a.who_id, a.who, colleagues) if partner else a.who,
                             reason=None if partner and a.kind in partner_view.ENGINE_EVENTS else a.reason,
                             case=None if a.case_reference is None else
                             {"reference": a.case_reference, "path": f"/cases/{a.case_reference}"})
                for a in page]

    activities.__doc__ = (f"The {kind.label}'s activity history, newest first: the timeline events of every case "
                          f"about it that you may see" + (", its status changes and its transactions"
                                                          if kind.model is Lead else "") + ".")
    router.get(f"/{kind.path}/{{external_id}}/activities", response_model=list[ActivityRead],
               name=f"{party_type}_activities")(activities)


_activities_route(RECORD_TYPES["leads"], "lead")
_activities_route(RECORD_TYPES["customers"], "customer")

