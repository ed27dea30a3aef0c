"""Case endpoints. Reads come from PostgreSQL; every change goes through a workflow Update.

A case reference such as COMP/000123/26 is addressed as /cases/COMP/000123/26.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote
from datetime import datetime, timezone
from functools import cache
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import (WithStartWorkflowOperation, WorkflowUpdateFailedError,
                             WorkflowUpdateRPCTimeoutOrCancelledError)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.workflow import UpdateMethodMultiParam, _UpdateDefinition

from api import errors
from api.deps import (
    CASE_PATH,
    CaseRef,
    ClarificationId,
    ContributionId,
    CurrentUser,
    IdempotencyKey,
    NoteId,
    SessionDep,
    SettingsDep,
    TemporalDep,
    ViewerDep,
    get_viewer,
    cached_lookup,
    actor_of,
    require_role,
)
from api.schemas.cases import (AllocateRequest, CaseCreate, CaseListItem, CaseRead, ChangeTypeRequest,
                               CloseRequest, EscalateRequest, ExtendRequest, NoteBody, OptionalNote,
                               ReasonBody, TimelineRead)
from api.schemas.complaint import (AcknowledgeRequest, ClarificationReply, ClarificationRequest,
                                   ContributionComplete, ContributionRequest, DraftResponseRequest,
                                   HoldingResponseRequest, OutcomeRequest, SendRequest)
from casework.documents import pdf, standard_lines, template_library
from casework.cases import repository
from casework.calendar import schedules
from casework.calendar.deadlines import case_today
from casework.cases.contracts import (
    AcknowledgeInput,
    Actor,
    AddDocumentInput,
    AllocateInput,
    CaseClock,
    CaseDetails,
    CaseStart,
    CaseState,
    CaseTypeConfig,
    ChangeTypeInput,
    Channel,
    ChosenLine,
    ClarificationReplyInput,
    ClarificationRequestInput,
    CloseInput,
    CompleteStageInput,
    ContributionCancelInput,
    ContributionCompleteInput,
    ContributionRequestInput,
    Correspondent,
    DocumentRef,
    ExtendDeadlineInput,
    DraftSource,
    HoldingResponseInput,
    NoteEditInput,
    NoteInput,
    OutcomeInput,
    QaDecisionInput,
    SendResponseInput,
    StepInput,
    SubmitDraftInput,
)
from casework.platform.db import AppUser, CaseDocument, CaseType, ComplaintCase, Team, driver_connection
from casework.documents.store import DOCX, store_blob
from casework.documents.rendering import TemplateError
from casework.cases.stages import StagePlan
from casework.kinds.complaint.rules import (ACTION_ROLES, ESCALATE_ROLES, REGISTER_ROLES, Action, Role,
                                            allowed_actions, blocked_stages)
from casework.cases.visibility import Viewer, may_see_case, visible_cases
from workflows.complaint import (ALL_PATCHES, CLOCK_PATCH, PATCH_SETS, ComplaintCaseWorkflow, deadlines_input,
                                 initial_state, search_attributes, shared_policy)

router = APIRouter(prefix="/cases", tags=["cases"])
CASE = CASE_PATH

ALLOWED_UPLOAD_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".doc": "application/msword",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".eml": "message/rfc822",
}
# A draft response is printed for the post room or sent as a PDF, so it must be one of these.
DRAFT_TYPES = (".docx", ".odt", ".pdf")


def case_type_config(row: CaseType) -> CaseTypeConfig:
    return CaseTypeConfig(
        code=row.code, name=row.name, reference_prefix=row.reference_prefix, stages=row.stages,
        outcome_options=row.outcome_options, close_reasons=row.close_reasons,
        escalation_type=row.escalation_type, deadline_policy=row.deadline_policy,
    )


def ui_url(request: Request, reference: str) -> str | None:
    settings = request.app.state.settings
    if not settings.temporal_ui_port:
        return None
    return (f"http://localhost:{settings.temporal_ui_port}/namespaces/"
            f"{settings.temporal_namespace}/workflows/{quote(reference, safe='')}")


async def read_case(request: Request, session: SessionDep, reference: str) -> CaseRead:
    """The case as PostgreSQL has it."""
    row = await repository.get_case(session, reference)
    if row is None:
        raise errors.not_found(f"case {reference}")
    case_type = await repository.get_case_type(session, row.case_type)
    children = await repository.case_children(session, reference)
    return assemble_case_read(request, _attrs(row), case_type.name,
                              StagePlan.from_data(case_type.stages), **children)


def case_from_state(request: Request, state: CaseState) -> CaseRead:
    """The case as the workflow returned it from a step: the same view without re-reading it."""
    core = {**repository.case_row(state), "escalated_to": None}
    return assemble_case_read(
        request, core, state.case_type.name, StagePlan.from_data(state.case_type.stages),
        correspondents=state.correspondents, documents=state.documents,
        clarifications=state.clarifications, contributions=state.contributions, notes=state.notes)


def case_json(case: CaseRead, status_code: int = status.HTTP_200_OK) -> Response:
    """The case serialised once. Returned as a model, FastAPI would validate it again against the
    route's response_model (which stays on the route for /docs) before serialising it."""
    return Response(case.model_dump_json(), status_code=status_code, media_type="application/json")


