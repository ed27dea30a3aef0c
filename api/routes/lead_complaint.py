"""Lead complaints (F2): filing one against a lead, the compliance queue (with CSV and XLSX
export), taking one, resolving it with a resolution type and a resolution of that type, and the
dispute: raised, picked up by a manager, decided (upheld, changed, sent back). Comments are the
case's notes (POST /cases/{ref}/notes, PATCH to edit); the timeline, documents and the lead's
activity history are the core routes'."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import errors
from api.casesteps import CaseStep, authorised_step, case_type_config
from api.deps import (
    CASE_PATH,
    CurrentUser,
    IdempotencyKey,
    SessionDep,
    SettingsDep,
    TemporalDep,
    ViewerDep,
    actor_of,
    cached_lookup,
    require_permission,
)
from api.routes.cases import reserve_reference, start_registered
from api.routes.parties import found
from api.schemas.cases import CaseRead, OptionalNote
from api.schemas.lead_complaint import (
    ChangeResolutionRequest,
    DisputeRequest,
    LeadComplaintCreate,
    LeadComplaintQueueItem,
    ResolveRequest,
)
from api.uploads import document_ref, refuse_unclaimed
from casework.calendar.deadlines import case_today
from casework.calendar.policies import policy_from_data
from casework.calendar.schedules import load_calendar
from casework.calendar.workdays import DEFAULT_REGION, add_working_days
from casework.cases import limits, repository
from casework.cases.contracts import AllocateInput, CaseTypeConfig, Correspondent
from casework.cases.visibility import visible_cases
from casework.kinds.lead_complaint.contracts import (
    DecideDisputeInput,
    DisputeInput,
    LeadComplaintStart,
    Picked,
    ResolveInput,
    TakeDisputeInput,
)
from casework.kinds.lead_complaint.rules import (
    CASE_TYPE,
    COMPLAINT_TYPES,
    FILE_PERMISSION,
    KIND,
    RESOLUTION_TYPES,
    RESOLUTIONS,
)
from casework.parties import records
from casework.platform.db import CaseRecord, driver_connection
from casework.reference_lists import declare_list, require_value
from casework.reference_lists.models import ReferenceValue
from casework.reporting.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, CsvEncoder, write_xlsx
from casework.reporting.search import Column, overdue_cases, warned_cases
from workflows.lead_complaint import LeadComplaintWorkflow

router = APIRouter(tags=["lead complaints"])
declare_list(COMPLAINT_TYPES, "lead complaint types", targets=True)
declare_list(RESOLUTION_TYPES, "lead complaint resolution types")
declare_list(RESOLUTIONS, "lead complaint resolutions", parent=RESOLUTION_TYPES)
CASE = "/cases" + CASE_PATH


# ---- filing ---------------------------------------------------------------------------------


@router.post("/lead-complaints", status_code=status.HTTP_201_CREATED, response_model=CaseRead,
             responses={404: {"description": "no such lead, or one you may not see"}})
async def file_complaint(body: LeadComplaintCreate, request: Request, session: SessionDep, client: TemporalDep,
                         settings: SettingsDep, user: CurrentUser, viewer: ViewerDep,
                         idempotency_key: IdempotencyKey = None) -> Any:
    """File a complaint against a lead you may see (another is 404, like one that does not
    exist), of a type an administrator set up (none set up: 422 saying so). The complaint is
    Open, routed to its type's team, with its reference as its workflow id."""
    require_permission(user, FILE_PERMISSION, "filing a lead complaint")
    lead = await found(session, records.CASE_PARTY_TYPES["lead"], body.lead, viewer)
    kind = await require_value(session, COMPLAINT_TYPES, body.complaint_type, field="complaint_type")
    case_type = await cached_lookup(request, ("case_type", CASE_TYPE), lambda s: repository.get_case_type(s, CASE_TYPE))
    if case_type is None or not case_type.active or case_type.kind != KIND:
        raise errors.stage_conflict(f"the case type {CASE_TYPE} of lead complaints is not set up: an "
                                    "administrator must add it", "not_set_up")
    uploads = await repository.claim_uploads(session, body.attachment_ids, user.id)
    refuse_unclaimed(body.attachment_ids, uploads)
    key, reference = await reserve_reference(request, "lead-complaint", user, idempotency_key,
                                             case_type.reference_prefix)
    start = LeadComplaintStart(
        reference=reference, case_type=_with_type_target(case_type_config(case_type), kind),
        correspondents=[Correspondent(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference}/lead")), is_primary=True,
                                      relationship="lead", name=lead.name, email=lead.email, phone=lead.phone,
                                      address_lines=list(lead.address_lines or []), postcode=lead.postcode,
                                      external_reference=lead.external_id)],
        attachments=[document_ref(u, "attachment") for u in uploads],
        parties=records.party_links(reference, {"lead": lead.external_id}),
        actor=actor_of(user), team=case_type.default_team,
        lead_id=lead.external_id, complaint_type=Picked(code=kind.code, label=kind.label),
        description=body.description, received_on=case_today(datetime.now(timezone.utc)),
    )
    return await start_registered(request, session, client, settings, start, key, LeadComplaintWorkflow,
                                  viewer=viewer)


