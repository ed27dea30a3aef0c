"""Case endpoints every kind of case has: registration, reads, allocation, documents, closure,
finishing an optional stage, notes, deadline extensions, a change of type and escalation. Reads
come from PostgreSQL; every change goes through a workflow Update, here the engine's
(workflows.engine.CaseWorkflow); a kind's own steps are in api/routes/<kind>.py.

A case reference such as COMP/000123/26 is addressed as /cases/COMP/000123/26.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Annotated, Any, cast

import psycopg
from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from sqlalchemy import and_, exists, false, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api import errors, partner_view
from api.casesteps import (
    AuthorisedCase,
    CaseStep,
    attrs,
    authorised_case,
    authorised_step,
    case_from_state,
    case_json,
    case_type_config,
    read_case,
    team_and_person,
)
from api.deps import (
    CASE_PATH,
    CurrentUser,
    DeliveryId,
    IdempotencyKey,
    NoteId,
    SessionDep,
    SettingsDep,
    TemporalDep,
    ViewerDep,
    actor_of,
    cached_lookup,
    require_permission,
)
from api.schemas.cases import (
    AllocateRequest,
    CaseCreate,
    CaseListItem,
    CaseRead,
    ChangeTypeRequest,
    CloseRequest,
    DeliveryConfirmation,
    EscalateRequest,
    ExtendRequest,
    NoteBody,
    OptionalNote,
    ReasonBody,
    TimelineRead,
)
from api.uploads import document_ref, keyed_document_id, refuse_unclaimed, store_upload
from casework.calendar import schedules
from casework.calendar.deadlines import case_today
from casework.cases import limits, repository
from casework.cases.contracts import (
    AddDocumentInput,
    AllocateInput,
    CaseClock,
    ChangeTypeInput,
    CloseInput,
    CompleteStageInput,
    ConfirmDeliveryInput,
    Correspondent,
    ExtendDeadlineInput,
    NoteEditInput,
    NoteInput,
    ResendDeliveryInput,
)
from casework.cases.stages import StagePlan
from casework.cases.visibility import Viewer, visible_cases
from casework.kinds.complaint.contracts import CaseDetails, CaseStart
from casework.kinds.complaint.rules import ESCALATE_ROLES, REGISTER_ROLES
from casework.parties import records
from casework.parties.models import CaseParty
from casework.people.permissions import declare
from casework.platform.config import Settings
from casework.platform.db import AppUser, CaseRecord, driver_connection
from casework.reference_lists import active_values, declare_list, require_value
from casework.reporting.search import not_overdue_cases, overdue_cases
from workflows.complaint import ComplaintCaseWorkflow
from workflows.engine import CaseWorkflow
from workflows.engine.clock import deadlines_input
from workflows.engine.search_attributes import search_attributes
from workflows.engine.shared import shared_policy
from workflows.engine.versioning import ALL_PATCHES, CLOCK_PATCH, PATCH_SETS

router = APIRouter(prefix="/cases", tags=["cases"])
CASE = CASE_PATH
REGISTER = declare("cases.register", "register a case", REGISTER_ROLES)
ESCALATE = declare("cases.escalate", "escalate a closed case into a linked stage-2 case", ESCALATE_ROLES)
# What a complaint is registered with, from lists administrators keep (docs/reference-lists.md).
CHANNELS = declare_list("complaint_channels", "complaint channels (how a complaint came in)")
CATEGORIES = declare_list("complaint_categories", "complaint categories")
SEVERITIES = declare_list("complaint_severities", "complaint severities")


# ---- registration ---------------------------------------------------------------------------


async def on_list(request: Request, session: AsyncSession, list_name: str, code: str, field: str) -> None:
    """`code` is an active value of the list (its values kept a few seconds in the short-lived
    cache), else the 422 `require_value` explains."""
    offered = await cached_lookup(request, ("list", list_name), lambda s: active_codes(s, list_name))
    if not offered or code not in offered:
        await require_value(session, list_name, code, field=field)


async def active_codes(session: AsyncSession, list_name: str) -> frozenset[str] | None:
    return frozenset(v.code for v in await active_values(session, list_name)) or None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseRead)
async def register_case(
    body: CaseCreate, request: Request, session: SessionDep, client: TemporalDep,
    settings: SettingsDep, user: CurrentUser, idempotency_key: IdempotencyKey = None,
) -> Any:
    """Register a complaint. Returns the case with its reference, which is also its workflow id."""
    require_permission(user, REGISTER, "registering a case")
    code = body.case_type or settings.default_case_type
    if not code:
        raise errors.unprocessable("case_type", "case_type is required (this deployment sets no DEFAULT_CASE_TYPE)")
    case_type = await cached_lookup(request, ("case_type", code), lambda s: repository.get_case_type(s, code))
    if case_type is None or not case_type.active:
        raise errors.unprocessable("case_type", f"unknown case type '{code}'")
    if case_type.kind != "complaint":  # another kind registers through its own route
        raise errors.unprocessable("case_type", f"'{code}' is a {case_type.kind} type, registered through "
                                   "its own route (see docs/adding-a-kind-of-case.md)")
    for field, listed in (("channel", CHANNELS), ("category", CATEGORIES), ("severity", SEVERITIES)):
        await on_list(request, session, listed, getattr(body, field), field)
    about = {"customer": body.customer, "lead": body.lead}
    unknown = await records.unknown_party(session, about)
    if unknown is not None:
        raise errors.unprocessable(unknown.field, unknown.message)
    uploads = await repository.claim_uploads(session, body.attachment_ids, user.id)
    refuse_unclaimed(body.attachment_ids, uploads)
    key, reference = await reserve_reference(request, "register", user, idempotency_key, case_type.reference_prefix)
    start = CaseStart(
        reference=reference,
        case_type=case_type_config(case_type),
        details=CaseDetails(channel=body.channel, category=body.category, severity=body.severity,
                            description=body.description, date_received=body.date_received),
        correspondents=[Correspondent(id=str(uuid.uuid4()), **c.model_dump())
                        for c in body.correspondents],
        attachments=[document_ref(u, "attachment") for u in uploads],
        parties=records.party_links(reference, about),
        actor=actor_of(user),
        team=case_type.default_team,
    )
    return await start_registered(request, session, client, settings, start, key)


def registration_key(purpose: str, user: AppUser, idempotency_key: str | None) -> str:
    """A registration's key: its Idempotency-Key, by user and purpose (each kind's registration
    its own); a new one when the request sent none."""
    key = f"{purpose}:{user.id}:{idempotency_key or uuid.uuid4()}"
    if len(key) > limits.IDEMPOTENCY_KEY:  # a long key is kept by its digest, in the column's length
        key = f"{purpose}:{user.id}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


async def reserve_reference(request: Request, purpose: str, user: AppUser, idempotency_key: str | None,
                            prefix: str) -> tuple[str, str]:
    """The registration's key (`registration_key`) and the reference reserved for it: the same one
    again for a repeated request."""
    key = registration_key(purpose, user, idempotency_key)
    today = case_today(datetime.now(timezone.utc))
    async with driver_connection(request.app.state.engine) as conn:
        return key, await repository.reserve_registration(conn, key, prefix, today)


async def release_reference(request: Request, key: str, reference: str) -> None:
    async with driver_connection(request.app.state.engine) as conn:
        await repository.release_registration(conn, key, reference)


async def start_registered(request: Request, session: AsyncSession, client: TemporalDep, settings: Settings,
                           start: Any, key: str, workflow_class: type[CaseWorkflow[Any]] = ComplaintCaseWorkflow,
                           undo: Callable[[], Awaitable[None]] | None = None, viewer: Viewer | None = None) -> Any:
    """Start a reserved case (`start_case`) and answer it, 201 (as `viewer` may read it: a
    partner's user gets the narrow view). If the workflow refuses it (PostgreSQL would not store
    it), nothing was registered: `undo` takes back what the route wrote for it, and the reference
    is not kept reserved."""
    try:
        state = await start_case(client, request.app.state.engine, settings.task_queue, start, workflow_class)
    except WorkflowUpdateFailedError as exc:
        refused = errors.from_update_failure(exc)
        if undo is not None:
            await undo()
        await release_reference(request, key, start.reference)
        raise refused from exc
    read = await read_case(request, session, start.reference) if state is None else case_from_state(request, state)
    if viewer is not None:
        read = await partner_view.shown_to(session, viewer, read)
    return read if state is None else case_json(read, status.HTTP_201_CREATED)


async def start_case(client: TemporalDep, engine: AsyncEngine, task_queue: str,
                     start: Any, workflow_class: type[CaseWorkflow[Any]] = ComplaintCaseWorkflow,
                     conn: psycopg.AsyncConnection | None = None) -> Any:
    """Start the case's workflow (once per reference) and wait until PostgreSQL shows it.

    Returns its state, or None when the workflow has already finished (a late retry); Temporal out
    of reach is a 503, an answer that did not come back a 504 (both to repeat). The case
    runs the newest behaviour, named in its input (no patch marker to record), and gets its first
    deadlines calculated here (`engine` reads the calendar's closures): its first workflow task
    then runs no deadline activity, and its deadline is among the search attributes it starts
    with, so registration upserts none. `workflow_class`: the kind's workflow (a complaint's by
    default), `start` its start payload; `conn`: a driver connection the caller holds, on which the
    calendar is read instead of on a second one from the pool (see schedules.compute_deadlines)."""
    if start.patch_set is None:
        start = start.model_copy(update={"patch_set": ALL_PATCHES})
    now = datetime.now(timezone.utc)
    state = workflow_class._initial_state(start, now)
    if start.schedule is None and CLOCK_PATCH in PATCH_SETS.get(start.patch_set or "", ()):
        policy = shared_policy(start.case_type.deadline_policy)
        schedule = await schedules.compute_deadlines(engine, deadlines_input(state, policy, now), conn)
        start = start.model_copy(update={"schedule": schedule})
        # The clock the workflow starts from these dates: what its search attributes show.
        state.clock = CaseClock(policy=policy, deadline=schedule.deadline, warning_on=schedule.warning_on)
    label = StagePlan.from_data(start.case_type.stages).first.label
    # One request starts the workflow and waits for registration, which the first workflow task
    # completes; a retry finds the running workflow (USE_EXISTING) and waits on it instead.
    operation = WithStartWorkflowOperation(
        cast(Any, workflow_class).run,  # each kind's own @workflow.run
        start,
        id=start.reference,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=search_attributes(state, label),
        static_summary=f"{start.reference} {start.case_type.name}",
    )
    try:
        return await client.execute_update_with_start_workflow(
            # The engine's Update, which the kind's workflow inherits (typed on the base class).
            workflow_class.wait_registered,
            start_workflow_operation=operation)
    except WorkflowAlreadyStartedError:
        return None
    except RPCError as exc:
        raise errors.registration_refused(exc, start.reference) from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise errors.registration_unconfirmed(start.reference) from exc


# ---- reads ----------------------------------------------------------------------------------


@router.get("", response_model=list[CaseListItem])
async def list_cases(
    session: SessionDep, user: CurrentUser, viewer: ViewerDep,
    status_: Annotated[str | None, Query(alias="status", pattern="^(open|closed)$")] = None,
    stage: str | None = None, team: str | None = None, assignee: str | None = None,
    case_type: str | None = None,
    overdue: bool | None = None,
    customer: Annotated[str | None, Query(description="cases about this customer (external_id)")] = None,
    lead: Annotated[str | None, Query(description="cases about this lead (external_id)")] = None,
    returned: Annotated[bool | None, Query(description="true: the returned cases queue (open cases sent "
                                                       "back to triage, to re-triage)")] = None,
    referred: Annotated[bool | None, Query(description="true: open cases referred to a manager")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=limits.MAX_OFFSET)] = 0,
) -> Any:
    """Cases you may see, newest first; `customer`, `lead`: those about that record. (Full search
    with export: /search/cases.)"""
    today = case_today(datetime.now(timezone.utc))
    # Overdue as search, exports and statistics mean it (not only the timer's flag).
    is_overdue = func.coalesce(overdue_cases(today), false()).label("is_overdue")
    stmt = (select(CaseRecord, is_overdue).where(visible_cases(viewer))
            .order_by(CaseRecord.registered_at.desc()))
    if status_:
        stmt = stmt.where(CaseRecord.status == status_)
    if stage:
        stmt = stmt.where(CaseRecord.stage == stage)
    if team:
        stmt = stmt.where(CaseRecord.team == team)
    if case_type:
        stmt = stmt.where(CaseRecord.case_type == case_type)
    if overdue is not None:
        stmt = stmt.where(overdue_cases(today) if overdue else not_overdue_cases(today))
    for flag, value in (("returned", returned), ("referred", referred)):
        if value is not None:
            sent_back = CaseRecord.details.contains({flag: True})
            stmt = stmt.where(and_(sent_back, CaseRecord.status == "open") if value else ~sent_back)
    for party_type, external_id in (("customer", customer), ("lead", lead)):
        if external_id:
            stmt = stmt.where(exists().where(CaseParty.case_reference == CaseRecord.reference,
                                             CaseParty.party_type == party_type,
                                             CaseParty.external_id == external_id))
    if assignee:
        person = await repository.get_user_by_username(session, assignee)
        stmt = stmt.where(CaseRecord.assignee_id == (person.id if person else -1))
    rows = (await session.execute(stmt.limit(limit).offset(offset))).all()
    # A partner's user is not told who on the staff side has a case (api/partner_view.py).
    hidden = {"team": None, "assignee_name": None} if viewer.partners is not None else {}
    return [CaseListItem.model_validate(row.CaseRecord).model_copy(update={"overdue": row.is_overdue, **hidden})
            for row in rows]


@router.get(CASE, response_model=CaseRead)
async def get_case(
    case: Annotated[AuthorisedCase, authorised_case()],
    request: Request,
    session: SessionDep,
) -> Any:
    """The case; a partner's user reads the narrow view (api/partner_view.py)."""
    return await partner_view.shown_to(session, case.viewer, await read_case(request, session, case.reference))