def assemble_case_read(request: Request, core: dict[str, Any], case_type_name: str, plan: StagePlan, *,
                       correspondents: list, documents: list, clarifications: list,
                       contributions: list, notes: list) -> CaseRead:
    today = case_today(datetime.now(timezone.utc))
    blocked = blocked_stages(
        plan,
        waiting_for_reply=any(c.reply is None and c.reply_by >= today for c in clarifications),
        open_contribution=any(c.status == "open" for c in contributions),
    )
    actions = [] if core["status"] == "closed" else allowed_actions(plan, core["stage"], blocked)
    stage_kind = plan.get(core["stage"]).kind.value if core["status"] != "closed" else None
    return CaseRead.model_validate({
        **core,
        "paused_intervals": core.get("clock_pauses") or [],
        "extensions": core.get("deadline_extensions") or [],
        "stage_deadline": (core.get("stage_deadlines") or {}).get(stage_kind) if stage_kind else None,
        "case_type_name": case_type_name,
        "allowed_actions": actions,
        "correspondents": [_fields(c) for c in correspondents],
        "documents": [{**_fields(d), "download_url": f"/documents/{d.id}"} for d in documents],
        "clarifications": [_fields(c) for c in clarifications],
        "contributions": [{**_fields(c), "overdue": c.status == "open" and c.due_date < today}
                          for c in contributions],
        "notes": [_fields(n) for n in notes],
        "workflow_id": core["reference"],
        "temporal_ui_url": ui_url(request, core["reference"]),
    })


def _fields(item: Any) -> dict[str, Any]:
    return item.model_dump() if isinstance(item, BaseModel) else _attrs(item)


def _attrs(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


# ---- registration ---------------------------------------------------------------------------


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseRead)
async def register_case(
    body: CaseCreate, request: Request, session: SessionDep, client: TemporalDep,
    settings: SettingsDep, user: CurrentUser, idempotency_key: IdempotencyKey = None,
) -> Any:
    """Register a complaint. Returns the case with its reference, which is also its workflow id."""
    require_role(user, REGISTER_ROLES, "registering a case")
    case_type = await cached_lookup(request, ("case_type", body.case_type),
                                     lambda s: repository.get_case_type(s, body.case_type))
    if case_type is None or not case_type.active:
        raise errors.unprocessable("case_type", f"unknown case type '{body.case_type}'")
    uploads = await repository.claim_uploads(session, body.attachment_ids)
    if len(uploads) != len(body.attachment_ids):
        missing = set(body.attachment_ids) - {u.id for u in uploads}
        raise errors.unprocessable("attachment_ids", f"unknown or already attached uploads: {sorted(missing)}")
    key = f"register:{user.id}:{idempotency_key or uuid.uuid4()}"
    today = case_today(datetime.now(timezone.utc))
    async with driver_connection(request.app.state.engine) as conn:
        reference = await repository.reserve_registration(conn, key, case_type.reference_prefix, today)
    start = CaseStart(
        reference=reference,
        case_type=case_type_config(case_type),
        details=CaseDetails(channel=body.channel, category=body.category, severity=body.severity,
                            description=body.description, date_received=body.date_received),
        correspondents=[Correspondent(id=str(uuid.uuid4()), **c.model_dump())
                        for c in body.correspondents],
        attachments=[_document_ref(u, "attachment") for u in uploads],
        actor=actor_of(user),
    )
    try:
        state = await start_case(client, request.app.state.engine, settings.task_queue, start)
    except RPCError as exc:
        raise errors.registration_refused(exc, reference) from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise errors.registration_unconfirmed(reference) from exc
    if state is None:
        return await read_case(request, session, reference)
    return case_json(case_from_state(request, state), status.HTTP_201_CREATED)


