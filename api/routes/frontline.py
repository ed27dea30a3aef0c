"""Frontline complaint handling (F4): taking a complaint by phone, live chat or email (raw RFC 5322
from a mail gateway), repeat contacts routed to the owner's case, resolving at first contact,
investigating with a same-day follow-up, the follow-up, and the register with its exports.

Repeat matching holds under concurrency: intake takes a PostgreSQL advisory transaction lock on
each of the complainant's normalised identities (sorted, so two intakes never deadlock) and keeps
it until the new case is registered (visible in case_record) or the contact is recorded on the
matched case. A second contact from the same complainant waits, then finds the first's case.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import Date, Integer, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

from api import errors
from api.casesteps import (
    CaseStep,
    apply_update,
    authorised_step,
    case_from_state,
    case_type_config,
    team_and_person,
)
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
from api.routes.cases import on_list, start_case
from api.schemas.base import IsoDate
from api.schemas.cases import CaseRead
from api.schemas.frontline import (
    ContactCreate,
    ContactOutcome,
    ContactRequest,
    FollowUpRequest,
    FrontlineStatistics,
    ImprovementComment,
    ImprovementCreate,
    ImprovementRead,
    ImprovementStatus,
    ImprovementStatusChange,
    ImprovementStepRead,
    InvestigateRequest,
    RegisterRow,
    ResolveRequest,
    ReviewScheduleIn,
    ReviewScheduleRead,
)
from casework.calendar.deadlines import case_today
from casework.cases import limits, repository
from casework.cases.contracts import Correspondent
from casework.cases.visibility import visible_cases
from casework.kinds.frontline.contracts import (
    AgendaRequest,
    ClaimInput,
    ContactChannel,
    ContactInput,
    FollowUpInput,
    FrontlineStart,
    FrontlineState,
    InvestigateInput,
    Person,
    ResolveInput,
)
from casework.kinds.frontline.identity import identity_keys
from casework.kinds.frontline.rules import (
    IMPROVEMENT_STEPS,
    PROPOSE_IMPROVEMENT,
    REGISTER_READ,
    REVIEW_IMPROVEMENTS,
    RULES,
    TAKE_CONTACT,
)
from casework.parties import records
from casework.platform.db import AppUser, CaseRecord, driver_connection
from casework.reference_lists import declare_list
from casework.reporting.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, CsvEncoder, write_xlsx
from casework.reporting.search import Column, stream_batches
from casework.tables.frontline import ServiceImprovement, ServiceImprovementStep
from workflows.frontline import FrontlineWorkflow, ImprovementReviewWorkflow

router = APIRouter(tags=["frontline"])
Outcome = Literal["new_case", "resolved_first_contact", "repeat_contact", "repeat_of_closed_case"]
CASE = "/cases" + CASE_PATH
TAKE = RULES.permission(TAKE_CONTACT)
READ_REGISTER = RULES.permission(REGISTER_READ)
PROPOSE = RULES.permission(PROPOSE_IMPROVEMENT)
REVIEW = RULES.permission(REVIEW_IMPROVEMENTS)
ISSUES = declare_list("frontline_issues", "frontline complaint issues (what a complaint is about)")

# The seed's call script; [AGENT NAME] and [BRAND] are filled in on each follow-up task.
CALL_SCRIPT = (
    "Hello, my name is [AGENT NAME] calling from [BRAND]. We were speaking earlier regarding …. I'm just "
    "following up to see if everything has now been resolved to your satisfaction and you are happy? "
    "Is there anything else I can assist you with today? Thank you for your time.")


# ---- intake -----------------------------------------------------------------------------------


@dataclass
class Intake:
    """One contact, however it came in."""

    channel: ContactChannel
    issue: str
    summary: str
    name: str
    email: str | None
    phone: str | None
    customer: str | None
    department: str
    owner: Person | None
    resolution: str | None = None
    improvement_idea: str | None = None
    new_case_reason: str | None = None
    message_id: str | None = None


_MATCH = (
    "SELECT reference, status, details->>'owner_id', details->>'owner_name' FROM case_record"
    " WHERE kind = 'frontline' AND details @> jsonb_build_object('issue_key', %(issue)s::text)"
    " AND (details->'identities') ?| %(keys)s::text[]"
    " AND (status = 'open' OR closed_at >= now() - make_interval(days => %(window)s))"
    " ORDER BY status = 'open' DESC, registered_at DESC LIMIT 1")


async def _lock_complainant(conn: psycopg.AsyncConnection, keys: list[str]) -> None:
    """Serialise intakes for this complainant until the transaction ends (sorted: no deadlock)."""
    for key in keys:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"frontline:{key}"])


async def _take_contact(request: Request, client: TemporalDep, settings: SettingsDep, user: Any,
                        intake: Intake, idempotency_key: str | None) -> JSONResponse:
    require_permission(user, TAKE, "taking a frontline complaint")
    keys = identity_keys(intake.email, intake.phone, intake.customer)
    if not keys:
        raise errors.unprocessable("complainant", "give the complainant's email or phone (or the customer's "
                                   "id) so a repeat contact finds their case")
    async with request.app.state.sessionmaker() as session:
        await on_list(request, session, ISSUES, intake.issue, "issue")
    code = settings.frontline_case_type
    case_type = await cached_lookup(request, ("case_type", code), lambda s: repository.get_case_type(s, code))
    if case_type is None or not case_type.active or case_type.kind != "frontline":
        raise errors.unprocessable("case_type", f"the frontline case type '{code}' is not set up "
                                   "(FRONTLINE_CASE_TYPE)")
    team, _ = await team_and_person(request, intake.department, None, "department_")
    if intake.owner is not None and not await _is_member(request, team.code, intake.owner.id):
        raise errors.unprocessable("department", f"you are not a member of team '{team.code}'")
    lead = None
    if team.manager_id is not None:
        manager_id = team.manager_id
        manager = await cached_lookup(request, ("user-id", manager_id), lambda s: s.get(AppUser, manager_id))
        lead = Person(id=manager.id, name=manager.display_name) if manager else None
    about = {"customer": intake.customer}
    async with request.app.state.sessionmaker() as session:
        unknown = await records.unknown_party(session, about)
    if unknown is not None:
        raise errors.unprocessable(unknown.field, unknown.message)
    key = f"frontline:{user.id}:{idempotency_key or uuid.uuid4()}"
    if len(key) > limits.IDEMPOTENCY_KEY:
        key = f"frontline:{user.id}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    today = case_today(datetime.now(timezone.utc))
    engine = request.app.state.engine
    async with driver_connection(engine) as conn, conn.transaction():
        await _lock_complainant(conn, keys)
        done = await (await conn.execute(repository._REGISTERED, {"key": key})).fetchone()
        if done is not None:  # a retry of an intake that registered a case: that case
            return await _answer(request, client, done[0], "new_case", "The complaint was registered",
                                 status.HTTP_201_CREATED)
        match = None
        if intake.new_case_reason is None:
            match = await (await conn.execute(_MATCH, {"issue": intake.issue.casefold(), "keys": keys,
                                                       "window": settings.frontline_repeat_window_days})).fetchone()
        actor = actor_of(user)
        contact = ContactInput(actor=actor, channel=intake.channel, summary=intake.summary,
                               message_id=intake.message_id)
        if match is not None and match[1] == "open":
            reference = match[0]
            state = await _record_contact(client, reference, contact, idempotency_key)
            owned_by = state.owner.name if state.owner else f"team {state.department}"
            return _outcome(request, state, "repeat_contact",
                            f"Repeat contact: added to {reference}, owned by {owned_by}, who has been told",
                            status.HTTP_200_OK)
        repeat_of = match[0] if match is not None else None
        owner: Person | None = intake.owner
        if match is not None and match[2] is not None:
            owner = Person(id=int(match[2]), name=match[3])  # the earlier case's owner, not a new one
        reference = await repository.reserve_registration(conn, key, case_type.reference_prefix, today)
        start = FrontlineStart(
            reference=reference, case_type=case_type_config(case_type), actor=actor,
            correspondents=[Correspondent(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference}/complainant")),
                                          name=intake.name, email=intake.email, phone=intake.phone,
                                          is_primary=True)],
            parties=records.party_links(reference, about),
            channel=intake.channel, issue=intake.issue, summary=intake.summary, received_on=today,
            owner=owner, department=team.code, team_lead=lead, brand=settings.frontline_brand,
            script=CALL_SCRIPT, identities=keys, repeat_of=repeat_of, new_case_reason=intake.new_case_reason,
            message_id=intake.message_id, resolution=None if repeat_of else intake.resolution,
            improvement_idea=intake.improvement_idea,
            fca=(case_type.deadline_policy or {}).get("name", "").upper().startswith("FCA"))
        try:
            # The calendar read on the connection this intake holds: at 20 intakes at once, each
            # waiting for a second connection from the pool of 20 would wait until its timeout.
            registered = await start_case(client, engine, settings.task_queue, start,
                                          workflow_class=FrontlineWorkflow, conn=conn)
        except WorkflowUpdateFailedError as exc:
            raise errors.from_update_failure(exc) from exc
        if repeat_of is not None:
            # The earlier case is closed (its workflow has ended): this one carries the contact,
            # owned by the earlier owner, who is told as on any repeat contact.
            state = await _record_contact(client, reference, contact, idempotency_key)
            return _outcome(request, state, "repeat_of_closed_case",
                            f"Repeat contact about {repeat_of} (closed): new case {reference} for its owner "
                            f"{owner.name if owner else 'team ' + team.code}, who has been told",
                            status.HTTP_201_CREATED)
    if registered is None:
        return await _answer(request, client, reference, "new_case", "The complaint was registered",
                             status.HTTP_201_CREATED)
    assert isinstance(registered, FrontlineState)
    if registered.resolved_first_contact:
        return _outcome(request, registered, "resolved_first_contact",
                        f"Resolved at first contact and closed: {reference}", status.HTTP_201_CREATED)
    return _outcome(request, registered, "new_case", f"New complaint {reference}, owned by "
                    f"{owner.name if owner else 'nobody yet (claim it)'}", status.HTTP_201_CREATED)


async def _is_member(request: Request, team: str, user_id: int) -> bool:
    async def member(session: Any) -> bool | None:  # only a membership is cached
        return True if await repository.is_team_member(session, team, user_id) else None
    return bool(await cached_lookup(request, ("member", team, user_id), member))


async def _record_contact(client: TemporalDep, reference: str, contact: ContactInput,
                          idempotency_key: str | None) -> FrontlineState:
    return await apply_update(client, reference, FrontlineWorkflow.record_contact, contact,
                              f"record_contact:{idempotency_key}" if idempotency_key else None)


def _outcome(request: Request, state: FrontlineState, outcome: Outcome, message: str, code: int) -> JSONResponse:
    body = ContactOutcome(outcome=outcome, reference=state.reference,
                          owner_name=state.owner.name if state.owner else None, message=message,
                          case=case_from_state(request, state))
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


async def _answer(request: Request, client: TemporalDep, reference: str, outcome: Outcome, message: str,
                  code: int) -> JSONResponse:
    state = await client.get_workflow_handle(reference).query(FrontlineWorkflow.current_state)
    return _outcome(request, FrontlineState.model_validate(state.model_dump()), outcome, message, code)


@router.post("/frontline/contacts", status_code=status.HTTP_201_CREATED, response_model=ContactOutcome,
             responses={200: {"model": ContactOutcome, "description": "a repeat contact, added to the open case"}})
async def take_contact(body: ContactCreate, request: Request, client: TemporalDep, settings: SettingsDep,
                       user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    """Take a complaint by phone, live chat or email. The agent becomes its owner, unless it is a
    repeat: the same complainant (email, phone or customer id) with an open case on the same issue
    (200: the contact is added there and its owner told), or one closed within the repeat window (a
    new case for that owner). `resolution` resolves it at first contact; `new_case_reason`
    overrides the matching."""
    person = body.complainant
    intake = Intake(channel=ContactChannel(body.channel), issue=body.issue, summary=body.summary,
                    name=person.name, email=person.email, phone=person.phone, customer=body.customer,
                    department=body.department, owner=Person(id=user.id, name=user.display_name),
                    resolution=body.resolution, improvement_idea=body.improvement_idea,
                    new_case_reason=body.new_case_reason)
    return await _take_contact(request, client, settings, user, intake, idempotency_key)


@router.post("/frontline/inbound-email", status_code=status.HTTP_201_CREATED, response_model=ContactOutcome,
             openapi_extra={"requestBody": {"content": {"message/rfc822": {"schema": {"type": "string"}}},
                                            "required": True}})
async def inbound_email(request: Request, client: TemporalDep, settings: SettingsDep, user: CurrentUser,
                        department: Annotated[str, Query(min_length=1, max_length=limits.CODE,
                                                         description="the team whose mailbox received it")],
                        issue: Annotated[str, Query(min_length=1, max_length=limits.CATEGORY,
                                                    description="the issue the mailbox is for")] = "General") -> Any:
    """A complaint by email, posted by a mail gateway as the raw RFC 5322 message. The sender is
    the complainant; the case waits in the department's queue for an agent to claim it (or, from
    the same sender on the same issue, is a repeat contact). The Message-ID makes a re-post one
    contact."""
    raw = await request.body()
    if not raw.strip():
        raise errors.unprocessable("message", "the request body must be the raw email message")
    if len(raw) > settings.max_upload_bytes:
        raise errors.unprocessable("message", "the message is larger than MAX_UPLOAD_BYTES")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    name, address = parseaddr(str(message.get("From", "")))
    if "@" not in address:
        raise errors.unprocessable("From", "the message has no sender address")
    subject = str(message.get("Subject", "")).strip()
    part = message.get_body(preferencelist=("plain", "html"))
    text = part.get_content().strip() if part is not None else ""
    summary = "\n\n".join(p for p in (subject, text) if p)[:limits.TEXT] or "(empty message)"
    message_id = str(message.get("Message-ID", "")).strip() or None
    key = f"email:{hashlib.sha256(message_id.encode()).hexdigest()}" if message_id else None
    intake = Intake(channel=ContactChannel.EMAIL, issue=issue.strip(), summary=summary,
                    name=(name or address)[:limits.NAME], email=address, phone=None, customer=None,
                    department=department, owner=None, message_id=message_id)
    return await _take_contact(request, client, settings, user, intake, key)


# ---- steps on a frontline case ----------------------------------------------------------------


@router.post(CASE + "/resolve-contact", response_model=CaseRead)
async def resolve(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.resolve)], body: ResolveRequest) -> Any:
    """Resolve the complaint at first contact (the case closes)."""
    return await case.take(ResolveInput(actor=case.actor(), resolution=body.resolution,
                                        improvement_idea=body.improvement_idea))


@router.post(CASE + "/investigate", response_model=CaseRead)
async def investigate(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.investigate)],
                      body: InvestigateRequest, settings: SettingsDep) -> Any:
    """Open an investigation: the owner gets a follow-up task due by the end of their working day
    (FRONTLINE_DAY_ENDS), escalated to the team lead if it is missed."""
    return await case.take(InvestigateInput(actor=case.actor(), note=body.note,
                                            day_ends_at=settings.frontline_day_ends))


@router.post(CASE + "/follow-up", response_model=CaseRead)
async def record_follow_up(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.record_follow_up)],
                           body: FollowUpRequest) -> Any:
    """Record the follow-up call: the date, whether the customer is satisfied; satisfied closes it
    resolved, otherwise say when to follow up again."""
    return await case.take(FollowUpInput(actor=case.actor(), satisfied=body.satisfied, note=body.note,
                                         resolution=body.resolution, next_follow_up_on=body.next_follow_up_on,
                                         improvement_idea=body.improvement_idea))


@router.post(CASE + "/contacts", response_model=CaseRead)
async def record_contact(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.record_contact)],
                         body: ContactRequest) -> Any:
    """Record another contact on this case by hand (intake routes repeats here by itself)."""
    return await case.take(ContactInput(actor=case.actor(), channel=ContactChannel(body.channel),
                                        summary=body.summary))


@router.post(CASE + "/claim", response_model=CaseRead)
async def claim(case: Annotated[CaseStep, authorised_step(FrontlineWorkflow.claim)]) -> Any:
    """Take ownership of a complaint nobody owns yet (an inbound email)."""
    return await case.take(ClaimInput(actor=case.actor()))


# ---- the register -----------------------------------------------------------------------------


def _text(name: str) -> Any:
    return lambda today: CaseRecord.details[name].astext


REGISTER_COLUMNS = [
    Column("case_owner", "Case Owner", "text", _text("owner_name"), nullable=True),
    Column("department", "Department", "text", _text("department"), nullable=True),
    Column("date_received", "Date received", "date", lambda today: CaseRecord.date_received),
    Column("date_followed_up", "Date followed-up with customer", "date",
           lambda today: cast(CaseRecord.details["followed_up_on"].astext, Date), nullable=True),
    Column("resolved_and_followed_up", "Resolved and followed up (Y/N)", "text",
           _text("resolved_and_followed_up")),
    Column("customer_name", "Customer Name", "text", lambda today: CaseRecord.complainant_name),
    Column("issue", "Issue", "text", _text("issue"), nullable=True),
    Column("resolution", "Resolution", "text", _text("resolution"), nullable=True),
    Column("proposed_improvement_idea", "Proposed Improvement Idea", "text", _text("improvement_idea"),
           nullable=True),
]


@dataclass
class RegisterFilter:
    owner: str | None = None
    department: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    resolved: Literal["Y", "N"] | None = None


def _register_statement(viewer: Any, f: RegisterFilter, with_reference: bool = False) -> Any:
    today = case_today(datetime.now(timezone.utc))
    columns: list[Any] = [c.expression(today).label(c.key) for c in REGISTER_COLUMNS]
    if with_reference:
        columns.insert(0, CaseRecord.reference.label("reference"))
    stmt = select(*columns).where(CaseRecord.kind == "frontline", visible_cases(viewer))
    if f.owner:
        stmt = stmt.where(CaseRecord.details["owner_name"].astext.ilike(f.owner))
    if f.department:
        stmt = stmt.where(CaseRecord.details.contains({"department": f.department}))
    if f.received_from:
        stmt = stmt.where(CaseRecord.date_received >= f.received_from)
    if f.received_to:
        stmt = stmt.where(CaseRecord.date_received <= f.received_to)
    if f.resolved:
        stmt = stmt.where(CaseRecord.details.contains({"resolved_and_followed_up": f.resolved}))
    return stmt.order_by(CaseRecord.date_received, CaseRecord.reference)


def _register_filter(owner: Annotated[str | None, Query(max_length=limits.NAME,
                                                     description="the case owner's name")] = None,
                     department: Annotated[str | None, Query(max_length=limits.CODE)] = None,
                     received_from: IsoDate | None = None, received_to: IsoDate | None = None,
                     resolved: Literal["Y", "N"] | None = None) -> RegisterFilter:
    if received_from and received_to and received_to < received_from:
        raise errors.unprocessable("received_to", "received_to is before received_from", "query")
    return RegisterFilter(owner, department, received_from, received_to, resolved)


RegisterQuery = Annotated[RegisterFilter, Depends(_register_filter)]


def _register_attachment(extension: str) -> dict[str, str]:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H%MZ")
    return {"Content-Disposition": f'attachment; filename="frontline-register-{stamp}.{extension}"'}


@router.get("/frontline/register", response_model=list[RegisterRow])
async def register(user: CurrentUser, viewer: ViewerDep, session: SessionDep, f: RegisterQuery) -> Any:
    """Every frontline complaint, one row each, with the seed's columns (and the reference)."""
    require_permission(user, READ_REGISTER, "reading the frontline register")
    rows = (await session.execute(_register_statement(viewer, f, with_reference=True))).all()
    return [RegisterRow(**{**row._asdict(), "date_received": row.date_received.isoformat(),
                           "date_followed_up": row.date_followed_up.isoformat() if row.date_followed_up else None})
            for row in rows]