@router.get(CASE + "/timeline", response_model=list[TimelineRead])
async def get_timeline(
    case: Annotated[AuthorisedCase, authorised_case()], session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 200, offset: Annotated[int, Query(ge=0, le=limits.MAX_OFFSET)] = 0,
) -> Any:
    """Every stage change, allocation, note, document, letter, email and decision, newest first
    (a partner's user: only what a partner sees, without staff names)."""
    if case.viewer.partners is not None:
        colleagues = await partner_view.partner_users(session, case.viewer)
        return await partner_view.timeline(session, case.reference, colleagues, limit, offset)
    return await repository.timeline(session, case.reference, limit, offset)


# ---- steps every case takes -----------------------------------------------------------------


@router.post(CASE + "/allocate", response_model=CaseRead)
async def allocate(
    case: Annotated[CaseStep, authorised_step(CaseWorkflow.allocate)],
    body: AllocateRequest, request: Request) -> Any:
    """Allocate (or re-allocate, at any stage) to a team and optionally a person."""
    team, person = await team_and_person(request, body.team, body.assignee)
    payload = AllocateInput(actor=case.actor(), team=team.code,
                            assignee_id=person.id if person else None,
                            assignee_name=person.display_name if person else None, reason=body.reason)
    return await case.take(payload)


