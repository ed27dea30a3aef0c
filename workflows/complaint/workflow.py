"""ComplaintCaseWorkflow: government-style complaint casework (F1), one durable workflow per case.

The case walks its type's stage plan (casework/kinds/complaint/rules.py): allocation,
acknowledgement, optional clarification and contributions, a draft response through quality
assurance, sending it, recording the outcome, closure. What every kind of case shares (the step
wrapper, allocation, documents, notes, early close, the deadline clock, letters and emails, type
and calendar changes) is the engine's (workflows/engine/base.py); this class holds complaint
casework's own steps and rules. Update names are what recorded histories hold: keep them.
"""

from __future__ import annotations

from datetime import date, datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from casework.calendar.bounds import MAX_HORIZON_DAYS, ahead_refusal, sent_refusal
    from casework.calendar.deadlines import format_day
    from casework.cases.contracts import Actor, CaseSummary, Channel, TimelineEvent
    from casework.cases.jobs import CorrespondenceResult
    from casework.cases.stages import EngineAction
    from casework.kinds.complaint.contracts import (
        AcknowledgeInput,
        AuthorityInput,
        CaseStart,
        Clarification,
        ClarificationReplyInput,
        ClarificationRequestInput,
        ComplaintState,
        Contribution,
        ContributionCancelInput,
        ContributionCompleteInput,
        ContributionRequestInput,
        HoldingResponseInput,
        OutcomeInput,
        QaDecisionInput,
        ResponseChannel,
        SendBackInput,
        SendResponseInput,
        SentBack,
        SubmitDraftInput,
    )
    from casework.kinds.complaint.rules import RULES, Action, StageKind

from workflows.engine import CaseWorkflow, conflict, forbidden, invalid, shared_type
from workflows.engine.versioning import CONTRIBUTION_REQUESTS_SENT


def initial_state(start: CaseStart, now: datetime) -> ComplaintState:
    return ComplaintState(
        reference=start.reference,
        case_type=start.case_type,
        stage=shared_type(start.case_type)[1].first.key,
        details=start.details,
        correspondents=start.correspondents,
        documents=list(start.attachments),
        parties=list(start.parties),
        registered_by=start.actor.display_name,
        registered_at=now,
        escalated_from=start.escalated_from,
    )