@router.get("/frontline/register.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
async def register_csv(user: CurrentUser, viewer: ViewerDep, request: Request, f: RegisterQuery) -> Any:
    """The register as CSV, headed with the seed's column names."""
    require_permission(user, READ_REGISTER, "exporting the frontline register")
    stmt = _register_statement(viewer, f)
    sessionmaker = request.app.state.sessionmaker

    async def body() -> AsyncIterator[bytes]:
        encoder = CsvEncoder(REGISTER_COLUMNS)
        yield encoder.header()
        async with sessionmaker() as session:
            async for batch in stream_batches(session, stmt):
                yield encoder.rows(batch)

    return StreamingResponse(body(), media_type=CSV_MEDIA_TYPE, headers=_register_attachment("csv"))


@router.get("/frontline/register.xlsx", response_class=StreamingResponse,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
async def register_xlsx(user: CurrentUser, viewer: ViewerDep, request: Request, f: RegisterQuery) -> Any:
    """The register as an Excel workbook, headed with the seed's column names."""
    require_permission(user, READ_REGISTER, "exporting the frontline register")
    stmt = _register_statement(viewer, f)
    sessionmaker = request.app.state.sessionmaker

    async def body() -> AsyncIterator[bytes]:
        with tempfile.TemporaryDirectory(prefix="frontline-register-") as directory:
            path = Path(directory) / "register.xlsx"
            async with sessionmaker() as session:
                await write_xlsx(path, REGISTER_COLUMNS, stream_batches(session, stmt))
            with path.open("rb") as file:
                while chunk := await asyncio.to_thread(file.read, 1 << 16):
                    yield chunk

    return StreamingResponse(body(), media_type=XLSX_MEDIA_TYPE, headers=_register_attachment("xlsx"))


# ---- statistics -------------------------------------------------------------------------------


def _count_where(condition: Any) -> Any:
    return func.count().filter(condition)


@router.get("/frontline/statistics", response_model=list[FrontlineStatistics])
async def statistics(user: CurrentUser, viewer: ViewerDep, session: SessionDep,
                     by: Literal["department", "owner"] = "department", received_from: IsoDate | None = None,
                     received_to: IsoDate | None = None) -> Any:
    """First-contact resolution, repeat contacts and follow-ups on time, by department or by owner,
    over the complaints received in the period that you may see."""
    require_permission(user, READ_REGISTER, "reading frontline statistics")
    f = _register_filter(received_from=received_from, received_to=received_to)
    details = CaseRecord.details
    group = details[by if by == "department" else "owner_name"].astext.label("group")
    follow_ups = func.jsonb_array_length(details["follow_ups"])
    escalations = details["escalations"].astext.cast(Integer)
    stmt = (select(group, func.count().label("complaints"),
                   _count_where(details.contains({"resolved_first_contact": True})).label("first_contact"),
                   _count_where(or_(details["repeat_contacts"].astext.cast(Integer) > 0,
                                    details["repeat_of"].astext.is_not(None))).label("repeats"),
                   _count_where(or_(follow_ups > 0, escalations > 0)).label("follow_ups_due"),
                   _count_where(and_(follow_ups > 0, escalations == 0)).label("on_time"))
            .where(CaseRecord.kind == "frontline", visible_cases(viewer)).group_by(group).order_by(group))
    if f.received_from:
        stmt = stmt.where(CaseRecord.date_received >= f.received_from)
    if f.received_to:
        stmt = stmt.where(CaseRecord.date_received <= f.received_to)

    def rate(part: int, whole: int) -> Decimal | None:
        return (Decimal(part * 100) / whole).quantize(Decimal("0.1")) if whole else None

    return [FrontlineStatistics(
        group=row.group, complaints=row.complaints, resolved_first_contact=row.first_contact,
        first_contact_resolution_rate=rate(row.first_contact, row.complaints), repeat_contacts=row.repeats,
        repeat_contact_rate=rate(row.repeats, row.complaints), follow_ups_due=row.follow_ups_due,
        follow_ups_on_time=row.on_time, follow_ups_on_time_rate=rate(row.on_time, row.follow_ups_due))
        for row in (await session.execute(stmt)).all()]


# ---- service improvements and their fortnightly review --------------------------------------

REVIEW_SCHEDULE_ID = "frontline-improvement-review"


async def _improvement_read(session: AsyncSession, item: ServiceImprovement) -> ImprovementRead:
    steps = (await session.scalars(select(ServiceImprovementStep).where(
        ServiceImprovementStep.improvement_id == item.id).order_by(ServiceImprovementStep.id))).all()
    return ImprovementRead.model_validate({**{c: getattr(item, c) for c in (
        "id", "case_reference", "title", "description", "status", "proposed_by", "proposed_at")},
        "steps": [ImprovementStepRead.model_validate(s) for s in steps]})


async def _improvement(session: AsyncSession, improvement_id: str) -> ServiceImprovement:
    item = await session.get(ServiceImprovement, improvement_id[:36], with_for_update=True)
    if item is None:
        raise errors.not_found(f"service improvement {improvement_id[:36]}")
    return item


@router.post("/frontline/improvements", status_code=status.HTTP_201_CREATED, response_model=ImprovementRead)
async def propose_improvement(body: ImprovementCreate, user: CurrentUser, viewer: ViewerDep, session: SessionDep,
                              idempotency_key: IdempotencyKey = None) -> Any:
    """Propose a service improvement idea, from a frontline complaint or on its own: it goes on the
    next fortnightly review's agenda."""
    require_permission(user, PROPOSE, "proposing a service improvement")
    if body.case_reference is not None:
        seen = await session.scalar(select(CaseRecord.reference).where(
            CaseRecord.reference == body.case_reference, CaseRecord.kind == "frontline", visible_cases(viewer)))
        if seen is None:
            raise errors.unprocessable("case_reference", f"no frontline complaint {body.case_reference}")
    improvement_id = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"improvement/{user.id}/{idempotency_key}"))
                      if idempotency_key else str(uuid.uuid4()))
    item = await session.get(ServiceImprovement, improvement_id)
    if item is None:  # a retry finds the one it made
        item = ServiceImprovement(id=improvement_id, case_reference=body.case_reference, title=body.title,
                                  description=body.description, status="proposed", proposed_by=user.display_name)
        session.add(item)
        session.add(ServiceImprovementStep(improvement_id=improvement_id, actor=user.display_name, kind="status",
                                           from_status=None, to_status="proposed", note=None))
        await session.commit()
    return await _improvement_read(session, item)