@router.post(CASE + "/documents", response_model=CaseRead)
async def add_document(
    case: Annotated[CaseStep, authorised_step(CaseWorkflow.add_document)],
    session: SessionDep, settings: SettingsDep, user: CurrentUser,
    file: Annotated[UploadFile, File(description="the document")],
    kind: Annotated[str, Form(pattern="^(attachment|draft)$")] = "attachment") -> Any:
    """Upload a document to the case; kind=draft adds a new version of the draft response."""
    # Authorised (by the dependency) before the file is stored: nothing is kept for a case the
    # user may not touch.
    ref = await store_upload(session, settings, user, file, kind,
                             keyed_document_id(case.reference, user.id, case.idempotency_key))
    payload = AddDocumentInput(actor=case.actor(), document=ref)
    return await case.take(payload)


@router.post(CASE + "/deliveries/{delivery_id}/confirm", response_model=CaseRead)
async def confirm_delivery(case: Annotated[CaseStep, authorised_step(CaseWorkflow.confirm_delivery)],
                           delivery_id: DeliveryId, body: DeliveryConfirmation) -> Any:
    """An email whose send was interrupted did arrive (checked with the recipient or the mail
    server's log): it is no longer awaiting confirmation."""
    return await case.take(ConfirmDeliveryInput(actor=case.actor(), delivery_id=delivery_id, note=body.note))


