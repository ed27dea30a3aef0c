"""ComplaintCaseWorkflow: one durable workflow per case, walking its case type's stage plan.

The workflow is the only writer of case state. Human steps are Updates whose validators reject a
step that is not allowed now *before* anything is written to history; the API turns the rejection
into 409 (wrong stage), 422 (invalid field) or 403 (not yours to take). Each accepted step changes
the in-memory state, then one activity writes the PostgreSQL projection and the timeline in one
transaction. No I/O happens here.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from casework.cases.search_attributes import (CASE_ASSIGNEE, CASE_DEADLINE, CASE_OVERDUE, CASE_REFERENCE,
                                                  CASE_STAGE, CASE_STATUS, CASE_TEAM, CASE_TYPE)
    from casework.cases.contracts import (
        AcknowledgeInput,
        Actor,
        AddDocumentInput,
        AllocateInput,
        CalendarChange,
        CaseClock,
        CaseStart,
        CaseState,
        CaseStatus,
        CaseTypeConfig,
        CaseSummary,
        Channel,
        Clarification,
        ClarificationReplyInput,
        ClarificationRequestInput,
        ChangeTypeInput,
        ClockPause,
        CloseInput,
        CompleteStageInput,
        ComputeDeadlinesInput,
        ComputeDeadlinesResult,
        Contribution,
        ContributionCancelInput,
        ContributionCompleteInput,
        ContributionRequestInput,
        CorrespondenceJob,
        CorrespondenceResult,
        DeadlineExtension,
        DeadlineNoticeJob,
        DeadlineNoticeResult,
        ExtendDeadlineInput,
        ExtensionRequest,
        DocumentRef,
        HoldingResponseInput,
        NoteEditInput,
        NoteInput,
        Note,
        OutcomeInput,
        ProjectCaseInput,
        QaDecisionInput,
        SendResponseInput,
        SubmitDraftInput,
        TimelineEvent,
    )
    from casework.calendar.deadlines import format_day, local_date, start_of_day
    from casework.calendar.policies import DayUnit, DeadlinePolicy, policy_from_data
    from casework.calendar.workdays import DEFAULT_REGION
    from casework.cases.stages import (
        EARLY_CLOSE_ROLES,
        Action,
        Rejection,
        Route,
        StageKind,
        StagePlan,
        StageSpec,
        blocked_stages,
        role_allows,
        route_action,
    )


# Cases registered before deadline clocks existed replay without them (see run()).
CLOCK_PATCH = "deadline-clocks"
CLOCK_ACTOR = "Deadline clock"

# Rejection types the API maps to HTTP statuses (see api/errors.py).
WRONG_STAGE = "WrongStage"
CONFLICT = "StepConflict"
INVALID = "InvalidStep"
FORBIDDEN = "StepForbidden"
NOT_VISIBLE = "CaseNotVisible"

PROJECTION_TIMEOUT = timedelta(seconds=30)
# Patch ids: new behaviour on new commands, so recorded histories still replay.
LOCAL_PROJECTION = "projection-as-local-activity"
# From this version on a step upserts only the search attributes it changed (a note changes none),
# which spares the server a visibility write and the history an event per step.
CHANGED_SEARCH_ATTRIBUTES = "upsert-changed-search-attributes-only"
DEADLINES_TIMEOUT = timedelta(seconds=30)
LOCAL_DEADLINES = "deadlines-as-local-activity"
# Contribution requests go out by letter or email from this version on; older histories
# recorded them without sending anything.
CONTRIBUTION_REQUESTS_SENT = "contribution-requests-sent"
# Letters and emails go out through a local activity first (see _dispatch).
LOCAL_CORRESPONDENCE = "correspondence-as-local-activity"
# One marker standing for a set of patches. Each patch costs a run a marker event and the
# TemporalChangeVersion upsert the SDK adds to it (a visibility write on the server); a case
# started by this version records one marker, the newest, instead of one per patch. A run asks for
# the newest marker first, so one recorded under an older marker keeps that marker's set.
_PATCHES_V1 = frozenset({CLOCK_PATCH, LOCAL_PROJECTION, CHANGED_SEARCH_ATTRIBUTES, LOCAL_DEADLINES,
                         CONTRIBUTION_REQUESTS_SENT})
PATCH_SETS: dict[str, frozenset[str]] = {  # newest first
    "case-patches-v2": _PATCHES_V1 | {LOCAL_CORRESPONDENCE},
    "case-patches-v1": _PATCHES_V1,
}
ALL_PATCHES = next(iter(PATCH_SETS))  # the behaviour a new case is started with (CaseStart.patch_set)
CORRESPONDENCE_TIMEOUT = timedelta(minutes=2)
# A letter or email is tried four times as a local activity (1, 2 and 4 seconds apart, each
# attempt up to LOCAL_CORRESPONDENCE_TIMEOUT), then as a regular one with PATIENT_RETRY.
LOCAL_CORRESPONDENCE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=4)
LOCAL_CORRESPONDENCE_TIMEOUT = timedelta(seconds=30)
# Database or SMTP outages are waited out; permanent faults are raised non-retryable by activities.
PATIENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))

REJECTION_TYPES = {"wrong_stage": WRONG_STAGE, "conflict": CONFLICT, "invalid": INVALID}


def search_attributes(state: CaseState, stage_label: str) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair] = [
        SearchAttributePair(CASE_REFERENCE, state.reference),
        SearchAttributePair(CASE_TYPE, state.case_type.code),
        SearchAttributePair(CASE_STAGE, stage_label),
        SearchAttributePair(CASE_TEAM, state.team or ""),
        SearchAttributePair(CASE_ASSIGNEE, state.assignee_name or ""),
        SearchAttributePair(CASE_STATUS, state.status.value),
    ]
    if state.clock is not None:
        pairs += [
            # The due date as midnight UTC, so `CaseDeadline < "2026-12-01T00:00:00Z"` reads as a date.
            SearchAttributePair(CASE_DEADLINE, datetime.combine(state.clock.deadline, time.min, timezone.utc)),
            SearchAttributePair(CASE_OVERDUE, state.clock.overdue),
        ]
    return TypedSearchAttributes(pairs)


def conflict(message: str, stage: str) -> ApplicationError:
    return ApplicationError(message, {"stage": stage}, type=CONFLICT, non_retryable=True)


# One copy of each case type's configuration and stage plan for all the cases a worker holds,
# instead of one per cached case. Read-only: a type change replaces the case's copy, never edits it.
_SHARED_TYPES: dict[str, tuple[CaseTypeConfig, StagePlan]] = {}


def shared_type(config: CaseTypeConfig) -> tuple[CaseTypeConfig, StagePlan]:
    """The shared copy of `config` (equal by value) and its stage plan."""
    key = config.model_dump_json()
    shared = _SHARED_TYPES.get(key)
    if shared is None:
        shared = _SHARED_TYPES[key] = (config, StagePlan.from_data(config.stages))
    return shared


# Likewise one copy of each deadline policy for all the clocks a worker holds (1.5 KiB each). Read-
# only too: a policy change replaces a clock's policy, never edits it.
_SHARED_POLICIES: dict[str, DeadlinePolicy] = {}


def shared_policy(data: dict | None) -> DeadlinePolicy:
    """The shared copy of the policy stored as `data` (the default one if there is none)."""
    key = json.dumps(data, sort_keys=True, default=str)
    shared = _SHARED_POLICIES.get(key)
    if shared is None:
        shared = _SHARED_POLICIES[key] = policy_from_data(data)
    return shared


def initial_state(start: CaseStart, now: datetime) -> CaseState:
    return CaseState(
        reference=start.reference,
        case_type=start.case_type,
        stage=shared_type(start.case_type)[1].first.key,
        details=start.details,
        correspondents=start.correspondents,
        documents=list(start.attachments),
        registered_by=start.actor.display_name,
        registered_at=now,
        escalated_from=start.escalated_from,
    )


def deadlines_input(state: CaseState, policy: DeadlinePolicy, now: datetime,
                    extension: ExtensionRequest | None = None) -> ComputeDeadlinesInput:
    """What the deadline calculation is asked for a case: its facts, its clock's pauses and
    extensions so far (none before it has a clock), and today in the policy's region. The workflow
    asks with it, and so does the API for a new case's first deadlines."""
    clock = state.clock
    return ComputeDeadlinesInput(
        reference=state.reference, policy=policy, date_received=state.details.date_received,
        pauses=clock.pauses if clock else [],
        extension_days=[e.days_added for e in clock.extensions] if clock else [],
        today=local_date(now, policy.region), extension=extension)


def invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, {"field": field}, type=INVALID, non_retryable=True)


def forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, {}, type=FORBIDDEN, non_retryable=True)


@workflow.defn
class ComplaintCaseWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        # A case started with its behaviour named in its input runs that behaviour and records no
        # marker (a marker costs the server a visibility write for its TemporalChangeVersion
        # upsert). Otherwise the markers are asked before anything else, so a run that predates
        # them answers False for its whole life and keeps asking for each patch where it always did.
        named = PATCH_SETS.get(start.patch_set) if start.patch_set else None
        self._patches = named if named is not None else next(
            (patches for marker, patches in PATCH_SETS.items() if workflow.patched(marker)), frozenset())
        start.case_type, self.plan = shared_type(start.case_type)
        if start.carried_state is None:
            self.state = initial_state(start, workflow.now())
        else:
            # A continued case routes by its type now, which may have changed since registration.
            self.state = start.carried_state
            self.state.case_type, self.plan = shared_type(self.state.case_type)
            if self.state.clock is not None:
                self.state.clock.policy = shared_policy(self.state.clock.policy.model_dump(mode="json"))
        self._registered = start.carried_state is not None
        # The first deadlines, when whoever started the case calculated them (the API does): taken
        # out of the input, which the run keeps until it ends, and used once, at registration.
        self._first_schedule, start.schedule = start.schedule, None
        self._lock = asyncio.Lock()
        # Child collections changed since the last projection (all of them until the first).
        self._dirty: set[str] | None = None
        # Calendar changes signalled and not yet applied; set when the clock's timer must be re-armed.
        self._calendar_changes: list[CalendarChange] = list(start.pending_calendar_changes)
        self._clock_rearm = False

    # ---- main -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: CaseStart) -> CaseSummary:
        clocks = self._patched(CLOCK_PATCH)
        if not self._registered:
            async with self._lock:
                events = self._registration_events(start)
                if clocks:
                    events.append(await self._start_clock())
                await self._commit(events)
                self._registered = True
        elif clocks and self.state.clock is None:
            # Continued from a run that predates clocks: the case gets its deadlines now.
            async with self._lock:
                await self._commit([await self._start_clock()])
        if clocks:
            await self._keep_time()
        else:
            await workflow.wait_condition(self._run_ends)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.state.status is not CaseStatus.CLOSED:
            workflow.continue_as_new(start.model_copy(update={
                "carried_state": self.state, "pending_calendar_changes": self._calendar_changes}))
        return self._summary()

    def _patched(self, patch_id: str) -> bool:
        return patch_id in self._patches or workflow.patched(patch_id)

    def _run_ends(self) -> bool:
        return self.state.status is CaseStatus.CLOSED or workflow.info().is_continue_as_new_suggested()

    def _registration_events(self, start: CaseStart) -> list[TimelineEvent]:
        who = start.actor
        events = [
            self._event(
                "registered",
                f"Case registered ({self.state.details.channel}, {self.state.details.category})",
                who,
                data={"attachments": [d.id for d in start.attachments]},
            )
        ]
        if start.escalated_from:
            events.append(
                self._event("escalated_from", f"Escalated from {start.escalated_from}", who,
                            reason=start.escalation_reason)
            )
            events.append(
                self._event("escalated", f"Escalated to stage 2 case {self.state.reference}", who,
                            reason=start.escalation_reason, case_reference=start.escalated_from)
            )
        return events

    # ---- queries ----------------------------------------------------------------------------

    @workflow.query
    def current_state(self) -> CaseState:
        return self.state

    @workflow.update
    async def wait_registered(self) -> CaseState:
        """Lets the API return only once the case is visible in PostgreSQL."""
        await workflow.wait_condition(lambda: self._registered)
        return self.state

    # ---- allocation -------------------------------------------------------------------------

    @workflow.update
    async def allocate(self, inp: AllocateInput) -> CaseState:
        async with self._step(Action.ALLOCATE, inp.actor) as events:
            again = self.state.team is not None
            self.state.team = inp.team
            self.state.assignee_id = inp.assignee_id
            self.state.assignee_name = inp.assignee_name
            who = f" to {inp.assignee_name}" if inp.assignee_name else ""
            events.append(
                self._event(
                    "reallocated" if again else "allocated",
                    f"{'Re-allocated' if again else 'Allocated'} to team {inp.team}{who}",
                    inp.actor,
                    reason=inp.reason,
                    data={"team": inp.team, "assignee_id": inp.assignee_id},
                )
            )
            if self._here.kind is StageKind.TRIAGE:
                self._move_to(self.plan.next_after(self.state.stage), inp.actor, events)
        return self.state

    @allocate.validator
    def _validate_allocate(self, inp: AllocateInput) -> None:
        self._validate(Action.ALLOCATE, inp.actor)

    # ---- acknowledgement --------------------------------------------------------------------

    @workflow.update
    async def acknowledge(self, inp: AcknowledgeInput) -> CaseState:
        async with self._step(Action.ACKNOWLEDGE, inp.actor) as events:
            sent = await self._correspond("acknowledgement", inp.channel, inp.actor)
            events.append(self._correspondence_event("acknowledged", "Acknowledgement", sent, inp))
            self._move_to(self.plan.next_after(self.state.stage), inp.actor, events)
        return self.state

    @acknowledge.validator
    def _validate_acknowledge(self, inp: AcknowledgeInput) -> None:
        self._validate(Action.ACKNOWLEDGE, inp.actor)
        self._validate_channel(inp.channel)

    # ---- clarification ----------------------------------------------------------------------

    @workflow.update
    async def request_clarification(self, inp: ClarificationRequestInput) -> CaseState:
        async with self._step(Action.REQUEST_CLARIFICATION, inp.actor) as events:
            item = Clarification(
                id=str(workflow.uuid4()),
                channel=inp.channel,
                questions=inp.questions,
                reply_by=inp.reply_by,
                requested_by=inp.actor.display_name,
                requested_at=workflow.now(),
            )
            self.state.clarifications.append(item)
            self._changed("clarifications")
            extra = {"clarification": {"questions": inp.questions, "reply_by": inp.reply_by}}
            sent = await self._correspond("clarification", inp.channel, inp.actor, extra=extra)
            events.append(
                self._correspondence_event(
                    "clarification_requested", "Clarification request", sent, inp,
                    data={"clarification_id": item.id, "reply_by": inp.reply_by.isoformat()},
                )
            )
            events.extend(self._pause_clock(item, inp.actor))
        return self.state

    @request_clarification.validator
    def _validate_request_clarification(self, inp: ClarificationRequestInput) -> None:
        self._validate(Action.REQUEST_CLARIFICATION, inp.actor)
        self._validate_channel(inp.channel)
        if inp.reply_by < workflow.now().date():
            raise invalid("reply_by", "reply_by must not be in the past")

    @workflow.update
    async def record_clarification_reply(self, inp: ClarificationReplyInput) -> CaseState:
        async with self._step(Action.RECORD_CLARIFICATION_REPLY, inp.actor) as events:
            item = self._clarification(inp.clarification_id)
            item.reply = inp.reply
            item.reply_received_on = inp.received_on or self._today()
            item.replied_by = inp.actor.display_name
            item.replied_at = workflow.now()
            self._changed("clarifications")
            item.reply_attachment_ids = self._attach(inp.attachments)
            events.append(
                self._event("clarification_replied", "Complainant replied to clarification request",
                            inp.actor, data={"clarification_id": item.id, "reply": inp.reply,
                                             **self._attachment_data(inp.attachments)})
            )
            pause = self.state.clock.open_pause if self.state.clock else None
            if pause is not None and item.id in pause.clarification_ids and not self._still_waiting(pause):
                # The clock restarts on the day the answer came in (never before it stopped).
                ended = min(max(item.reply_received_on, pause.started_on), self._today())
                events.extend(await self._resume_clock(
                    pause, ended, f"The complainant replied on {format_day(item.reply_received_on)}", inp.actor))
        return self.state

    @record_clarification_reply.validator
    def _validate_clarification_reply(self, inp: ClarificationReplyInput) -> None:
        self._validate(Action.RECORD_CLARIFICATION_REPLY, inp.actor)
        item = self._clarification(inp.clarification_id)
        if item is None or item.reply is not None:
            raise invalid("clarification_id",
                          f"no unanswered clarification request with id {inp.clarification_id}")
        if inp.received_on is not None and inp.received_on > self._today():
            raise invalid("received_on", "received_on must not be in the future")
        self._validate_new_documents(inp.attachments)

    # ---- contributions ----------------------------------------------------------------------

    @workflow.update
    async def request_contribution(self, inp: ContributionRequestInput) -> CaseState:
        async with self._step(Action.REQUEST_CONTRIBUTION, inp.actor) as events:
            item = Contribution(
                id=str(workflow.uuid4()),
                team=inp.team,
                assignee_id=inp.assignee_id,
                assignee_name=inp.assignee_name,
                request=inp.request,
                due_date=inp.due_date,
                requested_by=inp.actor.display_name,
                requested_at=workflow.now(),
            )
            self.state.contributions.append(item)
            self._changed("contributions")
            sent = await self._send_contribution_request(item, inp)
            events.append(
                self._event("contribution_requested",
                            f"Contribution requested from team {inp.team}, due {inp.due_date}"
                            + (f", {self._how_sent(sent)}" if sent else ""),
                            inp.actor, data={"contribution_id": item.id, "request": inp.request,
                                             **self._sent_data(sent, inp.channel)})
            )
        return self.state

    @request_contribution.validator
    def _validate_request_contribution(self, inp: ContributionRequestInput) -> None:
        self._validate(Action.REQUEST_CONTRIBUTION, inp.actor)
        if inp.due_date < workflow.now().date():
            raise invalid("due_date", "due_date must not be in the past")
        if inp.channel is Channel.EMAIL and not inp.recipient_email:
            raise invalid("channel", f"nobody to email: team {inp.team} (and the person asked) "
                                     "have no email address; send by letter")

    @workflow.update
    async def complete_contribution(self, inp: ContributionCompleteInput) -> CaseState:
        async with self._step(Action.COMPLETE_CONTRIBUTION, inp.actor) as events:
            item = self._open_contribution(inp.contribution_id)
            item.status, item.details = "completed", inp.details
            item.closed_by, item.closed_at = inp.actor.display_name, workflow.now()
            self._changed("contributions")
            item.attachment_ids = self._attach(inp.attachments)
            events.append(self._event("contribution_completed", f"Contribution from team {item.team} completed",
                                      inp.actor, data={"contribution_id": item.id, "details": inp.details,
                                                       **self._attachment_data(inp.attachments)}))
        return self.state

    @complete_contribution.validator
    def _validate_complete_contribution(self, inp: ContributionCompleteInput) -> None:
        self._validate(Action.COMPLETE_CONTRIBUTION, inp.actor)
        self._require_open_contribution(inp.contribution_id)
        self._validate_new_documents(inp.attachments)

    @workflow.update
    async def cancel_contribution(self, inp: ContributionCancelInput) -> CaseState:
        async with self._step(Action.CANCEL_CONTRIBUTION, inp.actor) as events:
            item = self._open_contribution(inp.contribution_id)
            item.status, item.cancel_reason = "cancelled", inp.reason
            item.closed_by, item.closed_at = inp.actor.display_name, workflow.now()
            self._changed("contributions")
            events.append(self._event("contribution_cancelled", f"Contribution from team {item.team} cancelled",
                                      inp.actor, reason=inp.reason, data={"contribution_id": item.id}))
        return self.state

    @cancel_contribution.validator
    def _validate_cancel_contribution(self, inp: ContributionCancelInput) -> None:
        self._validate(Action.CANCEL_CONTRIBUTION, inp.actor)
        self._require_open_contribution(inp.contribution_id)

    # ---- documents and drafting -------------------------------------------------------------

    @workflow.update
    async def add_document(self, inp: AddDocumentInput) -> CaseState:
        async with self._step(Action.ADD_DOCUMENT, inp.actor) as events:
            doc = inp.document
            if doc.kind == "draft":
                doc = doc.model_copy(update={"version": len(self._drafts()) + 1})
            self.state.documents.append(doc)
            self._changed("documents")
            label = f"Draft response v{doc.version}" if doc.kind == "draft" else "Document"
            events.append(self._event("document_added", f"{label} added: {doc.filename}"
                                      + self._generated_note(inp), inp.actor,
                                      data={"document_id": doc.id, "kind": doc.kind,
                                            **self._generated_data(inp)}))
        return self.state

    @add_document.validator
    def _validate_add_document(self, inp: AddDocumentInput) -> None:
        self._validate(Action.ADD_DOCUMENT, inp.actor)
        if inp.document.kind not in ("attachment", "draft"):
            raise invalid("kind", "kind must be 'attachment' or 'draft'")
        if any(d.id == inp.document.id for d in self.state.documents):
            raise invalid("document", f"document {inp.document.id} is already on this case")

    @workflow.update
    async def submit_draft(self, inp: SubmitDraftInput) -> CaseState:
        async with self._step(Action.SUBMIT_DRAFT, inp.actor) as events:
            draft = self._drafts()[-1]
            self.state.submitted_draft_id = draft.id
            self.state.drafted_by_id = inp.actor.user_id
            self.state.approved_by = None
            events.append(self._event("draft_submitted", f"Draft response v{draft.version} submitted",
                                      inp.actor, reason=inp.note, data={"document_id": draft.id}))
            self._move_to(self.plan.next_after(self._draft_stage.key), inp.actor, events)
        return self.state

    @submit_draft.validator
    def _validate_submit_draft(self, inp: SubmitDraftInput) -> None:
        self._validate(Action.SUBMIT_DRAFT, inp.actor)
        if not self._drafts():
            raise invalid("document", "a response document is required: upload a draft first")

    @workflow.update
    async def approve_draft(self, inp: QaDecisionInput) -> CaseState:
        async with self._step(Action.APPROVE_DRAFT, inp.actor) as events:
            self.state.approved_by = inp.actor.display_name
            events.append(self._event("qa_approved", "Draft response approved", inp.actor,
                                      reason=inp.reason,
                                      data={"document_id": self.state.submitted_draft_id}))
            self._move_to(self.plan.next_after(self.state.stage), inp.actor, events)
        return self.state

    @approve_draft.validator
    def _validate_approve(self, inp: QaDecisionInput) -> None:
        self._validate(Action.APPROVE_DRAFT, inp.actor)
        self._validate_reviewer(inp.actor)

    @workflow.update
    async def reject_draft(self, inp: QaDecisionInput) -> CaseState:
        async with self._step(Action.REJECT_DRAFT, inp.actor) as events:
            events.append(self._event("qa_rejected", "Draft response rejected", inp.actor,
                                      reason=inp.reason,
                                      data={"document_id": self.state.submitted_draft_id}))
            self.state.submitted_draft_id = None
            self._move_to(self._draft_stage, inp.actor, events, reason=inp.reason)
        return self.state

    @reject_draft.validator
    def _validate_reject(self, inp: QaDecisionInput) -> None:
        self._validate(Action.REJECT_DRAFT, inp.actor)
        self._validate_reviewer(inp.actor)
        if not (inp.reason or "").strip():
            raise invalid("reason", "a reason is required to reject a draft")

    # ---- send, outcome, close ---------------------------------------------------------------

    @workflow.update
    async def send_response(self, inp: SendResponseInput) -> CaseState:
        async with self._step(Action.SEND_RESPONSE, inp.actor) as events:
            draft_id = self._response_document_id()
            attachments = [draft_id] if draft_id and inp.channel is Channel.EMAIL else []
            sent = await self._correspond("response", inp.channel, inp.actor,
                                          extra={"response": {"summary": ""}},
                                          attachments=attachments)
            self.state.sent_channel = inp.channel
            self.state.sent_on = inp.sent_on
            events.append(self._correspondence_event(
                "response_sent", "Response", sent, inp,
                data={"sent_on": inp.sent_on.isoformat(), "response_document_id": draft_id}))
            events.extend(await self._stop_clock(inp.sent_on, inp.actor))
            self._move_to(self.plan.next_after(self.state.stage), inp.actor, events)
        return self.state

    @send_response.validator
    def _validate_send(self, inp: SendResponseInput) -> None:
        self._validate(Action.SEND_RESPONSE, inp.actor)
        self._validate_channel(inp.channel)
        if self._response_document_id() is None:
            raise invalid("document", "a response document is required before sending")

    @workflow.update
    async def send_holding_response(self, inp: HoldingResponseInput) -> CaseState:
        """Tell the complainant why the final response is late and when it will come (e.g. at an
        FCA deadline). The deadline itself stays as it is."""
        async with self._step(Action.SEND_HOLDING_RESPONSE, inp.actor) as events:
            extra = {"holding": {"reason": inp.reason, "new_due_date": inp.new_due_date}}
            sent = await self._correspond("holding_response", inp.channel, inp.actor, extra=extra)
            events.append(self._correspondence_event(
                "holding_response_sent", "Holding response", sent, inp,
                data={"reason": inp.reason, "new_due_date": inp.new_due_date.isoformat()}))
        return self.state

    @send_holding_response.validator
    def _validate_holding_response(self, inp: HoldingResponseInput) -> None:
        self._validate(Action.SEND_HOLDING_RESPONSE, inp.actor)
        self._validate_channel(inp.channel)
        if not inp.reason.strip():
            raise invalid("reason", "a reason is required: say why the final response is late")
        if inp.new_due_date < self._today():
            raise invalid("new_due_date", "new_due_date must not be in the past")

    @workflow.update
    async def record_outcome(self, inp: OutcomeInput) -> CaseState:
        async with self._step(Action.RECORD_OUTCOME, inp.actor) as events:
            self.state.outcome = inp.outcome
            self.state.outcome_detail = inp.detail
            self.state.redress_amount = inp.redress_amount
            events.append(self._event("outcome_recorded", f"Outcome recorded: {inp.outcome}", inp.actor,
                                      reason=inp.detail,
                                      data={"outcome": inp.outcome,
                                            "redress_amount": str(inp.redress_amount)
                                            if inp.redress_amount is not None else None}))
            self._move_to(self.plan.next_after(self.state.stage), inp.actor, events)
        return self.state

    @record_outcome.validator
    def _validate_outcome(self, inp: OutcomeInput) -> None:
        self._validate(Action.RECORD_OUTCOME, inp.actor)
        options = self.state.case_type.outcome_options
        if inp.outcome not in options:
            raise invalid("outcome", f"outcome must be one of: {', '.join(options)}")

    @workflow.update
    async def close(self, inp: CloseInput) -> CaseState:
        async with self._step(Action.CLOSE, inp.actor) as events:
            early = self._here.kind is not StageKind.CLOSURE
            self.state.status = CaseStatus.CLOSED
            self.state.close_reason = inp.reason
            self.state.close_note = inp.note
            self.state.closed_at = workflow.now()
            events.append(self._event(
                "closed_early" if early else "closed",
                f"Case closed{' early at ' + self._here.label if early else ''}: {inp.reason}",
                inp.actor, reason=inp.note, data={"close_reason": inp.reason}))
        return self.state

    @close.validator
    def _validate_close(self, inp: CloseInput) -> None:
        self._validate(Action.CLOSE, inp.actor)
        reasons = self.state.case_type.close_reasons
        if inp.reason not in reasons:
            raise invalid("reason", f"reason must be one of: {', '.join(reasons)}")
        if self._here.kind is not StageKind.CLOSURE:
            if not role_allows(set(inp.actor.roles), EARLY_CLOSE_ROLES):
                raise forbidden("closing a case before its closure stage needs a coordinator or manager")
            if not (inp.note or "").strip():
                raise invalid("note", f"a note is required to close a case early (at stage {self._here.label})")

    @workflow.update
    async def complete_stage(self, inp: CompleteStageInput) -> CaseState:
        async with self._step(Action.COMPLETE_STAGE, inp.actor) as events:
            done = self._here
            events.append(self._event("stage_completed", f"{done.label} completed", inp.actor,
                                      reason=inp.note))
            self._move_to(self.plan.next_after(done.key), inp.actor, events)
        return self.state

    @complete_stage.validator
    def _validate_complete_stage(self, inp: CompleteStageInput) -> None:
        self._validate(Action.COMPLETE_STAGE, inp.actor)

    # ---- notes ------------------------------------------------------------------------------

    @workflow.update
    async def add_note(self, inp: NoteInput) -> CaseState:
        async with self._step(Action.ADD_NOTE, inp.actor) as events:
            note = Note(id=str(workflow.uuid4()), text=inp.text, created_by=inp.actor.display_name,
                        created_by_id=inp.actor.user_id, created_at=workflow.now())
            self.state.notes.append(note)
            self._changed("notes")
            events.append(self._event("note_added", "Case note added", inp.actor,
                                      data={"note_id": note.id, "text": inp.text}))
        return self.state

    @add_note.validator
    def _validate_add_note(self, inp: NoteInput) -> None:
        self._validate(Action.ADD_NOTE, inp.actor)

    @workflow.update
    async def edit_note(self, inp: NoteEditInput) -> CaseState:
        async with self._step(Action.EDIT_NOTE, inp.actor) as events:
            note = next(n for n in self.state.notes if n.id == inp.note_id)
            previous = note.text
            note.text, note.edited_by, note.edited_at = inp.text, inp.actor.display_name, workflow.now()
            self._changed("notes")
            events.append(self._event("note_edited", "Case note edited", inp.actor,
                                      data={"note_id": note.id, "previous": previous, "text": inp.text}))
        return self.state

    @edit_note.validator
    def _validate_edit_note(self, inp: NoteEditInput) -> None:
        self._validate(Action.EDIT_NOTE, inp.actor)
        if not any(n.id == inp.note_id for n in self.state.notes):
            raise invalid("note_id", f"no note with id {inp.note_id} on this case")

    # ---- deadlines: extensions, type changes, calendar changes ------------------------------

    @workflow.update
    async def extend_deadline(self, inp: ExtendDeadlineInput) -> CaseState:
        async with self._step(Action.EXTEND_DEADLINE, inp.actor) as events:
            self._check_extension_allowed()  # again: another step may have got in first
            clock = self._clock
            result = await self._compute(
                clock.policy, extension=ExtensionRequest(anchor=inp.anchor, working_days=inp.working_days))
            if result.refusal is not None:
                raise invalid(result.refusal_field or "working_days", result.refusal)
            before = clock.deadline
            clock.extensions.append(DeadlineExtension(
                id=str(workflow.uuid4()), anchor=inp.anchor, working_days=inp.working_days,
                reason=inp.reason, days_added=result.extension_days_added or 0,
                previous_deadline=before, new_deadline=result.deadline,
                granted_by=inp.actor.display_name, granted_at=workflow.now()))
            self._apply_schedule(result)
            n, allowed = len(clock.extensions), clock.policy.max_extensions
            events.append(self._event(
                "deadline_extended",
                f"Deadline extended from {format_day(before)} to {format_day(clock.deadline)} "
                f"({inp.working_days} working days from {inp.anchor.value}; extension {n} of {allowed})",
                inp.actor, reason=inp.reason,
                data={"from": before.isoformat(), "to": clock.deadline.isoformat(),
                      "anchor": inp.anchor.value, "working_days": inp.working_days,
                      "explanation": clock.explanation}))
        return self.state

    @extend_deadline.validator
    def _validate_extend_deadline(self, inp: ExtendDeadlineInput) -> None:
        self._validate(Action.EXTEND_DEADLINE, inp.actor)
        if not inp.reason.strip():
            raise invalid("reason", "a reason is required to extend a deadline")
        if inp.working_days < 1:
            raise invalid("working_days", "working_days must be at least 1")
        self._check_extension_allowed()

    def _check_extension_allowed(self) -> None:
        clock = self.state.clock
        if clock is None:
            raise conflict(f"case {self.state.reference} was registered before deadline clocks; "
                           f"it has no deadline to extend", self.state.stage)
        if clock.stopped_on is not None:
            raise conflict(f"the response was sent on {format_day(clock.stopped_on)}; the clock has stopped",
                           self.state.stage)
        if clock.open_pause is not None:
            raise conflict("the clock is stopped awaiting the complainant's reply; extend once it restarts",
                           self.state.stage)
        if len(clock.extensions) >= clock.policy.max_extensions:
            raise conflict(f"{clock.policy.name} allows {clock.policy.max_extensions} extension(s) and "
                           f"this case has had {len(clock.extensions)}", self.state.stage)

    @workflow.update
    async def change_type(self, inp: ChangeTypeInput) -> CaseState:
        async with self._step(Action.CHANGE_TYPE, inp.actor) as events:
            old_type, before = self.state.case_type, self._here
            new_type, new_plan = shared_type(inp.case_type)
            target = self._stage_of_kind(new_plan, before.kind)
            self.plan = new_plan
            self.state.case_type = new_type
            self.state.stage = target.key
            events.append(self._event(
                "case_type_changed", f"Case type changed from {old_type.name} to {inp.case_type.name}",
                inp.actor, reason=inp.reason,
                data={"from": old_type.code, "to": inp.case_type.code, "stage": target.key}))
            if target.key != before.key:
                events.append(self._event(
                    "stage_changed", f"Stage changed from {before.label} to {target.label}", inp.actor,
                    reason=inp.reason, data={"from": before.key, "to": target.key}))
            if self.state.clock is not None:
                events.extend(await self._retype_clock(inp, old_type.name))
        return self.state

    @change_type.validator
    def _validate_change_type(self, inp: ChangeTypeInput) -> None:
        self._validate(Action.CHANGE_TYPE, inp.actor)
        if not inp.reason.strip():
            raise invalid("reason", "a reason is required to change a case's type")
        if inp.case_type.code == self.state.case_type.code:
            raise invalid("case_type", f"the case is already of type {inp.case_type.code}")
        try:
            self._stage_of_kind(StagePlan.from_data(inp.case_type.stages), self._here.kind)
            policy_from_data(inp.case_type.deadline_policy)
        except (LookupError, ValueError) as exc:
            raise invalid("case_type", str(exc)) from None

    def _stage_of_kind(self, plan: StagePlan, kind: StageKind) -> StageSpec:
        """Where the case carries on in another type's plan: the first stage of the same kind."""
        for stage in plan.stages:
            if stage.kind is kind:
                return stage
        raise LookupError(f"the new type's stage plan has no {kind.value} stage for the case to continue in "
                          f"(it is at {self._here.label})")

    async def _retype_clock(self, inp: ChangeTypeInput, old_type: str) -> list[TimelineEvent]:
        """Recompute from the original date received under the new type's policy. Pauses are facts and
        still count if the new policy stops the clock; extensions were granted against the old
        deadline, so they are dropped and the new type's allowance applies."""
        clock = self._clock
        policy = shared_policy(inp.case_type.deadline_policy)
        pause = clock.open_pause
        if pause is not None and not policy.pause_on_clarification:
            pause.ended_on, pause.end_reason = self._today(), f"{policy.name} does not stop the clock"
        dropped = clock.extensions
        before = clock.deadline
        clock.policy, clock.extensions = policy, []
        self._apply_schedule(await self._compute(policy))
        why = f"received {format_day(self.state.details.date_received)}, {policy.describe()}"
        if dropped:
            why += f"; {len(dropped)} extension(s) granted under {old_type} not carried over"
        return [self._event(
            "deadline_recalculated",
            f"Deadlines recomputed for the new type: deadline moved from {format_day(before)} to {format_day(clock.deadline)}",
            inp.actor, reason=why,
            data={"from": before.isoformat(), "to": clock.deadline.isoformat(), "policy": policy.name,
                  "dropped_extensions": [e.id for e in dropped], "explanation": clock.explanation})]

    @workflow.signal
    def calendar_changed(self, change: CalendarChange) -> None:
        """A closure date or bank holiday was added or removed in a region: recompute (see _keep_time)."""
        self._calendar_changes.append(change)

    # ---- the clock --------------------------------------------------------------------------

    @property
    def _clock(self) -> CaseClock:
        assert self.state.clock is not None
        return self.state.clock

    def _today(self) -> date:
        """Today in the case's region, by the workflow's clock."""
        region = self.state.clock.policy.region if self.state.clock else DEFAULT_REGION
        return local_date(workflow.now(), region)

    async def _compute(self, policy: DeadlinePolicy,
                       extension: ExtensionRequest | None = None) -> ComputeDeadlinesResult:
        job = deadlines_input(self.state, policy, workflow.now(), extension)
        # A short read of the calendar and some date arithmetic: a local activity spares the
        # server a scheduled task and a workflow task at every registration and recalculation.
        run = workflow.execute_local_activity if self._patched(LOCAL_DEADLINES) else workflow.execute_activity
        return await run("compute_deadlines", job, start_to_close_timeout=DEADLINES_TIMEOUT,
                         retry_policy=PATIENT_RETRY, result_type=ComputeDeadlinesResult)

    async def _start_clock(self) -> TimelineEvent:
        policy = shared_policy(self.state.case_type.deadline_policy)
        # Calculated before the start from the same facts, or now by the deadline activity.
        result, self._first_schedule = self._first_schedule or await self._compute(policy), None
        self.state.clock = CaseClock(policy=policy, deadline=result.deadline, warning_on=result.warning_on)
        self._apply_schedule(result)
        clock = self._clock
        return self._system_event(
            "deadline_set", f"Response due {format_day(clock.deadline)} ({policy.describe()})",
            reason=clock.explanation,
            data={"deadline": clock.deadline.isoformat(), "warning_on": clock.warning_on.isoformat(),
                  "acknowledgement_due": clock.acknowledgement_due.isoformat()
                  if clock.acknowledgement_due else None,
                  "policy": policy.name, "calendar": clock.calendar_source})

    def _apply_schedule(self, result: ComputeDeadlinesResult) -> None:
        """Take freshly computed dates; clear flags the new dates make untrue; re-arm the timer."""
        clock = self._clock
        clock.deadline, clock.warning_on = result.deadline, result.warning_on
        clock.acknowledgement_due = result.acknowledgement_due
        clock.stage_deadlines = dict(result.stage_deadlines)
        clock.explanation, clock.calendar_source = result.explanation, result.calendar_source
        for pause, days in zip(clock.pauses, result.paused_days):
            pause.paused_days = days
        now = workflow.now()
        if clock.overdue and now < clock.breach_at:
            clock.overdue, clock.overdue_since = False, None
        if clock.warned_for is not None and clock.warned_for != clock.deadline:
            # Warned for the old date: warn again only if the new warning point is still ahead.
            clock.warned_for = clock.deadline if now >= clock.warn_at else None
        self._clock_rearm = True

    def _still_waiting(self, pause: ClockPause) -> bool:
        today = self._today()
        return any(c.id in pause.clarification_ids and c.reply is None and c.reply_by >= today
                   for c in self.state.clarifications)

    def _pause_clock(self, item: Clarification, actor: Actor) -> list[TimelineEvent]:
        clock = self.state.clock
        if clock is None or clock.stopped_on is not None or not clock.policy.pause_on_clarification:
            return []
        pause = clock.open_pause
        self._clock_rearm = True
        if pause is not None:
            pause.clarification_ids.append(item.id)
            pause.resume_by = max(pause.resume_by, item.reply_by)
            return []
        reason = f"Waiting for the complainant's answer to a clarification request (reply by {format_day(item.reply_by)})"
        pause = ClockPause(id=str(workflow.uuid4()), reason=reason, started_on=self._today(),
                           resume_by=item.reply_by, clarification_ids=[item.id])
        clock.pauses.append(pause)
        return [self._event("clock_paused", f"Clock stopped on {format_day(pause.started_on)}; "
                            f"deadline {format_day(clock.deadline)} will move by the days it stays stopped",
                            actor, reason=reason,
                            data={"pause_id": pause.id, "clarification_id": item.id,
                                  "started_on": pause.started_on.isoformat(),
                                  "resume_by": pause.resume_by.isoformat()})]

    async def _resume_clock(self, pause: ClockPause, ended_on: date, why: str,
                            actor: Actor | None, at: datetime | None = None) -> list[TimelineEvent]:
        clock = self._clock
        pause.ended_on, pause.end_reason = ended_on, why
        before = clock.deadline
        self._apply_schedule(await self._compute(clock.policy))
        unit = "working days" if clock.policy.unit is DayUnit.WORKING else "calendar days"
        summary = (f"Clock restarted after {pause.paused_days} {unit} stopped "
                   f"({format_day(pause.started_on)} to {format_day(ended_on)}): deadline moved from "
                   f"{format_day(before)} to {format_day(clock.deadline)}")
        data = {"pause_id": pause.id, "paused_days": pause.paused_days, "from": before.isoformat(),
                "to": clock.deadline.isoformat(), "explanation": clock.explanation}
        if actor is None:
            return [self._system_event("clock_resumed", summary, reason=why, data=data, at=at)]
        return [self._event("clock_resumed", summary, actor, reason=why, data=data)]

    async def _stop_clock(self, sent_on: date, actor: Actor) -> list[TimelineEvent]:
        clock = self.state.clock
        if clock is None or clock.stopped_on is not None:
            return []
        events: list[TimelineEvent] = []
        pause = clock.open_pause
        if pause is not None:
            events += await self._resume_clock(pause, min(max(sent_on, pause.started_on), self._today()),
                                               "The response was sent", actor)
        clock.stopped_on = sent_on
        # Answered: no longer on anyone's overdue list; lateness stays recorded (deadline_met, overdue_since).
        clock.overdue = False
        self._clock_rearm = True
        verdict = "met" if clock.deadline_met else "missed"
        events.append(self._event("clock_stopped",
                                  f"Response sent on {format_day(sent_on)}: deadline {format_day(clock.deadline)} {verdict}",
                                  actor, data={"deadline": clock.deadline.isoformat(),
                                               "sent_on": sent_on.isoformat(), "met": clock.deadline_met}))
        return events

    def _next_clock_instant(self) -> datetime | None:
        clock = self.state.clock
        if clock is None or clock.stopped_on is not None:
            return None
        pause = clock.open_pause
        if pause is not None:
            return start_of_day(pause.resume_by + timedelta(days=1), clock.policy.region)
        if clock.overdue:
            return None
        return clock.warn_at if clock.warned_for != clock.deadline else clock.breach_at

    async def _keep_time(self) -> None:
        """The case clock: a durable timer to the next instant that matters (warning, breach, or the
        end of a pause's reply-by date), re-armed whenever the dates change."""
        while not self._run_ends():
            due = self._next_clock_instant()
            self._clock_rearm = False
            wake = lambda: self._run_ends() or self._clock_rearm or bool(self._calendar_changes)  # noqa: E731
            wait = None if due is None else due - workflow.now()
            if wait is None:
                await workflow.wait_condition(wake)
            elif wait > timedelta(0):
                try:
                    await workflow.wait_condition(wake, timeout=wait, timeout_summary="deadline clock")
                except asyncio.TimeoutError:
                    pass
            if self._run_ends():
                return
            async with self._lock:
                if self.state.status is CaseStatus.CLOSED:
                    return
                events = await self._apply_calendar_changes()
                events += await self._fire_due_clock_events()
                if events:
                    await self._commit(events)

    async def _apply_calendar_changes(self) -> list[TimelineEvent]:
        changes, self._calendar_changes = self._calendar_changes, []
        clock = self.state.clock
        changes = [c for c in changes if clock is not None and c.region == clock.policy.region.value]
        if not changes or clock is None or clock.stopped_on is not None:
            return []
        before = (clock.deadline, clock.warning_on, clock.acknowledgement_due, dict(clock.stage_deadlines))
        result = await self._compute(clock.policy)
        after = (result.deadline, result.warning_on, result.acknowledgement_due, dict(result.stage_deadlines))
        if after == before:
            return []  # this change does not touch this case's dates
        self._apply_schedule(result)
        return [TimelineEvent(
            id=str(workflow.uuid4()), at=workflow.now(), actor_id=None,
            actor_name=", ".join(dict.fromkeys(c.requested_by for c in changes)),
            kind="deadline_recalculated",
            summary=f"Calendar changed: deadline moved from {format_day(before[0])} to {format_day(clock.deadline)}",
            reason="; ".join(c.description for c in changes),
            data={"from": before[0].isoformat(), "to": clock.deadline.isoformat(),
                  "warning_on": clock.warning_on.isoformat(), "explanation": clock.explanation,
                  "calendar": clock.calendar_source})]

    async def _fire_due_clock_events(self) -> list[TimelineEvent]:
        clock = self.state.clock
        if clock is None or clock.stopped_on is not None:
            return []
        # Events are dated at the instant the clock reached them (the fact); `fired_at` records when
        # the worker acted, which is later if no worker was running at that instant.
        fired = workflow.now()
        events: list[TimelineEvent] = []
        pause = clock.open_pause
        resume_at = start_of_day(pause.resume_by + timedelta(days=1), clock.policy.region) if pause else None
        if pause is not None and resume_at is not None and fired >= resume_at:
            events += await self._resume_clock(
                pause, pause.resume_by,
                f"The reply-by date {format_day(pause.resume_by)} passed without a reply", None, at=resume_at)
        if clock.open_pause is not None:
            return events
        if not clock.overdue and fired >= clock.breach_at:
            events += await self._breach(fired)
        elif clock.warned_for != clock.deadline and fired >= clock.warn_at:
            events += await self._warn(fired)
        return events

    async def _notify(self, kind: str, due_at: datetime) -> DeadlineNoticeResult:
        key = f"{self.state.reference}/deadline_{kind}/{self._clock.deadline.isoformat()}"
        return await workflow.execute_activity(
            "notify_deadline",
            DeadlineNoticeJob(business_key=key, kind=kind, state=self.state, due_at=due_at),
            start_to_close_timeout=CORRESPONDENCE_TIMEOUT,
            retry_policy=PATIENT_RETRY,
            result_type=DeadlineNoticeResult,
        )

    async def _warn(self, fired: datetime) -> list[TimelineEvent]:
        clock = self._clock
        notice = await self._notify("warning", clock.warn_at)
        clock.warned_for = clock.deadline
        told = ", ".join(notice.recipients) or "nobody (no owner or team yet)"
        return [self._system_event(
            "deadline_warning", f"Deadline {format_day(clock.deadline)} approaching: warned {told}",
            at=clock.warn_at,
            data={"deadline": clock.deadline.isoformat(), "fired_at": fired.isoformat(),
                  "recipients": notice.recipients, "message_id": notice.message_id})]

    async def _breach(self, fired: datetime) -> list[TimelineEvent]:
        clock = self._clock
        notice = await self._notify("breach", clock.breach_at)
        clock.overdue, clock.overdue_since = True, clock.breach_at
        clock.warned_for = clock.deadline  # no separate warning once the deadline has passed
        clock.escalated_to = notice.manager_name
        at = clock.breach_at
        data = {"deadline": clock.deadline.isoformat(), "fired_at": fired.isoformat(),
                "recipients": notice.recipients, "message_id": notice.message_id}
        events = [
            self._system_event("deadline_breached",
                               f"Deadline {format_day(clock.deadline)} passed: the case is overdue", at=at, data=data),
            self._system_event("escalated_to_manager",
                               f"Escalated to {notice.manager_name or 'nobody (no manager found)'}",
                               reason=f"Overdue: the deadline {format_day(clock.deadline)} passed", at=at,
                               data={"manager": notice.manager_name, "recipients": notice.recipients}),
        ]
        if clock.policy.holding_response_at_deadline:
            events.append(self._system_event(
                "holding_response_due", "No final response sent: a holding response is due now",
                reason=clock.policy.rule, at=at, data={"deadline": clock.deadline.isoformat()}))
        return events

    # ---- the one wrapper every step goes through --------------------------------------------

    @property
    def _here(self) -> StageSpec:
        return self.plan.get(self.state.stage)

    @property
    def _draft_stage(self) -> StageSpec:
        for stage in self.plan.stages:
            if stage.kind is StageKind.DRAFT:
                return stage
        raise ApplicationError("case type has no draft stage", non_retryable=True)

    def _blocked(self) -> frozenset[str]:
        today = workflow.now().date()
        return blocked_stages(
            self.plan,
            waiting_for_reply=any(c.reply is None and c.reply_by >= today for c in self.state.clarifications),
            open_contribution=any(c.status == "open" for c in self.state.contributions),
        )

    def _route(self, action: Action) -> Route:
        if self.state.status is CaseStatus.CLOSED:
            raise ApplicationError(
                f"case {self.state.reference} is closed; '{action.value}' is not allowed",
                {"stage": "closed"}, type=WRONG_STAGE, non_retryable=True,
            )
        route = route_action(self.plan, self.state.stage, action, self._blocked())
        if isinstance(route, Rejection):
            raise ApplicationError(route.message, {"stage": route.stage},
                                   type=REJECTION_TYPES[route.code], non_retryable=True)
        return route

    def _validate(self, action: Action, actor: Actor) -> None:
        self._check_sight(actor)
        self._route(action)

    def _check_sight(self, actor: Actor) -> None:
        """A case the user may not see is "not found" (404), so its existence does not leak."""
        sight, s = actor.sight, self.state
        if sight is not None and not sight.sees(s.case_type.code, s.team, s.assignee_id, s.contributions):
            raise ApplicationError(f"case {s.reference} not found", {}, type=NOT_VISIBLE, non_retryable=True)

    def _step(self, action: Action, actor: Actor) -> "_Step":
        return _Step(self, action, actor)

    def _move_to(self, stage: StageSpec, actor: Actor, events: list[TimelineEvent],
                 reason: str | None = None) -> None:
        if stage.key == self.state.stage:
            return
        before = self._here
        self.state.stage = stage.key
        events.append(self._event("stage_changed", f"Stage changed from {before.label} to {stage.label}",
                                  actor, reason=reason, data={"from": before.key, "to": stage.key}))

    async def _commit(self, events: list[TimelineEvent]) -> None:
        self.state.version += 1
        projection = ProjectCaseInput(
            state=self.state, events=events,
            collections=None if self._dirty is None else sorted(self._dirty))
        if self._patched(LOCAL_PROJECTION):
            # A local activity: no server round trips to schedule and complete it. The projection is
            # idempotent, so the re-run a crash can cause is harmless.
            await workflow.execute_local_activity(
                "project_case", projection, start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PATIENT_RETRY, result_type=bool)
        else:
            await workflow.execute_activity(
                "project_case", projection, start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PATIENT_RETRY, result_type=bool)
        self._dirty = set()
        label = "Closed" if self.state.status is CaseStatus.CLOSED else self._here.label
        pairs = search_attributes(self.state, label).search_attributes
        if self._patched(CHANGED_SEARCH_ATTRIBUTES):
            indexed = workflow.info().typed_search_attributes
            pairs = [pair for pair in pairs if indexed.get(pair.key) != pair.value]
        if pairs:
            workflow.upsert_search_attributes([pair.key.value_set(pair.value) for pair in pairs])
        workflow.set_current_details(self._details(label))

    def _details(self, stage_label: str) -> str:
        s = self.state
        lines = [
            f"**{s.reference}** — {s.case_type.name}",
            f"Stage: **{stage_label}**",
            f"Team: {s.team or 'unallocated'} · Assignee: {s.assignee_name or 'none'}",
            f"Complainant: {s.complainant.name} · Received {s.details.date_received.isoformat()}",
        ]
        if s.escalated_from:
            lines.append(f"Stage 2 of {s.escalated_from}")
        if s.clock is not None:
            flags = [flag for flag, on in (("**OVERDUE**", s.clock.overdue),
                                           ("clock stopped", s.clock.open_pause is not None),
                                           ("responded", s.clock.stopped_on is not None)) if on]
            lines.append(f"Due {s.clock.deadline.isoformat()} ({s.clock.policy.name})"
                         + (" · " + " · ".join(flags) if flags else ""))
        return "\n\n".join(lines)

    def _event(self, kind: str, summary: str, actor: Actor, *, reason: str | None = None,
               data: dict[str, Any] | None = None, case_reference: str | None = None) -> TimelineEvent:
        return TimelineEvent(
            id=str(workflow.uuid4()), at=workflow.now(), actor_id=actor.user_id,
            actor_name=actor.display_name, kind=kind, summary=summary, reason=reason,
            data=data or {}, case_reference=case_reference,
        )

    def _changed(self, collection: str) -> None:
        if self._dirty is not None:
            self._dirty.add(collection)
    def _system_event(self, kind: str, summary: str, *, reason: str | None = None,
                      data: dict[str, Any] | None = None, at: datetime | None = None) -> TimelineEvent:
        """An event nobody asked for: the deadline clock acting on its own."""
        return TimelineEvent(
            id=str(workflow.uuid4()), at=at or workflow.now(), actor_id=None, actor_name=CLOCK_ACTOR,
            kind=kind, summary=summary, reason=reason, data=data or {},
        )

    def _summary(self) -> CaseSummary:
        return CaseSummary(reference=self.state.reference, status=self.state.status,
                           stage=self.state.stage, version=self.state.version)

    # ---- helpers for particular steps -------------------------------------------------------

    async def _correspond(self, purpose: str, channel: Channel, actor: Actor, *,
                          extra: dict[str, Any] | None = None,
                          attachments: list[str] | None = None,
                          recipients: list[str] | None = None) -> CorrespondenceResult:
        self.state.correspondence_count += 1
        key = f"{self.state.reference}/{purpose}/{self.state.correspondence_count}"
        result = await self._dispatch(
            CorrespondenceJob(business_key=key, purpose=purpose, channel=channel, state=self.state,
                              sender_name=actor.display_name, extra=extra or {},
                              attachment_ids=attachments or [], recipients=recipients or []))
        self.state.documents.append(result.document)
        self.state.documents.extend(result.documents)
        self._changed("documents")
        return result

    async def _dispatch(self, job: CorrespondenceJob) -> CorrespondenceResult:
        """Render, send and record one letter or email (idempotent by its business key).

        First as a local activity, in the step's own workflow task: no activity task for the
        server to schedule, dispatch and complete (a third of the server's work in a step that
        writes). If the mail server or the database is still down after its attempts, it carries
        on as a regular activity, retried patiently, whose attempts and last failure operations
        see in the Temporal UI. A fault no retry can mend fails the step either way."""
        if self._patched(LOCAL_CORRESPONDENCE):
            try:
                return await workflow.execute_local_activity(
                    "dispatch_correspondence", job, start_to_close_timeout=LOCAL_CORRESPONDENCE_TIMEOUT,
                    retry_policy=LOCAL_CORRESPONDENCE_RETRY, result_type=CorrespondenceResult)
            except (ActivityError, ApplicationError, ActivityTimeoutError) as exc:
                # A local activity's failure arrives as itself, or wrapped as a regular one's is.
                cause = exc.cause if isinstance(exc, ActivityError) else exc
                if isinstance(cause, ApplicationError) and cause.non_retryable:
                    raise
                workflow.logger.warning("correspondence %s not done locally (%s); retrying it as an "
                                        "activity", job.business_key, cause)
        return await workflow.execute_activity(
            "dispatch_correspondence", job, start_to_close_timeout=CORRESPONDENCE_TIMEOUT,
            retry_policy=PATIENT_RETRY, result_type=CorrespondenceResult)

    def _correspondence_event(self, kind: str, what: str, sent: CorrespondenceResult, inp: Any,
                              data: dict[str, Any] | None = None) -> TimelineEvent:
        return self._event(kind, f"{what} {self._how_sent(sent)}", inp.actor,
                           data={**self._sent_data(sent, inp.channel), **(data or {})})

    def _validate_channel(self, channel: Channel) -> None:
        if channel is Channel.EMAIL and not self.state.complainant.email:
            raise invalid("channel", "the complainant has no email address; send by letter")

    def _validate_reviewer(self, actor: Actor) -> None:
        if actor.user_id == self.state.drafted_by_id:
            raise forbidden("the reviewer may not be the drafter of this response")

    def _drafts(self) -> list:
        return [d for d in self.state.documents if d.kind == "draft"]

    def _response_document_id(self) -> str | None:
        if self.state.approved_by is not None or not self.plan.has_kind(StageKind.QA):
            return self.state.submitted_draft_id
        return None

    def _clarification(self, clarification_id: str) -> Clarification | None:
        return next((c for c in self.state.clarifications if c.id == clarification_id), None)

    def _open_contribution(self, contribution_id: str) -> Contribution:
        return next(c for c in self.state.contributions if c.id == contribution_id)

    def _require_open_contribution(self, contribution_id: str) -> None:
        item = next((c for c in self.state.contributions if c.id == contribution_id), None)
        if item is None or item.status != "open":
            raise invalid("contribution_id", f"no open contribution with id {contribution_id}")

    # ---- letters, emails, replies and generated drafts (template library) -------------------

    async def _send_contribution_request(self, item: Contribution,
                                         inp: ContributionRequestInput) -> CorrespondenceResult | None:
        if inp.channel is None or not self._patched(CONTRIBUTION_REQUESTS_SENT):
            return None
        addressee = inp.assignee_name or inp.team_name or inp.team
        item.channel = inp.channel
        item.recipient = inp.recipient_email if inp.channel is Channel.EMAIL else addressee
        extra = {
            "contribution": {"request": inp.request, "due_date": inp.due_date,
                             "team_name": inp.team_name or inp.team,
                             "assignee_name": inp.assignee_name or ""},
            "recipient": {"name": inp.recipient_name or addressee},
        }
        recipients = [inp.recipient_email] if inp.channel is Channel.EMAIL else []
        return await self._correspond("contribution", inp.channel, inp.actor, extra=extra,
                                      recipients=recipients)

    @staticmethod
    def _how_sent(sent: CorrespondenceResult) -> str:
        if sent.message_id:
            if sent.delivery_confirmed:
                return f"emailed to {sent.recipient}"
            return (f"emailed to {sent.recipient} (delivery not confirmed: the attempt stopped while "
                    "sending; not sent again)")
        printable = next((d for d in [sent.document, *sent.documents]
                          if d.content_type == "application/pdf"), sent.document)
        return f"letter ready for the post room: {printable.filename}"

    @staticmethod
    def _sent_data(sent: CorrespondenceResult | None, channel: Channel | None) -> dict[str, Any]:
        """Timeline data of a letter or email: its files, Message-ID and template version."""
        if sent is None:
            return {}
        return {
            "channel": channel.value if channel else None,
            "document_id": sent.document.id,
            "message_id": sent.message_id,
            "recipient": sent.recipient,
            "documents": [{"id": d.id, "filename": d.filename, "content_type": d.content_type}
                          for d in [sent.document, *sent.documents]],
            "template": sent.template.model_dump(mode="json") if sent.template else None,
            "delivery_confirmed": sent.delivery_confirmed,
        }

    def _attach(self, documents: list[DocumentRef]) -> list[str]:
        self.state.documents.extend(documents)
        if documents:
            self._changed("documents")
        return [d.id for d in documents]

    @staticmethod
    def _attachment_data(documents: list[DocumentRef]) -> dict[str, Any]:
        return {"attachment_ids": [d.id for d in documents]} if documents else {}

    def _validate_new_documents(self, documents: list[DocumentRef]) -> None:
        known = {d.id for d in self.state.documents}
        for doc in documents:
            if doc.id in known:
                raise invalid("attachment_ids", f"document {doc.id} is already on this case")
            known.add(doc.id)

    @staticmethod
    def _generated_note(inp: AddDocumentInput) -> str:
        source = inp.generated_from
        if source is None:
            return ""
        count = len(source.standard_lines)
        return (f", generated from the {source.template.describe()} with {count} standard "
                f"line{'' if count == 1 else 's'}")

    @staticmethod
    def _generated_data(inp: AddDocumentInput) -> dict[str, Any]:
        source = inp.generated_from
        if source is None:
            return {}
        return {"template": source.template.model_dump(mode="json"),
                "standard_lines": [line.model_dump() for line in source.standard_lines]}