def _document_ref(row: CaseDocument, kind: str) -> DocumentRef:
    return DocumentRef(id=row.id, kind=kind, filename=row.filename, content_type=row.content_type,
                       size=row.size, sha256=row.sha256, added_by=row.added_by, added_at=row.added_at)


async def start_case(client: TemporalDep, engine: AsyncEngine, task_queue: str,
                     start: CaseStart) -> CaseState | None:
    """Start the case's workflow (once per reference) and wait until PostgreSQL shows it.

    Returns its state, or None when the workflow has already finished (a late retry). The case
    runs the newest behaviour, named in its input (no patch marker to record), and gets its first
    deadlines calculated here (`engine` reads the calendar's closures): its first workflow task
    then runs no deadline activity, and its deadline is among the search attributes it starts
    with, so registration upserts none."""
    if start.patch_set is None:
        start = start.model_copy(update={"patch_set": ALL_PATCHES})
    now = datetime.now(timezone.utc)
    state = initial_state(start, now)
    if start.schedule is None and CLOCK_PATCH in PATCH_SETS.get(start.patch_set, ()):
        policy = shared_policy(start.case_type.deadline_policy)
        schedule = await schedules.compute_deadlines(engine, deadlines_input(state, policy, now))
        start = start.model_copy(update={"schedule": schedule})
        # The clock the workflow starts from these dates: what its search attributes show.
        state.clock = CaseClock(policy=policy, deadline=schedule.deadline, warning_on=schedule.warning_on)
    label = StagePlan.from_data(start.case_type.stages).first.label
    # One request starts the workflow and waits for registration, which the first workflow task
    # completes; a retry finds the running workflow (USE_EXISTING) and waits on it instead.
    operation = WithStartWorkflowOperation(
        ComplaintCaseWorkflow.run,
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
            ComplaintCaseWorkflow.wait_registered, start_workflow_operation=operation)
    except WorkflowAlreadyStartedError:
        return None


# ---- reads ----------------------------------------------------------------------------------