@router.post(CASE + "/deliveries/{delivery_id}/resend", response_model=CaseRead)
async def resend_delivery(case: Annotated[CaseStep, authorised_step(CaseWorkflow.resend_delivery)],
                          delivery_id: DeliveryId, body: ReasonBody) -> Any:
    """Send an email whose send was interrupted again, as a new email made from the same purpose."""
    return await case.take(ResendDeliveryInput(actor=case.actor(), delivery_id=delivery_id, reason=body.reason))


@router.post(CASE + "/close", response_model=CaseRead)
async def close_case(
    case: Annotated[CaseStep, authorised_step(CaseWorkflow.close)],
    body: CloseRequest) -> Any:
    """Close the case. Before the closure stage this is an early close and needs a note."""
    payload = CloseInput(actor=case.actor(), reason=body.reason, note=body.note)
    return await case.take(payload)


@router.post(CASE + "/complete-stage", response_model=CaseRead)
async def complete_stage(
    case: Annotated[CaseStep, authorised_step(CaseWorkflow.complete_stage)],
    body: OptionalNote) -> Any:
    """Finish an optional stage (clarification, contributions) once nothing is outstanding."""
    payload = CompleteStageInput(actor=case.actor(), note=body.note)
    return await case.take(payload)


@router.post(CASE + "/notes", response_model=CaseRead)
async def add_note(
    case: Annotated[CaseStep, authorised_step(CaseWorkflow.add_note)],
    body: NoteBody) -> Any:
    payload = NoteInput(actor=case.actor(), text=body.text)
    return await case.take(payload)