@router.get("/frontline/improvements", response_model=list[ImprovementRead])
async def list_improvements(user: CurrentUser, session: SessionDep,
                            status_: Annotated[ImprovementStatus | None, Query(alias="status")] = None) -> Any:
    """Service improvement ideas, oldest first, with their review history."""
    require_permission(user, PROPOSE, "reading service improvements")
    stmt = select(ServiceImprovement).order_by(ServiceImprovement.proposed_at, ServiceImprovement.id)
    if status_ is not None:
        stmt = stmt.where(ServiceImprovement.status == status_)
    return [await _improvement_read(session, item) for item in (await session.scalars(stmt)).all()]


@router.post("/frontline/improvements/{improvement_id}/status", response_model=ImprovementRead)
async def change_improvement_status(improvement_id: str, body: ImprovementStatusChange, user: CurrentUser,
                                    session: SessionDep) -> Any:
    """Record the review's outcome for an idea: discussed at the meeting, the proposed solution sent
    to the wider team for comment, the final solution agreed, implemented, or rejected (with a note)."""
    require_permission(user, REVIEW, "recording the service improvement review's outcome")
    item = await _improvement(session, improvement_id)
    allowed = IMPROVEMENT_STEPS.get(item.status, frozenset())
    if body.status not in allowed:
        may = f"; it may become: {', '.join(sorted(allowed))}" if allowed else ""
        raise errors.stage_conflict(f"an idea that is {item.status.replace('_', ' ')} cannot become "
                                    f"{body.status.replace('_', ' ')}{may}", item.status)
    if body.status == "rejected" and not body.note:
        raise errors.unprocessable("note", "say why the idea is rejected")
    session.add(ServiceImprovementStep(improvement_id=item.id, actor=user.display_name, kind="status",
                                       from_status=item.status, to_status=body.status, note=body.note))
    item.status, item.updated_at = body.status, datetime.now(timezone.utc)
    await session.commit()
    return await _improvement_read(session, item)