@router.get("", response_model=list[CaseListItem])
async def list_cases(
    session: SessionDep, user: CurrentUser, viewer: ViewerDep,
    status_: Annotated[str | None, Query(alias="status", pattern="^(open|closed)$")] = None,
    stage: str | None = None, team: str | None = None, assignee: str | None = None,
    case_type: str | None = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    """Cases you may see, newest first. (Full search with export: /search/cases.)"""
    stmt = select(ComplaintCase).where(visible_cases(viewer)).order_by(ComplaintCase.registered_at.desc())
    if status_:
        stmt = stmt.where(ComplaintCase.status == status_)
    if stage:
        stmt = stmt.where(ComplaintCase.stage == stage)
    if team:
        stmt = stmt.where(ComplaintCase.team == team)
    if case_type:
        stmt = stmt.where(ComplaintCase.case_type == case_type)
    if overdue is not None:
        stmt = stmt.where(ComplaintCase.overdue.is_(overdue))
    if assignee:
        person = await repository.get_user_by_username(session, assignee)
        stmt = stmt.where(ComplaintCase.assignee_id == (person.id if person else -1))
    return list((await session.scalars(stmt.limit(limit).offset(offset))).all())


async def ensure_visible(session: SessionDep, viewer: Viewer, reference: str) -> None:
    """404 for a case that does not exist and for one the user may not see alike."""
    if not await may_see_case(session, viewer, reference):
        raise errors.not_found(f"case {reference}")


@router.get(CASE, response_model=CaseRead)
async def get_case(reference: CaseRef, request: Request, session: SessionDep,
                   viewer: ViewerDep) -> Any:
    await ensure_visible(session, viewer, reference)
    return await read_case(request, session, reference)


@router.get(CASE + "/timeline", response_model=list[TimelineRead])
async def get_timeline(
    reference: CaseRef, session: SessionDep, viewer: ViewerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 200, offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    """Every stage change, allocation, note, document, letter, email and decision, newest first."""
    await ensure_visible(session, viewer, reference)
    return await repository.timeline(session, reference, limit, offset)


# ---- steps ----------------------------------------------------------------------------------

# A route names its step by the case workflow's Update method (ComplaintCaseWorkflow.allocate),
# never by a string: the action authorised is that Update's name, so a route cannot authorise one
# action and apply another, and a renamed or removed Update fails where it is used.
StepIn = TypeVar("StepIn", bound=StepInput)
# A case workflow's step: an Update method taking the step's input and answering the case's state.
Step = UpdateMethodMultiParam[[Any, StepIn], CaseState]


@cache
def update_name(step: Step) -> str:
    """The name Temporal records for the step's Update, resolved as the client resolves it."""
    if not isinstance(step, UpdateMethodMultiParam):
        raise TypeError(f"{step!r} is not a workflow Update method")
    name, _ = _UpdateDefinition.get_name_and_result_type(step)
    return name


@cache
def action_of(step: Step) -> Action:
    """The action a step is, for the role check: the Update's name (every step's Update is named
    after its action)."""
    return Action(update_name(step))


async def run_step(
    request: Request, client: TemporalDep, user: AppUser,
    reference: str, step: Step[StepIn], payload: StepIn, idempotency_key: str | None,
) -> Response:
    """The one wrapper every step goes through: role (403), then the workflow Update, whose
    validator decides 404 (a case the user may not see), 409, 422 or 403; a missing case is 404
    and a finished one 409. No database session: a step that needs none before its Update
    (most do) does not open one."""
    await authorise_step(request, user, reference, step, actor=payload.actor)
    return await apply_step(request, client, reference, step, payload, idempotency_key)


async def authorise_step(request: Request, user: AppUser, reference: str, step: Step, *,
                         actor: Actor | None = None, session: AsyncSession | None = None) -> None:
    """403 if the user's role may not take `step`; 404 if they may not see the case.

    Given the step's `actor`, visibility travels with it and the workflow applies it to the case
    as it is (no query here). Without one the caller is about to do work before the step (store
    an upload) and needs the answer now, from PostgreSQL."""
    action = action_of(step)
    viewer = await get_viewer(request, user)
    if actor is not None:
        actor.sight = viewer.sight()
    else:
        if session is None:
            raise TypeError("a step authorised without its actor needs a session to check visibility")
        await ensure_visible(session, viewer, reference)
    require_role(user, ACTION_ROLES[action], f"'{action.value}'")


async def apply_step(request: Request, client: TemporalDep, reference: str, step: Step[StepIn],
                     payload: StepIn, idempotency_key: str | None) -> Response:
    """Call the workflow Update; the Idempotency-Key is its id, so a retry has one effect."""
    update_id = f"{update_name(step)}:{idempotency_key}" if idempotency_key else None
    handle = client.get_workflow_handle(reference)
    try:
        state = await handle.execute_update(step, payload, id=update_id)
    except WorkflowUpdateFailedError as exc:
        raise errors.from_update_failure(exc) from exc
    except RPCError as exc:
        raise errors.from_rpc_error(exc, reference) from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise errors.update_unconfirmed(reference) from exc
    return case_json(case_from_state(request, state))


async def _member(session: AsyncSession, team: str, user_id: int) -> bool | None:
    # True or None: a membership is kept in the cache, its absence is asked again next time.
    return True if await repository.is_team_member(session, team, user_id) else None


async def _team_and_person(request: Request, team: str, username: str | None,
                           field_prefix: str = "") -> tuple[Team, AppUser | None]:
    """The team and person a case or a contribution goes to, checked (422 naming the field).
    Teams, users and memberships come from the short-lived cache: allocation asks on every case."""
    team_row = await cached_lookup(request, ("team", team), lambda s: repository.get_team(s, team))
    if team_row is None:
        raise errors.unprocessable(f"{field_prefix}team", f"unknown team '{team}'")
    if username is None:
        return team_row, None
    person = await cached_lookup(request, ("user", username),
                                 lambda s: repository.get_user_by_username(s, username))
    if person is None or not person.active:
        raise errors.unprocessable(f"{field_prefix}assignee", f"unknown user '{username}'")
    if not await cached_lookup(request, ("member", team, person.id), lambda s: _member(s, team, person.id)):
        raise errors.unprocessable(f"{field_prefix}assignee", f"'{username}' is not a member of team '{team}'")
    return team_row, person


@router.post(CASE + "/allocate", response_model=CaseRead)
async def allocate(reference: CaseRef, body: AllocateRequest, request: Request,
                   client: TemporalDep, user: CurrentUser,
                   idempotency_key: IdempotencyKey = None) -> Any:
    """Allocate (or re-allocate, at any stage) to a team and optionally a person."""
    team, person = await _team_and_person(request, body.team, body.assignee)
    payload = AllocateInput(actor=actor_of(user), team=team.code,
                            assignee_id=person.id if person else None,
                            assignee_name=person.display_name if person else None, reason=body.reason)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.allocate, payload, idempotency_key)


@router.post(CASE + "/acknowledge", response_model=CaseRead)
async def acknowledge(reference: CaseRef, body: AcknowledgeRequest,
                      request: Request, client: TemporalDep,
                      user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    """Send the acknowledgement by letter (.docx) or email."""
    payload = AcknowledgeInput(actor=actor_of(user), channel=body.channel)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.acknowledge, payload, idempotency_key)


@router.post(CASE + "/clarifications", response_model=CaseRead)
async def request_clarification(reference: CaseRef, body: ClarificationRequest,
                                request: Request, client: TemporalDep,
                                user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    """Ask the complainant for more information (repeatable)."""
    payload = ClarificationRequestInput(actor=actor_of(user), channel=body.channel,
                                        questions=body.questions, reply_by=body.reply_by)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.request_clarification, payload,
                          idempotency_key)


@router.post(CASE + "/clarifications/{clarification_id}/reply", response_model=CaseRead)
async def record_clarification_reply(
    reference: CaseRef, clarification_id: ClarificationId, body: ClarificationReply,
    request: Request, session: SessionDep, client: TemporalDep, user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Record the complainant's reply to a clarification request, with any files they sent
    (upload them first with POST /uploads and pass the upload_ids)."""
    # No date given: the workflow uses today by its own clock (the case clock restarts on that day).
    attachments = await _reply_attachments(session, reference, body.attachment_ids,
                                           "clarification_reply")
    payload = ClarificationReplyInput(actor=actor_of(user), clarification_id=clarification_id,
                                      reply=body.reply, received_on=body.received_on,
                                      attachments=attachments)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.record_clarification_reply, payload,
                          idempotency_key)


@router.post(CASE + "/contributions", response_model=CaseRead)
async def request_contribution(reference: CaseRef, body: ContributionRequest,
                               request: Request, client: TemporalDep,
                               user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    """Ask another team or person for input, with a due date. The request goes by email to the
    person asked (or the team's address), by letter, or (channel null) is only recorded."""
    team, person = await _team_and_person(request, body.team, body.assignee)
    person_name = person.display_name if person else None
    recipient_email = (person.email if person else None) or team.email
    if body.channel is Channel.EMAIL and not recipient_email:
        raise errors.unprocessable("channel", f"team {team.code} has no email address (nor has the "
                                   "person asked); send by letter")
    payload = ContributionRequestInput(actor=actor_of(user), team=team.code,
                                       assignee_id=person.id if person else None,
                                       assignee_name=person_name, request=body.request,
                                       due_date=body.due_date, channel=body.channel,
                                       team_name=team.name,
                                       recipient_name=person_name or team.name,
                                       recipient_email=recipient_email)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.request_contribution, payload,
                          idempotency_key)


@router.post(CASE + "/contributions/{contribution_id}/complete", response_model=CaseRead)
async def complete_contribution(
    reference: CaseRef, contribution_id: ContributionId, body: ContributionComplete,
    request: Request, session: SessionDep, client: TemporalDep, user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Record the contribution received, with any files that came with it (upload_ids)."""
    attachments = await _reply_attachments(session, reference, body.attachment_ids,
                                           "contribution_reply")
    payload = ContributionCompleteInput(actor=actor_of(user), contribution_id=contribution_id,
                                        details=body.details, attachments=attachments)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.complete_contribution, payload,
                          idempotency_key)


@router.post(CASE + "/contributions/{contribution_id}/cancel", response_model=CaseRead)
async def cancel_contribution(
    reference: CaseRef, contribution_id: ContributionId, body: ReasonBody,
    request: Request, client: TemporalDep, user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    payload = ContributionCancelInput(actor=actor_of(user), contribution_id=contribution_id,
                                      reason=body.reason)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.cancel_contribution, payload,
                          idempotency_key)


@router.post(CASE + "/documents", response_model=CaseRead)
async def add_document(
    reference: CaseRef, request: Request, session: SessionDep,
    client: TemporalDep, settings: SettingsDep, user: CurrentUser,
    file: Annotated[UploadFile, File(description="the document")],
    kind: Annotated[str, Form(pattern="^(attachment|draft)$")] = "attachment",
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Upload a document to the case; kind=draft adds a new version of the draft response."""
    step = ComplaintCaseWorkflow.add_document
    # Checked before the file is stored, so nothing is kept for a case the user may not touch.
    await authorise_step(request, user, reference, step, session=session)
    ref = await store_upload(session, settings, user, file, kind)
    payload = AddDocumentInput(actor=actor_of(user), document=ref)
    return await apply_step(request, client, reference, step, payload, idempotency_key)


async def store_upload(session: SessionDep, settings: SettingsDep, user: AppUser,
                       file: UploadFile, kind: str) -> DocumentRef:
    filename = (file.filename or "").rsplit("/", 1)[-1].strip()
    suffix = ("." + filename.rsplit(".", 1)[-1].lower()) if "." in filename else ""
    if suffix not in ALLOWED_UPLOAD_TYPES:
        raise errors.unprocessable("file", f"file type '{suffix or filename}' is not allowed; use one of "
                                   f"{', '.join(sorted(ALLOWED_UPLOAD_TYPES))}")
    if kind == "draft" and suffix not in DRAFT_TYPES:
        raise errors.unprocessable("file", f"a draft response must be {', '.join(DRAFT_TYPES)} "
                                   f"(it is printed or sent as a PDF), not '{suffix}'")
    limit = settings.max_draft_bytes if kind == "draft" else settings.max_upload_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise errors.unprocessable("file", f"file is larger than {limit} bytes")
    if not content:
        raise errors.unprocessable("file", "file is empty")
    if kind == "draft":
        try:
            await asyncio.to_thread(pdf.check_printable, content, ALLOWED_UPLOAD_TYPES[suffix])
        except pdf.PdfError as exc:
            raise errors.unprocessable("file", str(exc)) from exc
    digest = await store_blob(session, content)
    await session.commit()
    return DocumentRef(id=str(uuid.uuid4()), kind=kind, filename=filename,
                       content_type=ALLOWED_UPLOAD_TYPES[suffix], size=len(content), sha256=digest,
                       added_by=user.display_name, added_at=datetime.now(timezone.utc))


async def _reply_attachments(session: SessionDep, reference: str, upload_ids: list[str],
                             purpose: str) -> list[DocumentRef]:
    """Uploads sent with a reply, as case documents. Uploads already on this case are accepted so
    a retried request (same Idempotency-Key) gets the same answer rather than a 422."""
    uploads = await repository.claim_uploads(session, upload_ids, also_on_case=reference)
    if len(uploads) != len(upload_ids):
        missing = set(upload_ids) - {u.id for u in uploads}
        raise errors.unprocessable("attachment_ids", f"unknown or already attached uploads: {sorted(missing)}")
    return [_document_ref(u, "attachment").model_copy(update={"purpose": purpose}) for u in uploads]


@router.post(CASE + "/draft-response", response_model=CaseRead)
async def generate_draft_response(
    reference: CaseRef, body: DraftResponseRequest, request: Request,
    session: SessionDep, client: TemporalDep, settings: SettingsDep, user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Generate the draft response: the response letter template, the chosen standard lines and the
    case's data make a .docx, added as the next draft version. Download it, edit it in Word or
    LibreOffice and upload it back (POST documents, kind=draft) as the version after it."""
    step = ComplaintCaseWorkflow.add_document
    # Checked before anything is rendered or stored: 404 for a case the user may not see.
    await authorise_step(request, user, reference, step, session=session)
    require_role(user, frozenset({Role.DRAFTER}), "generating a draft response")
    row = await repository.get_case(session, reference)
    if row.status == "closed":
        raise errors.stage_conflict(f"case {reference} is closed; a draft cannot be generated", "closed")
    today = case_today(datetime.now(timezone.utc))
    try:
        lines = await standard_lines.choose(session, body.standard_line_ids, today)
    except standard_lines.LineRefused as exc:
        raise errors.unprocessable(exc.field, exc.message) from exc
    context = await template_library.context_for_case(session, reference,
                                                      sender_name=user.display_name, today=today)
    context = template_library.with_purpose_values("response", context, {"response": {
        "summary": body.summary or "",
        "standard_lines": [{"topic": line.topic, "category": line.category, "text": line.text}
                           for line in lines],
    }})
    try:
        template = await template_library.resolve(session, settings.templates_dir, "response",
                                                  Channel.LETTER, row.case_type)
        content = await asyncio.to_thread(template.render_letter, context)
    except template_library.TemplateMissing as exc:
        raise errors.unprocessable("template", str(exc)) from exc
    except TemplateError as exc:
        raise errors.template_refused("template", exc) from exc
    digest = await store_blob(session, content)
    await session.commit()
    # The same Idempotency-Key makes the same document, so a retried request adds one version.
    doc_id = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference}/draft-response/{user.id}/{idempotency_key}"))
              if idempotency_key else str(uuid.uuid4()))
    document = DocumentRef(
        id=doc_id, kind="draft", filename=f"{reference.replace('/', '-')}-draft-response.docx",
        content_type=DOCX, size=len(content), sha256=digest, purpose="response",
        added_by=user.display_name, added_at=datetime.now(timezone.utc))
    source = DraftSource(template=template.ref, standard_lines=[
        ChosenLine(id=line.id, category=line.category, topic=line.topic) for line in lines])
    payload = AddDocumentInput(actor=actor_of(user), document=document, generated_from=source)
    return await run_step(request, client, user, reference, step, payload, idempotency_key)


@router.post(CASE + "/submit-draft", response_model=CaseRead)
async def submit_draft(reference: CaseRef, body: OptionalNote, request: Request,
                       client: TemporalDep, user: CurrentUser,
                       idempotency_key: IdempotencyKey = None) -> Any:
    """Submit the latest draft response for quality assurance (a draft document is required)."""
    payload = SubmitDraftInput(actor=actor_of(user), note=body.note)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.submit_draft, payload, idempotency_key)


@router.post(CASE + "/qa/approve", response_model=CaseRead)
async def approve_draft(reference: CaseRef, body: OptionalNote, request: Request,
                        client: TemporalDep, user: CurrentUser,
                        idempotency_key: IdempotencyKey = None) -> Any:
    """Approve the draft (the reviewer may not be its drafter)."""
    payload = QaDecisionInput(actor=actor_of(user), approved=True, reason=body.note)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.approve_draft, payload, idempotency_key)


@router.post(CASE + "/qa/reject", response_model=CaseRead)
async def reject_draft(reference: CaseRef, body: ReasonBody, request: Request,
                       client: TemporalDep, user: CurrentUser,
                       idempotency_key: IdempotencyKey = None) -> Any:
    """Reject the draft with a reason; the case goes back to drafting."""
    payload = QaDecisionInput(actor=actor_of(user), approved=False, reason=body.reason)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.reject_draft, payload, idempotency_key)


@router.post(CASE + "/send", response_model=CaseRead)
async def send_response(reference: CaseRef, body: SendRequest, request: Request,
                        client: TemporalDep, user: CurrentUser,
                        idempotency_key: IdempotencyKey = None) -> Any:
    """Send the approved response by email (attached) or letter; channel and date are recorded."""
    payload = SendResponseInput(actor=actor_of(user), channel=body.channel,
                                sent_on=body.sent_on or case_today(datetime.now(timezone.utc)))
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.send_response, payload, idempotency_key)


@router.post(CASE + "/holding-response", response_model=CaseRead)
async def send_holding_response(reference: CaseRef, body: HoldingResponseRequest,
                                request: Request, client: TemporalDep,
                                user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    """Tell the complainant, by letter or email, why the final response is late and when to expect
    it (the FCA's holding response at the deadline). Allowed from acknowledgement until the final
    response is sent; the deadline itself does not move (extend it for that)."""
    payload = HoldingResponseInput(actor=actor_of(user), channel=body.channel, reason=body.reason,
                                   new_due_date=body.new_due_date)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.send_holding_response, payload, idempotency_key)


@router.post(CASE + "/outcome", response_model=CaseRead)
async def record_outcome(reference: CaseRef, body: OutcomeRequest,
                         request: Request, client: TemporalDep,
                         user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    payload = OutcomeInput(actor=actor_of(user), outcome=body.outcome, detail=body.detail,
                           redress_amount=body.redress_amount)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.record_outcome, payload, idempotency_key)


@router.post(CASE + "/close", response_model=CaseRead)
async def close_case(reference: CaseRef, body: CloseRequest, request: Request,
                     client: TemporalDep, user: CurrentUser,
                     idempotency_key: IdempotencyKey = None) -> Any:
    """Close the case. Before the closure stage this is an early close and needs a note."""
    payload = CloseInput(actor=actor_of(user), reason=body.reason, note=body.note)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.close, payload, idempotency_key)


@router.post(CASE + "/complete-stage", response_model=CaseRead)
async def complete_stage(reference: CaseRef, body: OptionalNote,
                         request: Request, client: TemporalDep,
                         user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    """Finish an optional stage (clarification, contributions) once nothing is outstanding."""
    payload = CompleteStageInput(actor=actor_of(user), note=body.note)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.complete_stage, payload, idempotency_key)


@router.post(CASE + "/notes", response_model=CaseRead)
async def add_note(reference: CaseRef, body: NoteBody, request: Request,
                   client: TemporalDep, user: CurrentUser,
                   idempotency_key: IdempotencyKey = None) -> Any:
    payload = NoteInput(actor=actor_of(user), text=body.text)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.add_note, payload, idempotency_key)


@router.patch(CASE + "/notes/{note_id}", response_model=CaseRead)
async def edit_note(reference: CaseRef, note_id: NoteId, body: NoteBody,
                    request: Request, client: TemporalDep, user: CurrentUser,
                    idempotency_key: IdempotencyKey = None) -> Any:
    """Edit a note; the editor and time are recorded and the previous text kept in the timeline."""
    payload = NoteEditInput(actor=actor_of(user), note_id=note_id, text=body.text)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.edit_note, payload, idempotency_key)


@router.post(CASE + "/extend", response_model=CaseRead)
async def extend_deadline(reference: CaseRef, body: ExtendRequest, request: Request,
                          client: TemporalDep, user: CurrentUser,
                          idempotency_key: IdempotencyKey = None) -> Any:
    """Extend the response deadline by N working days from today or from the current deadline, with a
    reason. At most the case type's allowed number of times; never to an earlier date; stage deadlines
    follow."""
    payload = ExtendDeadlineInput(actor=actor_of(user), anchor=body.from_, working_days=body.working_days,
                                  reason=body.reason)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.extend_deadline, payload, idempotency_key)


@router.post(CASE + "/change-type", response_model=CaseRead)
async def change_type(reference: CaseRef, body: ChangeTypeRequest, request: Request,
                      session: SessionDep, client: TemporalDep, user: CurrentUser,
                      idempotency_key: IdempotencyKey = None) -> Any:
    """Change the case's type. Its deadlines are recomputed from the original date received under the
    new type's policy; the case carries on at the new plan's first stage of the same kind."""
    case_type = await repository.get_case_type(session, body.case_type)
    if case_type is None or not case_type.active:
        raise errors.unprocessable("case_type", f"unknown case type '{body.case_type}'")
    payload = ChangeTypeInput(actor=actor_of(user), case_type=case_type_config(case_type), reason=body.reason)
    return await run_step(request, client, user, reference,
                          ComplaintCaseWorkflow.change_type, payload, idempotency_key)


@router.post(CASE + "/escalate", status_code=status.HTTP_201_CREATED, response_model=CaseRead)
async def escalate(reference: CaseRef, body: EscalateRequest, request: Request,
                   session: SessionDep, client: TemporalDep, settings: SettingsDep,
                   user: CurrentUser) -> Any:
    """Escalate a closed case into a linked stage-2 case (complainant and key fields copied).

    Escalating the same case again returns the existing stage-2 case.
    """
    row = await repository.get_case(session, reference)
    if row is None:
        raise errors.not_found(f"case {reference}")
    require_role(user, ESCALATE_ROLES, "escalating a case")
    if row.status != "closed":
        raise errors.stage_conflict(
            f"only a closed case can be escalated; {reference} is at stage '{row.stage_label}'",
            row.stage)
    case_type = await repository.get_case_type(session, row.case_type)
    if not case_type.escalation_type:
        raise errors.stage_conflict(f"case type {case_type.code} has no stage-2 type", row.stage)
    stage2 = await repository.get_case_type(session, case_type.escalation_type)
    children = await repository.case_children(session, reference)
    today = case_today(datetime.now(timezone.utc))
    new_ref, _ = await repository.reserve_escalation(session, reference, stage2.reference_prefix, today)
    await session.commit()
    start = CaseStart(
        reference=new_ref,
        case_type=case_type_config(stage2),
        details=CaseDetails(channel=row.channel, category=row.category, severity=row.severity,
                            description=row.description, date_received=today),
        correspondents=[
            Correspondent(**{**_attrs(c), "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{new_ref}/{c.id}"))})
            for c in children["correspondents"]
        ],
        actor=actor_of(user),
        escalated_from=reference,
        escalation_reason=body.reason,
    )
    state = await start_case(client, request.app.state.engine, settings.task_queue, start)
    if state is None:  # a late retry: the stage-2 case has already finished
        await session.rollback()
        return await read_case(request, session, new_ref)
    return case_from_state(request, state)