@router.patch(CASE + "/notes/{note_id}", response_model=CaseRead)
async def edit_note(
    case: Annotated[CaseStep, authorised_step(CaseWorkflow.edit_note)],
    note_id: NoteId, body: NoteBody) -> Any:
    """Edit a note; the editor and time are recorded and the previous text kept in the timeline."""
    payload = NoteEditInput(actor=case.actor(), note_id=note_id, text=body.text)
    return await case.take(payload)


@router.post(CASE + "/extend", response_model=CaseRead)
async def extend_deadline(
    case: Annotated[CaseStep, authorised_step(CaseWorkflow.extend_deadline)],
    body: ExtendRequest) -> Any:
    """Extend the response deadline by N working days from today or from the current deadline, with a
    reason. At most the case type's allowed number of times; never to an earlier date; stage deadlines
    follow."""
    payload = ExtendDeadlineInput(actor=case.actor(), anchor=body.from_, working_days=body.working_days,
                                  reason=body.reason)
    return await case.take(payload)


@router.post(CASE + "/change-type", response_model=CaseRead)
async def change_type(
    case: Annotated[CaseStep, authorised_step(CaseWorkflow.change_type)],
    body: ChangeTypeRequest, session: SessionDep) -> Any:
    """Change the case's type. Its deadlines are recomputed from the original date received under the
    new type's policy; the case carries on at the new plan's first stage of the same kind."""
    case_type = await repository.get_case_type(session, body.case_type)
    if case_type is None or not case_type.active:
        raise errors.unprocessable("case_type", f"unknown case type '{body.case_type}'")
    payload = ChangeTypeInput(actor=case.actor(), case_type=case_type_config(case_type), reason=body.reason)
    return await case.take(payload)


@router.post(CASE + "/escalate", status_code=status.HTTP_201_CREATED, response_model=CaseRead)
async def escalate(case: Annotated[AuthorisedCase, authorised_case(permission=ESCALATE, what="escalating a case")],
                   body: EscalateRequest, request: Request, session: SessionDep,
                   client: TemporalDep, settings: SettingsDep) -> Any:
    """Escalate a closed case into a linked stage-2 case (complainant and key fields copied).

    Escalating the same case again returns the existing stage-2 case.
    """
    reference = case.reference
    row = await repository.get_case(session, reference)
    if row is None:
        raise errors.not_found(f"case {reference}")
    if row.status != "closed":
        raise errors.stage_conflict(
            f"only a closed case can be escalated; {reference} is at stage '{row.stage_label}'",
            row.stage)
    case_type = await repository.get_case_type(session, row.case_type)
    assert case_type is not None  # a case's type is a foreign key
    if not case_type.escalation_type:
        raise errors.stage_conflict(f"case type {case_type.code} has no stage-2 type", row.stage)
    stage2 = await repository.get_case_type(session, case_type.escalation_type)
    if stage2 is None or not stage2.active:
        raise errors.stage_conflict(f"the stage-2 type {case_type.escalation_type} of {case_type.code} is "
                                    "retired; an administrator must set another", row.stage)
    children = await repository.case_children(session, reference, row.kind)
    today = case_today(datetime.now(timezone.utc))
    new_ref, _ = await repository.reserve_escalation(session, reference, stage2.reference_prefix, today)
    await session.commit()
    start = CaseStart(
        reference=new_ref,
        case_type=case_type_config(stage2),
        details=CaseDetails(channel=row.channel, category=row.category, severity=row.severity,
                            description=row.description, date_received=today),
        correspondents=[
            Correspondent(**{**attrs(c), "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{new_ref}/{c.id}"))})
            for c in children["correspondents"]
        ],
        parties=records.party_links(new_ref, {p.party_type: p.external_id for p in children["parties"]}),
        actor=case.actor(),
        escalated_from=reference,
        escalation_reason=body.reason,
        team=stage2.default_team,
    )
    state = await start_case(client, request.app.state.engine, settings.task_queue, start)
    if state is None:  # a late retry: the stage-2 case has already finished
        await session.rollback()
        return await read_case(request, session, new_ref)
    return case_from_state(request, state)