class _Step:
    """Serialises steps, re-checks the stage under the lock (another step may have moved the case
    while this one waited), applies skips of optional stages, then commits the projection.
    A step that fails part-way (a letter that cannot be made, an address the mail server refuses)
    leaves the case as it was: nothing half-written."""

    def __init__(self, wf: ComplaintCaseWorkflow, action: Action, actor: Actor) -> None:
        self.wf, self.action, self.actor = wf, action, actor
        self.events: list[TimelineEvent] = []

    async def __aenter__(self) -> list[TimelineEvent]:
        await workflow.wait_condition(lambda: self.wf._registered)
        await self.wf._lock.acquire()
        # What to put back if the step fails: a JSON snapshot is far cheaper than a deep copy.
        self.before = self.wf.state.model_dump_json(), self.wf.plan
        try:
            # Again under the lock: a step that waited may find the case re-allocated out of sight.
            self.wf._check_sight(self.actor)
            route = self.wf._route(self.action)
            for skipped in route.skipped:
                self.events.append(self.wf._event("stage_skipped", f"{skipped.label} skipped",
                                                  self.actor, data={"stage": skipped.key}))
            self.wf._move_to(route.stage, self.actor, self.events)
        except BaseException:
            self.wf._lock.release()
            raise
        return self.events

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                await self.wf._commit(self.events)
            else:
                state, self.wf.plan = self.before
                self.wf.state = CaseState.model_validate_json(state)
        finally:
            self.wf._lock.release()