def _with_type_target(config: CaseTypeConfig, kind: ReferenceValue) -> CaseTypeConfig:
    """The case type as the complaint is filed under it: with the complaint type's own working-day
    target, if an administrator set one, in place of the type's response days (the case keeps the
    policy it was filed with, as it keeps its case type's)."""
    days = kind.target_working_days
    if days is None:
        return config
    policy = policy_from_data(config.deadline_policy).with_target(
        days, name=f"{kind.label} lead complaints ({days} working days)",
        rule=f"Resolve a {kind.label} complaint against a lead within {days} working days of filing it "
             "(the complaint type's target).")
    return config.model_copy(update={"deadline_policy": policy.model_dump(mode="json")})


# ---- the compliance queue -------------------------------------------------------------------

Status = Literal["open", "disputed", "resolved"]
Sort = Literal["received", "-received", "deadline", "-deadline", "reference"]


def _queue_columns() -> list[Column]:
    details = CaseRecord.details
    return [
        Column("reference", "Reference", "text", lambda today: CaseRecord.reference),
        Column("lead_id", "Lead", "text", lambda today: details["lead_id"].astext, nullable=True),
        Column("complaint_type", "Type code", "text", lambda today: details["complaint_type"].astext, nullable=True),
        Column("complaint_type_label", "Type", "text", lambda today: details["complaint_type_label"].astext,
               nullable=True),
        Column("status", "Status", "text", lambda today: details["status"].astext, nullable=True),
        Column("filed_by", "Filed by", "text", lambda today: CaseRecord.registered_by),
        Column("team", "Team", "text", lambda today: CaseRecord.team, nullable=True),
        Column("assignee_name", "Assignee", "text", lambda today: CaseRecord.assignee_name, nullable=True),
        Column("date_received", "Date received", "date", lambda today: CaseRecord.date_received),
        Column("deadline", "Deadline", "date", lambda today: CaseRecord.deadline, nullable=True),
        Column("overdue", "Overdue", "bool", lambda today: func.coalesce(overdue_cases(today), false())),
        Column("warning", "In warning", "bool", lambda today: func.coalesce(warned_cases(today), false())),
        Column("resolution", "Resolution", "text",
               lambda today: details["resolution"]["resolution"]["label"].astext, nullable=True),
    ]


QUEUE_COLUMNS = _queue_columns()


async def _queue(session: AsyncSession, viewer: Any, *, complaint_type: list[str] | None,
                 status_: list[Status] | None, lead: str | None, agent: str | None,
                 older_than_days: int | None, overdue: bool | None, warning: bool | None, sort: Sort) -> Select:
    today = case_today(datetime.now(timezone.utc))
    stmt: Select = select(*(c.expression(today).label(c.key) for c in QUEUE_COLUMNS)).where(
        CaseRecord.kind == KIND, visible_cases(viewer))
    statuses = status_ or ["open", "disputed"]
    stmt = stmt.where(CaseRecord.status == "open", CaseRecord.details["status"].astext.in_(statuses))
    if complaint_type:
        stmt = stmt.where(CaseRecord.details["complaint_type"].astext.in_(complaint_type))
    if lead:
        stmt = stmt.where(CaseRecord.details.contains({"lead_id": lead}))
    if agent:
        person = await repository.get_user_by_username(session, agent)
        stmt = stmt.where(CaseRecord.details.contains({"filed_by_id": person.id if person else -1}))
    if older_than_days is not None:
        stmt = stmt.where(CaseRecord.date_received <= today - timedelta(days=older_than_days))
    if overdue is not None:
        flag = func.coalesce(overdue_cases(today), false())
        stmt = stmt.where(flag if overdue else ~flag)
    if warning is not None:
        warned = func.coalesce(warned_cases(today), false())
        stmt = stmt.where(warned if warning else ~warned)
    orders: dict[str, list[Any]] = {
        "received": [CaseRecord.date_received, CaseRecord.reference],
        "-received": [CaseRecord.date_received.desc(), CaseRecord.reference.desc()],
        "deadline": [CaseRecord.deadline.asc().nulls_last(), CaseRecord.reference],
        "-deadline": [CaseRecord.deadline.desc().nulls_last(), CaseRecord.reference],
        "reference": [CaseRecord.reference]}
    return stmt.order_by(*orders[sort])