@router.post("/frontline/improvements/{improvement_id}/comments", response_model=ImprovementRead)
async def comment_on_improvement(improvement_id: str, body: ImprovementComment, user: CurrentUser,
                                 session: SessionDep) -> Any:
    """The wider team's comment on a proposed solution (while it is out for comment)."""
    require_permission(user, PROPOSE, "commenting on a service improvement")
    item = await _improvement(session, improvement_id)
    if item.status != "out_for_comment":
        raise errors.stage_conflict(f"the idea is {item.status.replace('_', ' ')}, not out for comment", item.status)
    session.add(ServiceImprovementStep(improvement_id=item.id, actor=user.display_name, kind="comment",
                                       from_status=item.status, to_status=item.status, note=body.text))
    await session.commit()
    return await _improvement_read(session, item)


@router.put("/frontline/review-schedule", response_model=ReviewScheduleRead)
async def set_review_schedule(body: ReviewScheduleIn, user: CurrentUser, client: TemporalDep,
                              settings: SettingsDep) -> Any:
    """Set up the review's Temporal Schedule: every `every_days` (a fortnight) it emails the agenda
    (new ideas, ideas awaiting a decision, complaints by issue since the last review) to the
    reviewers. Setting it again replaces the reviewers and the interval."""
    require_permission(user, REVIEW, "setting up the service improvement review")
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ImprovementReviewWorkflow.run, AgendaRequest(reviewers=body.reviewers, every_days=body.every_days),
            id=REVIEW_SCHEDULE_ID, task_queue=settings.task_queue, execution_timeout=timedelta(hours=12),
            static_summary="Service improvement review agenda"),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=body.every_days))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        state=ScheduleState(note=f"service improvement review every {body.every_days} days to "
                                 f"{len(body.reviewers)} reviewer(s)"))
    try:
        try:
            await client.create_schedule(REVIEW_SCHEDULE_ID, schedule)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(REVIEW_SCHEDULE_ID).update(lambda _: ScheduleUpdate(schedule=schedule))
    except RPCError as exc:
        raise errors.temporal_unreachable(exc) from exc
    return ReviewScheduleRead(schedule_id=REVIEW_SCHEDULE_ID, reviewers=body.reviewers, every_days=body.every_days)
