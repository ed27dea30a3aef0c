"""ComplaintCaseWorkflow: one durable workflow per case, walking its case type's stage plan.

The workflow is the only writer of case state. Human steps are Updates whose validators reject a
step that is not allowed now *before* anything is written to history; the API turns the rejection
into 409 (wrong stage), 422 (invalid field) or 403 (not yours to take). Each accepted step changes
the in-memory state, then one activity writes the PostgreSQL projection and the timeline in one
transaction. No I/O happens here.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from casework.contracts import (
        AcknowledgeInput,
        Actor,
        AddDocumentInput,
        AllocateInput,
        CaseStart,
        CaseState,
        CaseStatus,
        CaseSummary,
        Channel,
        Clarification,
        ClarificationReplyInput,
        ClarificationRequestInput,
        CloseInput,
        CompleteStageInput,
        Contribution,
        ContributionCancelInput,
        ContributionCompleteInput,
        ContributionRequestInput,
        CorrespondenceJob,
        CorrespondenceResult,
        DocumentRef,
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
    from casework.stages import (
        EARLY_CLOSE_ROLES,
        Action,
        Rejection,
        Route,
        StageKind,
        StagePlan,
        StageSpec,
        role_allows,
        route_action,
    )

CASE_REFERENCE = SearchAttributeKey.for_keyword("CaseReference")
CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_TEAM = SearchAttributeKey.for_keyword("CaseTeam")
CASE_ASSIGNEE = SearchAttributeKey.for_keyword("CaseAssignee")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")

# Rejection types the API maps to HTTP statuses (see api/errors.py).
WRONG_STAGE = "WrongStage"
CONFLICT = "StepConflict"
INVALID = "InvalidStep"
FORBIDDEN = "StepForbidden"

PROJECTION_TIMEOUT = timedelta(seconds=30)
CORRESPONDENCE_TIMEOUT = timedelta(minutes=2)
# Database or SMTP outages are waited out; permanent faults are raised non-retryable by activities.
PATIENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))

REJECTION_TYPES = {"wrong_stage": WRONG_STAGE, "conflict": CONFLICT, "invalid": INVALID}


def search_attributes(state: CaseState, stage_label: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(CASE_REFERENCE, state.reference),
            SearchAttributePair(CASE_TYPE, state.case_type.code),
            SearchAttributePair(CASE_STAGE, stage_label),
            SearchAttributePair(CASE_TEAM, state.team or ""),
            SearchAttributePair(CASE_ASSIGNEE, state.assignee_name or ""),
            SearchAttributePair(CASE_STATUS, state.status.value),
        ]
    )


def invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, {"field": field}, type=INVALID, non_retryable=True)


def forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, {}, type=FORBIDDEN, non_retryable=True)


@workflow.defn
class ComplaintCaseWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self.plan = StagePlan.from_data(start.case_type.stages)
        self.state = start.carried_state or CaseState(
            reference=start.reference,
            case_type=start.case_type,
            stage=self.plan.first.key,
            details=start.details,
            correspondents=start.correspondents,
            documents=list(start.attachments),
            registered_by=start.actor.display_name,
            registered_at=workflow.now(),
            escalated_from=start.escalated_from,
        )
        self._registered = start.carried_state is not None
        self._lock = asyncio.Lock()

    # ---- main -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: CaseStart) -> CaseSummary:
        if not self._registered:
            async with self._lock:
                await self._commit(self._registration_events(start))
                self._registered = True
        await workflow.wait_condition(
            lambda: self.state.status is CaseStatus.CLOSED
            or workflow.info().is_continue_as_new_suggested()
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.state.status is not CaseStatus.CLOSED:
            workflow.continue_as_new(start.model_copy(update={"carried_state": self.state}))
        return self._summary()

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
    async def wait_registered(self) -> CaseSummary:
        """Lets the API return only once the case is visible in PostgreSQL."""
        await workflow.wait_condition(lambda: self._registered)
        return self._summary()

    # ---- allocation -------------------------------------------------------------------------

    @workflow.update
    async def allocate(self, inp: AllocateInput) -> CaseSummary:
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
        return self._summary()

    @allocate.validator
    def _validate_allocate(self, inp: AllocateInput) -> None:
        self._validate(Action.ALLOCATE)

    # ---- acknowledgement --------------------------------------------------------------------

    @workflow.update
    async def acknowledge(self, inp: AcknowledgeInput) -> CaseSummary:
        async with self._step(Action.ACKNOWLEDGE, inp.actor) as events:
            sent = await self._correspond("acknowledgement", inp.channel, inp.actor)
            events.append(self._correspondence_event("acknowledged", "Acknowledgement", sent, inp))
            self._move_to(self.plan.next_after(self.state.stage), inp.actor, events)
        return self._summary()

    @acknowledge.validator
    def _validate_acknowledge(self, inp: AcknowledgeInput) -> None:
        self._validate(Action.ACKNOWLEDGE)
        self._validate_channel(inp.channel)

    # ---- clarification ----------------------------------------------------------------------

    @workflow.update
    async def request_clarification(self, inp: ClarificationRequestInput) -> CaseSummary:
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
            extra = {"clarification": {"questions": inp.questions, "reply_by": inp.reply_by}}
            sent = await self._correspond("clarification", inp.channel, inp.actor, extra=extra)
            events.append(
                self._correspondence_event(
                    "clarification_requested", "Clarification request", sent, inp,
                    data={"clarification_id": item.id, "reply_by": inp.reply_by.isoformat()},
                )
            )
        return self._summary()

    @request_clarification.validator
    def _validate_request_clarification(self, inp: ClarificationRequestInput) -> None:
        self._validate(Action.REQUEST_CLARIFICATION)
        self._validate_channel(inp.channel)
        if inp.reply_by < workflow.now().date():
            raise invalid("reply_by", "reply_by must not be in the past")

    @workflow.update
    async def record_clarification_reply(self, inp: ClarificationReplyInput) -> CaseSummary:
        async with self._step(Action.RECORD_CLARIFICATION_REPLY, inp.actor) as events:
            item = self._clarification(inp.clarification_id)
            item.reply = inp.reply
            item.reply_received_on = inp.received_on
            item.replied_by = inp.actor.display_name
            item.replied_at = workflow.now()
            item.reply_attachment_ids = self._attach(inp.attachments)
            events.append(
                self._event("clarification_replied", "Complainant replied to clarification request",
                            inp.actor, data={"clarification_id": item.id, "reply": inp.reply,
                                             **self._attachment_data(inp.attachments)})
            )
        return self._summary()

    @record_clarification_reply.validator
    def _validate_clarification_reply(self, inp: ClarificationReplyInput) -> None:
        self._validate(Action.RECORD_CLARIFICATION_REPLY)
        item = self._clarification(inp.clarification_id)
        if item is None or item.reply is not None:
            raise invalid("clarification_id",
                          f"no unanswered clarification request with id {inp.clarification_id}")
        self._validate_new_documents(inp.attachments)

    # ---- contributions ----------------------------------------------------------------------

    @workflow.update
    async def request_contribution(self, inp: ContributionRequestInput) -> CaseSummary:
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
            sent = await self._send_contribution_request(item, inp)
            events.append(
                self._event("contribution_requested",
                            f"Contribution requested from team {inp.team}, due {inp.due_date}"
                            + (f", {self._how_sent(sent)}" if sent else ""),
                            inp.actor, data={"contribution_id": item.id, "request": inp.request,
                                             **self._sent_data(sent, inp.channel)})
            )
        return self._summary()

    @request_contribution.validator
    def _validate_request_contribution(self, inp: ContributionRequestInput) -> None:
        self._validate(Action.REQUEST_CONTRIBUTION)
        if inp.due_date < workflow.now().date():
            raise invalid("due_date", "due_date must not be in the past")
        if inp.channel is Channel.EMAIL and not inp.recipient_email:
            raise invalid("channel", f"nobody to email: team {inp.team} (and the person asked) "
                                     "have no email address; send by letter")

    @workflow.update
    async def complete_contribution(self, inp: ContributionCompleteInput) -> CaseSummary:
        async with self._step(Action.COMPLETE_CONTRIBUTION, inp.actor) as events:
            item = self._open_contribution(inp.contribution_id)
            item.status, item.details = "completed", inp.details
            item.closed_by, item.closed_at = inp.actor.display_name, workflow.now()
            item.attachment_ids = self._attach(inp.attachments)
            events.append(self._event("contribution_completed", f"Contribution from team {item.team} completed",
                                      inp.actor, data={"contribution_id": item.id, "details": inp.details,
                                                       **self._attachment_data(inp.attachments)}))
        return self._summary()

    @complete_contribution.validator
    def _validate_complete_contribution(self, inp: ContributionCompleteInput) -> None:
        self._validate(Action.COMPLETE_CONTRIBUTION)
        self._require_open_contribution(inp.contribution_id)
        self._validate_new_documents(inp.attachments)

    @workflow.update
    async def cancel_contribution(self, inp: ContributionCancelInput) -> CaseSummary:
        async with self._step(Action.CANCEL_CONTRIBUTION, inp.actor) as events:
            item = self._open_contribution(inp.contribution_id)
            item.status, item.cancel_reason = "cancelled", inp.reason
            item.closed_by, item.closed_at = inp.actor.display_name, workflow.now()
            events.append(self._event("contribution_cancelled", f"Contribution from team {item.team} cancelled",
                                      inp.actor, reason=inp.reason, data={"contribution_id": item.id}))
        return self._summary()

    @cancel_contribution.validator
    def _validate_cancel_contribution(self, inp: ContributionCancelInput) -> None:
        self._validate(Action.CANCEL_CONTRIBUTION)
        self._require_open_contribution(inp.contribution_id)

    # ---- documents and drafting -------------------------------------------------------------

    @workflow.update
    async def add_document(self, inp: AddDocumentInput) -> CaseSummary:
        async with self._step(Action.ADD_DOCUMENT, inp.actor) as events:
            doc = inp.document
            if doc.kind == "draft":
                doc = doc.model_copy(update={"version": len(self._drafts()) + 1})
            self.state.documents.append(doc)
            label = f"Draft response v{doc.version}" if doc.kind == "draft" else "Document"
            events.append(self._event("document_added", f"{label} added: {doc.filename}"
                                      + self._generated_note(inp), inp.actor,
                                      data={"document_id": doc.id, "kind": doc.kind,
                                            **self._generated_data(inp)}))
        return self._summary()

    @add_document.validator
    def _validate_add_document(self, inp: AddDocumentInput) -> None:
        self._validate(Action.ADD_DOCUMENT)
        if inp.document.kind not in ("attachment", "draft"):
            raise invalid("kind", "kind must be 'attachment' or 'draft'")
        if any(d.id == inp.document.id for d in self.state.documents):
            raise invalid("document", f"document {inp.document.id} is already on this case")

    @workflow.update
    async def submit_draft(self, inp: SubmitDraftInput) -> CaseSummary:
        async with self._step(Action.SUBMIT_DRAFT, inp.actor) as events:
            draft = self._drafts()[-1]
            self.state.submitted_draft_id = draft.id
            self.state.drafted_by_id = inp.actor.user_id
            self.state.approved_by = None
            events.append(self._event("draft_submitted", f"Draft response v{draft.version} submitted",
                                      inp.actor, reason=inp.note, data={"document_id": draft.id}))
            self._move_to(self.plan.next_after(self._draft_stage.key), inp.actor, events)
        return self._summary()

    @submit_draft.validator
    def _validate_submit_draft(self, inp: SubmitDraftInput) -> None:
        self._validate(Action.SUBMIT_DRAFT)
        if not self._drafts():
            raise invalid("document", "a response document is required: upload a draft first")

    @workflow.update
    async def approve_draft(self, inp: QaDecisionInput) -> CaseSummary:
        async with self._step(Action.APPROVE_DRAFT, inp.actor) as events:
            self.state.approved_by = inp.actor.display_name
            events.append(self._event("qa_approved", "Draft response approved", inp.actor,
                                      reason=inp.reason,
                                      data={"document_id": self.state.submitted_draft_id}))
            self._move_to(self.plan.next_after(self.state.stage), inp.actor, events)
        return self._summary()

    @approve_draft.validator
    def _validate_approve(self, inp: QaDecisionInput) -> None:
        self._validate(Action.APPROVE_DRAFT)
        self._validate_reviewer(inp.actor)

    @workflow.update
    async def reject_draft(self, inp: QaDecisionInput) -> CaseSummary:
        async with self._step(Action.REJECT_DRAFT, inp.actor) as events:
            events.append(self._event("qa_rejected", "Draft response rejected", inp.actor,
                                      reason=inp.reason,
                                      data={"document_id": self.state.submitted_draft_id}))
            self.state.submitted_draft_id = None
            self._move_to(self._draft_stage, inp.actor, events, reason=inp.reason)
        return self._summary()

    @reject_draft.validator
    def _validate_reject(self, inp: QaDecisionInput) -> None:
        self._validate(Action.REJECT_DRAFT)
        self._validate_reviewer(inp.actor)
        if not (inp.reason or "").strip():
            raise invalid("reason", "a reason is required to reject a draft")

    # ---- send, outcome, close ---------------------------------------------------------------

    @workflow.update
    async def send_response(self, inp: SendResponseInput) -> CaseSummary:
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
            self._move_to(self.plan.next_after(self.state.stage), inp.actor, events)
        return self._summary()

    @send_response.validator
    def _validate_send(self, inp: SendResponseInput) -> None:
        self._validate(Action.SEND_RESPONSE)
        self._validate_channel(inp.channel)
        if self._response_document_id() is None:
            raise invalid("document", "a response document is required before sending")

    @workflow.update
    async def record_outcome(self, inp: OutcomeInput) -> CaseSummary:
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
        return self._summary()

    @record_outcome.validator
    def _validate_outcome(self, inp: OutcomeInput) -> None:
        self._validate(Action.RECORD_OUTCOME)
        options = self.state.case_type.outcome_options
        if inp.outcome not in options:
            raise invalid("outcome", f"outcome must be one of: {', '.join(options)}")

    @workflow.update
    async def close(self, inp: CloseInput) -> CaseSummary:
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
        return self._summary()

    @close.validator
    def _validate_close(self, inp: CloseInput) -> None:
        self._validate(Action.CLOSE)
        reasons = self.state.case_type.close_reasons
        if inp.reason not in reasons:
            raise invalid("reason", f"reason must be one of: {', '.join(reasons)}")
        if self._here.kind is not StageKind.CLOSURE:
            if not role_allows(set(inp.actor.roles), EARLY_CLOSE_ROLES):
                raise forbidden("closing a case before its closure stage needs a coordinator or manager")
            if not (inp.note or "").strip():
                raise invalid("note", f"a note is required to close a case early (at stage {self._here.label})")

    @workflow.update
    async def complete_stage(self, inp: CompleteStageInput) -> CaseSummary:
        async with self._step(Action.COMPLETE_STAGE, inp.actor) as events:
            done = self._here
            events.append(self._event("stage_completed", f"{done.label} completed", inp.actor,
                                      reason=inp.note))
            self._move_to(self.plan.next_after(done.key), inp.actor, events)
        return self._summary()

    @complete_stage.validator
    def _validate_complete_stage(self, inp: CompleteStageInput) -> None:
        self._validate(Action.COMPLETE_STAGE)

    # ---- notes ------------------------------------------------------------------------------

    @workflow.update
    async def add_note(self, inp: NoteInput) -> CaseSummary:
        async with self._step(Action.ADD_NOTE, inp.actor) as events:
            note = Note(id=str(workflow.uuid4()), text=inp.text, created_by=inp.actor.display_name,
                        created_by_id=inp.actor.user_id, created_at=workflow.now())
            self.state.notes.append(note)
            events.append(self._event("note_added", "Case note added", inp.actor,
                                      data={"note_id": note.id, "text": inp.text}))
        return self._summary()

    @add_note.validator
    def _validate_add_note(self, inp: NoteInput) -> None:
        self._validate(Action.ADD_NOTE)

    @workflow.update
    async def edit_note(self, inp: NoteEditInput) -> CaseSummary:
        async with self._step(Action.EDIT_NOTE, inp.actor) as events:
            note = next(n for n in self.state.notes if n.id == inp.note_id)
            previous = note.text
            note.text, note.edited_by, note.edited_at = inp.text, inp.actor.display_name, workflow.now()
            events.append(self._event("note_edited", "Case note edited", inp.actor,
                                      data={"note_id": note.id, "previous": previous, "text": inp.text}))
        return self._summary()

    @edit_note.validator
    def _validate_edit_note(self, inp: NoteEditInput) -> None:
        self._validate(Action.EDIT_NOTE)
        if not any(n.id == inp.note_id for n in self.state.notes):
            raise invalid("note_id", f"no note with id {inp.note_id} on this case")

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
        """Optional stages that cannot be skipped: unanswered clarifications still within their
        reply-by date, and open contributions."""
        today = workflow.now().date()
        blocked: set[str] = set()
        waiting = any(c.reply is None and c.reply_by >= today for c in self.state.clarifications)
        open_contribution = any(c.status == "open" for c in self.state.contributions)
        for stage in self.plan.stages:
            if (stage.kind is StageKind.CLARIFICATION and waiting) or (
                stage.kind is StageKind.CONTRIBUTIONS and open_contribution
            ):
                blocked.add(stage.key)
        return frozenset(blocked)

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

    def _validate(self, action: Action) -> None:
        self._route(action)

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

    async def _commit(self, events: list[TimelineEvent], escalated_to: str | None = None) -> None:
        self.state.version += 1
        await workflow.execute_activity(
            "project_case",
            ProjectCaseInput(state=self.state, events=events),
            start_to_close_timeout=PROJECTION_TIMEOUT,
            retry_policy=PATIENT_RETRY,
            result_type=bool,
        )
        label = "Closed" if self.state.status is CaseStatus.CLOSED else self._here.label
        workflow.upsert_search_attributes(
            [pair.key.value_set(pair.value) for pair in search_attributes(self.state, label)]
        )
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
        return "\n\n".join(lines)

    def _event(self, kind: str, summary: str, actor: Actor, *, reason: str | None = None,
               data: dict[str, Any] | None = None, case_reference: str | None = None) -> TimelineEvent:
        return TimelineEvent(
            id=str(workflow.uuid4()), at=workflow.now(), actor_id=actor.user_id,
            actor_name=actor.display_name, kind=kind, summary=summary, reason=reason,
            data=data or {}, case_reference=case_reference,
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
        result = await workflow.execute_activity(
            "dispatch_correspondence",
            CorrespondenceJob(business_key=key, purpose=purpose, channel=channel, state=self.state,
                              sender_name=actor.display_name, extra=extra or {},
                              attachment_ids=attachments or [], recipients=recipients or []),
            start_to_close_timeout=CORRESPONDENCE_TIMEOUT,
            retry_policy=PATIENT_RETRY,
            result_type=CorrespondenceResult,
        )
        self.state.documents.append(result.document)
        self.state.documents.extend(result.documents)
        return result

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

    # Contribution requests go out by letter or email from this version on; older histories
    # recorded them without sending anything.
    CONTRIBUTION_REQUESTS_SENT = "contribution-requests-sent"

    async def _send_contribution_request(self, item: Contribution,
                                         inp: ContributionRequestInput) -> CorrespondenceResult | None:
        if inp.channel is None or not workflow.patched(self.CONTRIBUTION_REQUESTS_SENT):
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
        self.before = self.wf.state.model_copy(deep=True)
        try:
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
                self.wf.state = self.before
        finally:
            self.wf._lock.release()