class QueueParams:
    def __init__(
        self, session: SessionDep, viewer: ViewerDep,
        complaint_type: Annotated[list[str] | None, Query(description="type codes")] = None,
        status_: Annotated[list[Status] | None, Query(
            alias="status", description="open, disputed, resolved (default: open and disputed)")] = None,
        lead: Annotated[str | None, Query(max_length=100)] = None,
        agent: Annotated[str | None, Query(max_length=100, description="username of the agent who filed it")] = None,
        older_than_days: Annotated[int | None, Query(
            ge=0, le=36500, description="received at least this many days ago")] = None,
        overdue: bool | None = None,
        warning: Annotated[bool | None, Query(
            description="past the complaint's warning day (its target's), not yet overdue")] = None,
        sort: Sort = "received",
    ) -> None:
        self.session, self.viewer = session, viewer
        self.filters: dict[str, Any] = dict(complaint_type=complaint_type, status_=status_, lead=lead, agent=agent,
                                            older_than_days=older_than_days, overdue=overdue, warning=warning,
                                            sort=sort)

    async def statement(self) -> Select:
        return await _queue(self.session, self.viewer, **self.filters)


QueueDep = Annotated[QueueParams, Depends()]


@router.get("/lead-complaints", response_model=list[LeadComplaintQueueItem])
async def queue(params: QueueDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0, le=limits.MAX_OFFSET)] = 0) -> Any:
    """The compliance queue: the lead complaints you may see, open and disputed by default,
    filterable by type, status, lead, agent, age, warning and overdue, sorted and paged."""
    stmt = await params.statement()
    rows = (await params.session.execute(stmt.limit(limit).offset(offset))).mappings().all()
    return [dict(row) for row in rows]


def _attachment(extension: str) -> dict[str, str]:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H%MZ")
    return {"Content-Disposition": f'attachment; filename="lead-complaints-{stamp}.{extension}"'}