@workflow.defn
class ComplaintCaseWorkflow(CaseWorkflow[ComplaintState]):
    RULES = RULES

    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: CaseStart) -> CaseSummary:
        return await self._run_case(start)

    @classmethod
    def _initial_state(cls, start: CaseStart, now: datetime) -> ComplaintState:
        return initial_state(start, now)

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

    def _detail_lines(self) -> list[str]:
        return [f"Stage 2 of {self.state.escalated_from}"] if self.state.escalated_from else []

    def _still_waiting(self, pause) -> bool:
        today = self._today()
        return any(c.id in pause.clarification_ids and c.reply is None and c.reply_by >= today
                   for c in self.state.clarifications)

    # ---- acknowledgement --------------------------------------------------------------------

    @workflow.update
    async def acknowledge(self, inp: AcknowledgeInput) -> ComplaintState:
        async with self._step(Action.ACKNOWLEDGE, inp.actor) as events:
            sent = await self._correspond("acknowledgement", inp.channel, inp.actor)
            self.state.acknowledged = True
            events.append(self._correspondence_event("acknowledged", "Acknowledgement", sent, inp))
            self._advance(inp.actor, events)
        return self.state

    @acknowledge.validator
    def _validate_acknowledge(self, inp: AcknowledgeInput) -> None:
        self._validate(Action.ACKNOWLEDGE, inp.actor)
        self._validate_channel(inp.channel)

    # ---- a representative's letter of authority ---------------------------------------------

    @workflow.update
    async def record_authority(self, inp: AuthorityInput) -> ComplaintState:
        async with self._step(Action.RECORD_AUTHORITY, inp.actor) as events:
            person = self.state.correspondent(inp.correspondent_id)
            assert person is not None  # the validator found them
            person.authority_received_on, person.authority_document_id = inp.received_on, inp.document.id
            self.state.documents.append(inp.document)
            received = format_day(inp.received_on)
            events.append(self._event(
                "authority_received", f"Letter of authority for {person.name} received on {received}", inp.actor,
                data={"correspondent_id": person.id, "received_on": inp.received_on.isoformat(),
                      "document_id": inp.document.id}))
        return self.state

    @record_authority.validator
    def _validate_record_authority(self, inp: AuthorityInput) -> None:
        self._validate(Action.RECORD_AUTHORITY, inp.actor)
        person = self.state.correspondent(inp.correspondent_id)
        if person is None or person.is_primary:
            raise invalid("correspondent_id", f"no representative or third party with id {inp.correspondent_id}")
        refusal = sent_refusal("received_on", inp.received_on, self._today(), self.state.date_received)
        if refusal is not None:
            raise invalid("received_on", refusal)
        self._validate_new_documents([inp.document])

    # ---- out of turn: to a manager, back to triage -------------------------------------------

    @workflow.update
    async def refer_to_manager(self, inp: SendBackInput) -> ComplaintState:
        """Send the case up to a (workflow) manager, who sends it back to triage, on to drafting,
        or closes it."""
        async with self._step(Action.REFER_TO_MANAGER, inp.actor) as events:
            self.state.referred = self._sent_back(inp)
            events.append(self._event("referred_to_manager", f"Referred to a manager from {self._here.label}",
                                      inp.actor, reason=inp.reason, data={"from": self.state.stage}))
            self._advance(inp.actor, events, reason=inp.reason)
        return self.state

    @refer_to_manager.validator
    def _validate_refer_to_manager(self, inp: SendBackInput) -> None:
        self._validate(Action.REFER_TO_MANAGER, inp.actor)
        self._check_send_back(inp, StageKind.MANAGER)

    @workflow.update
    async def return_to_triage(self, inp: SendBackInput) -> ComplaintState:
        """Send the case back to triage (the wrong team; QA: not ours to answer): it waits in the
        returned cases queue until a coordinator re-triages it (allocates it) or closes it."""
        async with self._step(Action.RETURN_TO_TRIAGE, inp.actor) as events:
            self.state.returned, self.state.referred = self._sent_back(inp), None
            events.append(self._event("returned_to_triage", f"Returned to triage from {self._here.label}",
                                      inp.actor, reason=inp.reason, data={"from": self.state.stage}))
            self._advance(inp.actor, events, reason=inp.reason)
        return self.state

    @return_to_triage.validator
    def _validate_return_to_triage(self, inp: SendBackInput) -> None:
        self._validate(Action.RETURN_TO_TRIAGE, inp.actor)
        self._check_send_back(inp, StageKind.TRIAGE)

    @workflow.update
    async def send_to_drafting(self, inp: SendBackInput) -> ComplaintState:
        """A manager sends a referred case on to drafting."""
        async with self._step(Action.SEND_TO_DRAFTING, inp.actor) as events:
            self.state.referred = None
            events.append(self._event("sent_to_drafting", "Sent on to drafting by a manager", inp.actor,
                                      reason=inp.reason))
            self._advance(inp.actor, events, reason=inp.reason)
        return self.state

    @send_to_drafting.validator
    def _validate_send_to_drafting(self, inp: SendBackInput) -> None:
        self._validate(Action.SEND_TO_DRAFTING, inp.actor)
        if not inp.reason.strip():
            raise invalid("reason", "a reason is required")

    def _sent_back(self, inp: SendBackInput) -> SentBack:
        return SentBack(from_stage=self.state.stage, reason=inp.reason, by=inp.actor.display_name,
                        at=workflow.now())

    def _check_send_back(self, inp: SendBackInput, to: StageKind) -> None:
        """(Which stages it may be sent from is the rule table's.)"""
        if not inp.reason.strip():
            raise invalid("reason", "a reason is required")
        if not self.plan.has_kind(to):
            raise conflict(f"the stage plan of {self.state.case_type.name} has no {to} stage", self.state.stage)

    def _advance(self, actor: Actor, events: list[TimelineEvent], reason: str | None = None) -> None:
        """As every kind's, but a returned case, once re-triaged (allocated), goes on to drafting
        if it was acknowledged already, and a case leaving the manager stage is no longer referred."""
        if (self._action == EngineAction.ALLOCATE and self.state.returned is not None
                and self._here.kind == StageKind.TRIAGE):
            self.state.returned = None
            events.append(self._event("retriaged", "Re-triaged", actor, reason=reason))
            drafting = self.plan.first_of_kind(StageKind.DRAFT)
            if self.state.acknowledged and drafting is not None:
                self._move_to(drafting, actor, events, reason=reason)
                return
        super()._advance(actor, events, reason)

    # ---- clarification ----------------------------------------------------------------------

    @workflow.update
    async def request_clarification(self, inp: ClarificationRequestInput) -> ComplaintState:
        async with self._step(Action.REQUEST_CLARIFICATION, inp.actor) as events:
            item = Clarification(
                id=str(workflow.uuid4()),
                channel=inp.channel,
                questions=inp.questions,
                reply_by=inp.reply_by,
                requested_by=inp.actor.display_name,
                requested_at=workflow.now(),
                sent_on=inp.sent_on,
            )
            self.state.clarifications.append(item)
            data = {"clarification_id": item.id, "reply_by": inp.reply_by.isoformat()}
            if inp.channel is None:
                sent_on = inp.sent_on or self._today()
                events.append(self._event(
                    "clarification_requested",
                    f"Clarification request sent on {format_day(sent_on)} recorded (sent outside the system)",
                    inp.actor, data={**data, "sent_on": sent_on.isoformat()}))
            else:
                extra = {"clarification": {"questions": inp.questions, "reply_by": inp.reply_by}}
                sent = await self._correspond("clarification", inp.channel, inp.actor, extra=extra)
                events.append(self._correspondence_event(
                    "clarification_requested", "Clarification request", sent, inp, data=data))
            events.extend(self._pause_clock(item, inp.actor, started_on=inp.sent_on))
        return self.state

    @request_clarification.validator
    def _validate_request_clarification(self, inp: ClarificationRequestInput) -> None:
        self._validate(Action.REQUEST_CLARIFICATION, inp.actor)
        if inp.channel is not None:
            self._validate_channel(inp.channel)
        self._check_ahead("reply_by", inp.reply_by)
        if inp.sent_on is not None:
            if inp.channel is not None and inp.sent_on != self._today():
                raise invalid("sent_on", "a request sent now is sent today: to record one sent "
                                         "earlier, leave channel out")
            refusal = sent_refusal("sent_on", inp.sent_on, self._today(), self.state.date_received)
            if refusal is not None:
                raise invalid("sent_on", refusal)

    @workflow.update
    async def record_clarification_reply(self, inp: ClarificationReplyInput) -> ComplaintState:
        async with self._step(Action.RECORD_CLARIFICATION_REPLY, inp.actor) as events:
            item = self._clarification(inp.clarification_id)
            if item is None or item.reply is not None:  # again: another reply may have got in first
                raise invalid("clarification_id", f"no unanswered clarification request with id {inp.clarification_id}")
            item.reply = inp.reply
            received = item.reply_received_on = inp.received_on or self._today()
            item.replied_by = inp.actor.display_name
            item.replied_at = workflow.now()
            item.reply_attachment_ids = self._attach(inp.attachments)
            events.append(
                self._event("clarification_replied", "Complainant replied to clarification request",
                            inp.actor, data={"clarification_id": item.id, "reply": inp.reply,
                                             **self._attachment_data(inp.attachments)})
            )
            pause = self.state.clock.open_pause if self.state.clock else None
            if pause is not None and item.id in pause.clarification_ids and not self._still_waiting(pause):
                # The clock restarts on the day the answer came in (never before it stopped).
                ended = min(max(received, pause.started_on), self._today())
                events.extend(await self._resume_clock(
                    pause, ended, f"The complainant replied on {format_day(received)}", inp.actor))
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
        if inp.received_on is not None and inp.received_on < self.state.date_received:
            raise invalid("received_on", "received_on cannot be before the case was received "
                                         f"({self.state.date_received.isoformat()})")
        if inp.received_on is not None and item.sent_on is not None and inp.received_on < item.sent_on:
            raise invalid("received_on", "received_on cannot be before the request was sent "
                                         f"({item.sent_on.isoformat()})")
        self._validate_new_documents(inp.attachments)

    # ---- contributions ----------------------------------------------------------------------

    @workflow.update
    async def request_contribution(self, inp: ContributionRequestInput) -> ComplaintState:
        async with self._step(Action.REQUEST_CONTRIBUTION, inp.actor) as events:
            item = Contribution(
                id=str(workflow.uuid4()),
                team=inp.team,
                assignee_id=inp.assignee_id,
                assignee_name=inp.assignee_name,
                request=inp.request,
                due_date=inp.due_date,
                kind=inp.kind,
                requested_by=inp.actor.display_name,
                requested_at=workflow.now(),
            )
            self.state.contributions.append(item)
            sent = await self._send_contribution_request(item, inp)
            events.append(
                self._event("contribution_requested",
                            f"Contribution{f' ({inp.kind})' if inp.kind else ''} requested from team "
                            f"{inp.team}, due {inp.due_date}"
                            + (f", {self._how_sent(sent)}" if sent else ""),
                            inp.actor, data={"contribution_id": item.id, "request": inp.request, "kind": inp.kind,
                                             **self._sent_data(sent, inp.channel)})
            )
        return self.state

    @request_contribution.validator
    def _validate_request_contribution(self, inp: ContributionRequestInput) -> None:
        self._validate(Action.REQUEST_CONTRIBUTION, inp.actor)
        # A request recorded after the event may be past due already: it shows overdue at once.
        if inp.due_date < self.state.date_received:
            raise invalid("due_date", "due_date cannot be before the case was received "
                                      f"({self.state.date_received.isoformat()})")
        if inp.due_date > self._today():
            self._check_ahead("due_date", inp.due_date)
        if inp.channel is Channel.EMAIL and not inp.recipient_email:
            raise invalid("channel", f"nobody to email: team {inp.team} (and the person asked) "
                                     "have no email address; send by letter")

    @workflow.update
    async def complete_contribution(self, inp: ContributionCompleteInput) -> ComplaintState:
        async with self._step(Action.COMPLETE_CONTRIBUTION, inp.actor) as events:
            item = self._open_contribution(inp.contribution_id)
            item.status, item.details = "completed", inp.details
            item.closed_by, item.closed_at = inp.actor.display_name, workflow.now()
            item.received_on = inp.received_on
            item.attachment_ids = self._attach(inp.attachments)
            received = {} if inp.received_on is None else {"received_on": inp.received_on.isoformat()}
            events.append(self._event("contribution_completed", f"Contribution from team {item.team} completed",
                                      inp.actor, data={"contribution_id": item.id, "details": inp.details,
                                                       **received, **self._attachment_data(inp.attachments)}))
        return self.state

    @complete_contribution.validator
    def _validate_complete_contribution(self, inp: ContributionCompleteInput) -> None:
        self._validate(Action.COMPLETE_CONTRIBUTION, inp.actor)
        self._require_open_contribution(inp.contribution_id)
        self._validate_new_documents(inp.attachments)
        if inp.received_on is not None:
            # Entered after the event, perhaps: between the day the case was received and today.
            refusal = sent_refusal("received_on", inp.received_on, self._today(), self.state.date_received)
            if refusal is not None:
                raise invalid("received_on", refusal)

    @workflow.update
    async def cancel_contribution(self, inp: ContributionCancelInput) -> ComplaintState:
        async with self._step(Action.CANCEL_CONTRIBUTION, inp.actor) as events:
            item = self._open_contribution(inp.contribution_id)
            item.status, item.cancel_reason = "cancelled", inp.reason
            item.closed_by, item.closed_at = inp.actor.display_name, workflow.now()
            events.append(self._event("contribution_cancelled", f"Contribution from team {item.team} cancelled",
                                      inp.actor, reason=inp.reason, data={"contribution_id": item.id}))
        return self.state

    @cancel_contribution.validator
    def _validate_cancel_contribution(self, inp: ContributionCancelInput) -> None:
        self._validate(Action.CANCEL_CONTRIBUTION, inp.actor)
        self._require_open_contribution(inp.contribution_id)


    @workflow.update
    async def submit_draft(self, inp: SubmitDraftInput) -> ComplaintState:
        async with self._step(Action.SUBMIT_DRAFT, inp.actor) as events:
            draft = self._drafts()[-1]
            self.state.submitted_draft_id = draft.id
            self.state.drafted_by_id = inp.actor.user_id
            if inp.actor.user_id not in self.state.draft_submitter_ids:
                self.state.draft_submitter_ids.append(inp.actor.user_id)
            self.state.approved_by = None
            events.append(self._event("draft_submitted", f"Draft response v{draft.version} submitted",
                                      inp.actor, reason=inp.note, data={"document_id": draft.id}))
            self._advance(inp.actor, events)
        return self.state

    @submit_draft.validator
    def _validate_submit_draft(self, inp: SubmitDraftInput) -> None:
        self._validate(Action.SUBMIT_DRAFT, inp.actor)
        if not self._drafts():
            raise invalid("document", "a response document is required: upload a draft first")

    @workflow.update
    async def approve_draft(self, inp: QaDecisionInput) -> ComplaintState:
        async with self._step(Action.APPROVE_DRAFT, inp.actor) as events:
            self.state.approved_by = inp.actor.display_name
            events.append(self._event("qa_approved", "Draft response approved", inp.actor,
                                      reason=inp.reason,
                                      data={"document_id": self.state.submitted_draft_id}))
            self._advance(inp.actor, events)
        return self.state

    @approve_draft.validator
    def _validate_approve(self, inp: QaDecisionInput) -> None:
        self._validate(Action.APPROVE_DRAFT, inp.actor)
        self._validate_reviewer(inp.actor)

    @workflow.update
    async def reject_draft(self, inp: QaDecisionInput) -> ComplaintState:
        async with self._step(Action.REJECT_DRAFT, inp.actor) as events:
            events.append(self._event("qa_rejected", "Draft response rejected", inp.actor,
                                      reason=inp.reason,
                                      data={"document_id": self.state.submitted_draft_id}))
            self.state.submitted_draft_id = None
            self._advance(inp.actor, events, reason=inp.reason)
        return self.state

    @reject_draft.validator
    def _validate_reject(self, inp: QaDecisionInput) -> None:
        self._validate(Action.REJECT_DRAFT, inp.actor)
        self._validate_reviewer(inp.actor)
        if not (inp.reason or "").strip():
            raise invalid("reason", "a reason is required to reject a draft")

    # ---- send, outcome, close ---------------------------------------------------------------

    @workflow.update
    async def send_response(self, inp: SendResponseInput) -> ComplaintState:
        async with self._step(Action.SEND_RESPONSE, inp.actor) as events:
            draft_id = self._response_document_id()
            channel = inp.channel.sent
            if channel is None:
                # Given by telephone or in person: nothing to send; the approved response document
                # is the record of what was said.
                how = "by telephone" if inp.channel is ResponseChannel.TELEPHONE else "in person"
                events.append(self._event(
                    "response_given", f"Response given {how}", inp.actor,
                    data={"channel": inp.channel.value, "sent_on": inp.sent_on.isoformat(),
                          "response_document_id": draft_id}))
            else:
                attachments = [draft_id] if draft_id and channel is Channel.EMAIL else []
                sent = await self._correspond("response", channel, inp.actor,
                                              extra={"response": {"summary": ""}},
                                              attachments=attachments, addressee_id=inp.to)
                events.append(self._correspondence_event(
                    "response_sent", "Response", sent, inp,
                    data={"sent_on": inp.sent_on.isoformat(), "response_document_id": draft_id}))
            self.state.sent_channel = inp.channel
            self.state.sent_on = inp.sent_on
            events.extend(await self._stop_clock(inp.sent_on, inp.actor))
            self._advance(inp.actor, events)
        return self.state

    @send_response.validator
    def _validate_send(self, inp: SendResponseInput) -> None:
        self._validate(Action.SEND_RESPONSE, inp.actor)
        addressee = self.state.correspondent(inp.to)
        if addressee is None:
            raise invalid("to", f"no correspondent with id {inp.to} on this case")
        if addressee.lacks_authority:
            raise conflict(f"{addressee.name} may be sent the response only once the complainant's letter of "
                           f"authority is on file: record it (POST …/correspondents/{addressee.id}/authority), "
                           "or send it to the complainant", self.state.stage)
        if inp.channel.sent is Channel.EMAIL and inp.to is not None and not addressee.email:
            raise invalid("channel", f"{addressee.name} has no email address; send by letter")
        if inp.channel.sent is not None and inp.to is None:
            self._validate_channel(inp.channel.sent)
        if self._response_document_id() is None:
            raise invalid("document", "a response document is required before sending")
        # A sent date before the case was received would mark any deadline met.
        refusal = sent_refusal("sent_on", inp.sent_on, self._today(), self.state.date_received)
        if refusal is not None:
            raise invalid("sent_on", refusal)

    @workflow.update
    async def send_holding_response(self, inp: HoldingResponseInput) -> ComplaintState:
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
        self._check_ahead("new_due_date", inp.new_due_date)

    @workflow.update
    async def record_outcome(self, inp: OutcomeInput) -> ComplaintState:
        async with self._step(Action.RECORD_OUTCOME, inp.actor) as events:
            self.state.outcome = inp.outcome
            self.state.outcome_detail = inp.detail
            self.state.redress_amount = inp.redress_amount
            events.append(self._event("outcome_recorded", f"Outcome recorded: {inp.outcome}", inp.actor,
                                      reason=inp.detail,
                                      data={"outcome": inp.outcome,
                                            "redress_amount": str(inp.redress_amount)
                                            if inp.redress_amount is not None else None}))
            self._advance(inp.actor, events)
        return self.state

    @record_outcome.validator
    def _validate_outcome(self, inp: OutcomeInput) -> None:
        self._validate(Action.RECORD_OUTCOME, inp.actor)
        options = self.state.case_type.outcome_options
        if inp.outcome not in options:
            raise invalid("outcome", f"outcome must be one of: {', '.join(options)}")


    def _check_ahead(self, field: str, value: date) -> None:
        """A date something is due: not past, nor beyond the widest horizon any configuration allows
        (the API applies the configured one), so the clock's date arithmetic cannot overflow."""
        refusal = ahead_refusal(field, value, self._today(), MAX_HORIZON_DAYS)
        if refusal is not None:
            raise invalid(field, refusal)

    def _validate_reviewer(self, actor: Actor) -> None:
        """Four eyes: the reviewer wrote no version of the draft (uploaded or generated) and
        submitted none for review. A document recorded without its author's id (before it was
        kept) is compared by the author's name."""
        if actor.user_id == self.state.drafted_by_id or actor.user_id in self.state.draft_submitter_ids:
            raise forbidden("four eyes: the reviewer may not be a drafter of this response "
                            "(they submitted a version of it for review)")
        for draft in self._drafts():
            if (draft.added_by_id == actor.user_id
                    or (draft.added_by_id is None and draft.added_by == actor.display_name)):
                raise forbidden(f"four eyes: the reviewer may not be a drafter of this response "
                                f"(draft version {draft.version} is theirs)")

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
        recipients = [inp.recipient_email] if inp.channel is Channel.EMAIL and inp.recipient_email else []
        return await self._correspond("contribution", inp.channel, inp.actor, extra=extra,
                                      recipients=recipients)