@router.get("/lead-complaints.csv", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
async def queue_csv(params: QueueDep) -> StreamingResponse:
    """The same queue, every matching row, as CSV."""
    rows = (await params.session.execute(await params.statement())).all()
    encoder = CsvEncoder(QUEUE_COLUMNS)
    return StreamingResponse(iter([encoder.header(), encoder.rows(rows)]), media_type=CSV_MEDIA_TYPE,
                             headers=_attachment("csv"))


@router.get("/lead-complaints.xlsx", response_class=StreamingResponse,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
async def queue_xlsx(params: QueueDep) -> StreamingResponse:
    """The same queue as an Excel workbook."""
    rows = (await params.session.execute(await params.statement())).all()

    async def batches() -> AsyncIterator[list[Any]]:
        yield list(rows)

    directory = tempfile.TemporaryDirectory(prefix="casework-export-")
    path = Path(directory.name) / "lead-complaints.xlsx"
    await write_xlsx(path, QUEUE_COLUMNS, batches())

    async def body() -> AsyncIterator[bytes]:
        with directory, path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, 1 << 16):
                yield chunk

    return StreamingResponse(body(), media_type=XLSX_MEDIA_TYPE, headers=_attachment("xlsx"))


# ---- taking, resolving ----------------------------------------------------------------------


@router.post(CASE + "/take", response_model=CaseRead)
async def take(case: Annotated[CaseStep, authorised_step(LeadComplaintWorkflow.take)], body: OptionalNote,
               request: Request, user: CurrentUser, settings: SettingsDep) -> Any:
    """Take the complaint (compliance): assigned to you, in the compliance team (LEAD_COMPLAINT_TEAM). A
    manager assigns it to someone else with POST /cases/{ref}/allocate."""
    payload = AllocateInput(actor=case.actor(), team=settings.lead_complaint_team, assignee_id=user.id,
                            assignee_name=user.display_name, reason=body.note)
    return await case.take(payload)


async def _resolution(session: AsyncSession, body: ResolveRequest) -> tuple[Picked, Picked]:
    kind = await require_value(session, RESOLUTION_TYPES, body.resolution_type, field="resolution_type")
    detail = await require_value(session, RESOLUTIONS, body.resolution, field="resolution", parent=kind.code)
    return Picked(code=kind.code, label=kind.label), Picked(code=detail.code, label=detail.label)


@router.post(CASE + "/resolve", response_model=CaseRead)
async def resolve(case: Annotated[CaseStep, authorised_step(LeadComplaintWorkflow.resolve)], body: ResolveRequest,
                  session: SessionDep) -> Any:
    """Resolve with a resolution type and a resolution of that type (both active values of their
    lists; anything else is 422 naming the field). The complaint is then Resolved: read-only but
    for comments and a dispute."""
    kind, detail = await _resolution(session, body)
    return await case.take(ResolveInput(actor=case.actor(), resolution_type=kind, resolution=detail, note=body.note))


# ---- disputes -------------------------------------------------------------------------------


async def _pick_up_dates(request: Request, days: int, levels: int) -> list[date]:
    """Each level's pick-up date: `days` working days after the previous level's (England & Wales
    calendar with the administrator's closures)."""
    today = case_today(datetime.now(timezone.utc))
    async with driver_connection(request.app.state.engine) as conn:
        cal, _, _ = await load_calendar(conn, DEFAULT_REGION, range(today.year, today.year + 3))
    dates, day = [], today
    for _ in range(levels):
        day = add_working_days(day, days, cal)
        dates.append(day)
    return dates


@router.post(CASE + "/dispute", response_model=CaseRead)
async def dispute(case: Annotated[CaseStep, authorised_step(LeadComplaintWorkflow.dispute)], body: DisputeRequest,
                  request: Request, settings: SettingsDep) -> Any:
    """Dispute the complaint (open or resolved) with a reason: it escalates to the first team of the
    approval chain, which must pick it up within LEAD_DISPUTE_PICKUP_DAYS working days, or it
    escalates to the next team by itself."""
    chain = settings.lead_dispute_chain_teams
    dates = await _pick_up_dates(request, settings.lead_dispute_pickup_days, len(chain))
    return await case.take(DisputeInput(actor=case.actor(), reason=body.reason, chain=chain, pick_up_by=dates))


@router.post(CASE + "/dispute/take", response_model=CaseRead)
async def take_dispute(case: Annotated[CaseStep, authorised_step(LeadComplaintWorkflow.take_dispute)],
                       body: OptionalNote) -> Any:
    """Pick the dispute up (a manager): its escalation timer stops; you decide it."""
    return await case.take(TakeDisputeInput(actor=case.actor(), note=body.note))


@router.post(CASE + "/dispute/uphold", response_model=CaseRead)
async def uphold_resolution(case: Annotated[CaseStep, authorised_step(LeadComplaintWorkflow.uphold_resolution)],
                            body: OptionalNote) -> Any:
    """Uphold the resolution in force: the complaint is Resolved again."""
    return await case.take(DecideDisputeInput(actor=case.actor(), reason=body.note))


@router.post(CASE + "/dispute/change", response_model=CaseRead)
async def change_resolution(case: Annotated[CaseStep, authorised_step(LeadComplaintWorkflow.change_resolution)],
                            body: ChangeResolutionRequest, session: SessionDep) -> Any:
    """Decide the dispute with another resolution (type and resolution of that type): Resolved."""
    kind, detail = await _resolution(session, body)
    return await case.take(DecideDisputeInput(actor=case.actor(), reason=body.reason or body.note,
                                              resolution_type=kind, resolution=detail))


@router.post(CASE + "/dispute/send-back", response_model=CaseRead)
async def send_back(case: Annotated[CaseStep, authorised_step(LeadComplaintWorkflow.send_back)],
                    body: DisputeRequest) -> Any:
    """Send the dispute back to compliance with a reason: the complaint is Open again."""
    return await case.take(DecideDisputeInput(actor=case.actor(), reason=body.reason))
