"""LeadReturnWorkflow: one durable workflow per lead return (F5).

A return is open until someone with the decide permission accepts or declines it; either closes
it. Accepting is a saga: the return counts against the partner's monthly cap, the lead's status
and billing point are reset, its transactions reversed (new ledger rows) and the partner and
introducer emailed. Each activity is keyed by the return's reference, so a retried step or a
restarted worker posts nothing twice; a step that fails for good undoes the ones before it and the
return says what happened. An auto-accept rule and the decision task run on durable timers.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from casework.cases.contracts import (
        Actor,
        CaseStatus,
        CaseSummary,
        Channel,
        PartyLink,
        TaskAssignee,
        TaskStatus,
        TimelineEvent,
    )
    from casework.kinds.lead_return.contracts import (
        REPLACEMENT_DAYS,
        CapClaim,
        DecideInput,
        LeadReset,
        LeadReturnStart,
        LeadReturnState,
        LeadSnapshot,
        Replacement,
        ReplacementInput,
        ReplacementJob,
        ReturnStatus,
        ReversalJob,
        ReversalPosted,
    )
    from casework.kinds.lead_return.rules import RULES, Action

from workflows.engine import CaseWorkflow, conflict, invalid, shared_type

SAGA_TIMEOUT = timedelta(seconds=30)
DECISION_TASK = "decision"  # the source of the decider's task
REPLACEMENT_TASK = "replacement"  # the source of the task to send a replacement lead
AUTO_ACCEPT = Actor(user_id=0, username="casework", display_name="Auto-accept rule")


@workflow.defn
class LeadReturnWorkflow(CaseWorkflow[LeadReturnState]):
    RULES = RULES

    @workflow.init
    def __init__(self, start: LeadReturnStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: LeadReturnStart) -> CaseSummary:
        auto_accept = asyncio.create_task(self._auto_accept())
        try:
            summary = await self._run_case(start)
            await auto_accept  # an auto-accept that closed the case finishes its step first
            return summary
        finally:
            auto_accept.cancel()

    @classmethod
    def _initial_state(cls, start: LeadReturnStart, now: datetime) -> LeadReturnState:
        return LeadReturnState(
            reference=start.reference, case_type=start.case_type, stage=shared_type(start.case_type)[1].first.key,
            correspondents=start.correspondents, parties=list(start.parties), registered_by=start.actor.display_name,
            registered_at=now, team=start.team, assignee_id=start.assignee_id, assignee_name=start.assignee_name,
            lead_id=start.lead_id, lead_name=start.lead_name, lead_group=start.lead_group, partner=start.partner,
            introducer=start.introducer, reason=start.reason, reason_text=start.reason_text,
            requested_on=start.requested_on, requested_by_partner=start.requested_by_partner,
            email_introducer_default=start.email_introducer_default,
            email_partner_default=start.email_partner_default, auto_accept_at=start.auto_accept_at, cap=start.cap)

    def _registration_events(self, start: LeadReturnStart) -> list[TimelineEvent]:
        return [self._event("return_requested", f"Return of lead {start.lead_id} requested: {start.reason_text}",
                            start.actor, data={"lead_id": start.lead_id, "reason": start.reason,
                                               "by_partner": start.requested_by_partner})]

    def _detail_lines(self) -> list[str]:
        s = self.state
        return [f"Lead {s.lead_id} · partner {s.partner} · return {s.return_status.value}"]

    # ---- what the return does on its own: the decider's task, the auto-accept timer ---------

    async def _registered_work(self, start: LeadReturnStart) -> None:
        """The decider's task (the notified user, in their team), emailed to them."""
        s = self.state
        if s.team is None and s.assignee_id is None:
            return  # nobody is set up to be told: the return waits in the returns list
        await self._open_task(
            f"Decide return of lead {s.lead_id}", source=DECISION_TASK, actor=start.actor,
            assignee=TaskAssignee(team=s.team, assignee_id=s.assignee_id, assignee_name=s.assignee_name),
            due_on=self._decision_due(),
            description=f"{s.partner} asks to return lead {s.lead_id} ({s.lead_name}): {s.reason_text}")

    async def _auto_accept(self) -> None:
        """Accept the return at its auto-accept time (a durable timer) unless decided before."""
        try:
            await workflow.wait_condition(lambda: self._registered or self._refused is not None)
            if self._refused is not None or self.state.status is CaseStatus.CLOSED:
                return
            at = self.state.auto_accept_at
            if at is None:
                return
            try:
                await workflow.wait_condition(self._decided, timeout=max(at - workflow.now(), timedelta(0)),
                                              timeout_summary="auto-accept")
            except asyncio.TimeoutError:
                pass
            if not self._decided():
                async with self._step(Action.DECIDE, AUTO_ACCEPT) as events:
                    await self._decide(DecideInput(actor=AUTO_ACCEPT, accept=True, notes=(
                        f"Accepted automatically: '{self.state.reason_text}' is accepted within the hours "
                        "the settings allow")), events)
        except asyncio.CancelledError:
            raise
        except (ActivityError, ApplicationError) as err:  # a duty refused: the case goes on without it
            workflow.logger.warning("lead return %s: %s", self.state.reference, err)

    def _decided(self) -> bool:
        """Decided (a return owing a replacement stays open, decided) or closed another way."""
        return self.state.status is CaseStatus.CLOSED or self.state.return_status is not ReturnStatus.OPEN

    def _decision_due(self) -> date:
        return self.state.clock.deadline if self.state.clock is not None else self._tomorrow()

    # ---- the decision -----------------------------------------------------------------------

    @workflow.update
    async def decide(self, inp: DecideInput) -> LeadReturnState:
        async with self._step(Action.DECIDE, inp.actor) as events:
            await self._decide(inp, events)
        return self.state

    @decide.validator
    def _validate_decide(self, inp: DecideInput) -> None:
        self._validate(Action.DECIDE, inp.actor)
        if not inp.accept and inp.lead_status:
            raise invalid("lead_status", "a declined return leaves the lead as it is: set a status only when accepting")
        if not inp.accept and inp.replacement:
            raise invalid("replacement", "a declined return owes no replacement lead: ask for one only when accepting")

    async def _decide(self, inp: DecideInput, events: list[TimelineEvent]) -> None:
        s = self.state
        if inp.accept and not await self._accept_saga(inp, events):
            return  # refused or undone: the return stays open and says why (saga_log)
        s.return_status = ReturnStatus.ACCEPTED if inp.accept else ReturnStatus.DECLINED
        s.decided_on, s.decided_by, s.decision_notes = self._today(), inp.actor.display_name, inp.notes
        if inp.accept:
            s.refunded = inp.reverse_transactions
            if inp.replacement:
                s.replacement = Replacement(owed_on=s.decided_on)
        word = s.return_status.value
        events.append(self._event(f"return_{word}", f"Return {word}", inp.actor, reason=inp.notes,
                                  data={"lead_status": s.lead_status_set, "remedy": s.remedy,
                                        "reversals": [r.id for r in s.reversals]}))
        await self._email_decision(inp, events)
        self._finish_tasks_from(DECISION_TASK, TaskStatus.DONE, f"Return {word}", inp.actor)
        self._advance(inp.actor, events)
        if s.replacement is not None:
            await self._owe_replacement(inp.actor, events)  # the return waits, decided, for the lead
            return
        self._close(word, inp.actor, events)

    def _close(self, word: str, actor: Actor, events: list[TimelineEvent]) -> None:
        s = self.state
        s.status, s.close_reason, s.closed_at = CaseStatus.CLOSED, word, workflow.now()
        self._cancel_open_tasks(f"the return was {word}", actor)
        events.append(self._event("closed", f"Return closed: {word}", actor, data={"close_reason": word}))

    # ---- a replacement lead ------------------------------------------------------------------

    async def _owe_replacement(self, actor: Actor, events: list[TimelineEvent]) -> None:
        """Accepted with a replacement owed: the decision answered the return (its clock stops);
        the notified user gets a task to send the partner a replacement lead."""
        s = self.state
        events.append(self._event("replacement_owed", f"Replacement lead owed to {s.partner}", actor,
                                  data={"lead_group": s.lead_group}))
        events += await self._stop_clock(self._today(), actor)
        if s.team is None and s.assignee_id is None:
            return
        await self._open_task(
            f"Send a replacement lead to {s.partner}", source=REPLACEMENT_TASK, actor=actor,
            assignee=TaskAssignee(team=s.team, assignee_id=s.assignee_id, assignee_name=s.assignee_name),
            due_on=self._today() + timedelta(days=REPLACEMENT_DAYS),
            description=f"Return {s.reference} of lead {s.lead_id} was accepted with a replacement: refer "
                        f"{s.partner} a lead of group {s.lead_group or '(none)'} and link it to the return")

    @workflow.update
    async def send_replacement(self, inp: ReplacementInput) -> LeadReturnState:
        """Link the replacement lead (of the returned lead's group, referred to the same partner,
        replacing no other return) and close the return."""
        async with self._step(Action.SEND_REPLACEMENT, inp.actor) as events:
            s = self.state
            job = ReplacementJob(reference=s.reference, returned_lead=s.lead_id, lead_group=s.lead_group,
                                 partner=s.partner, lead_id=inp.lead_id, who=inp.actor.display_name)
            refusal = await self._saga_step("link_replacement_lead", job, str)
            if refusal:
                raise invalid("lead_id", refusal)
            assert s.replacement is not None
            s.replacement = s.replacement.model_copy(update={
                "lead_id": inp.lead_id, "sent_on": self._today(), "sent_by": inp.actor.display_name})
            # The case is about the replacement lead too: its activity history shows the return.
            s.parties.append(PartyLink(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{s.reference}/lead/{inp.lead_id}")),
                                       party_type="lead", external_id=inp.lead_id, role="replacement"))
            events.append(self._event("replacement_sent", f"Replacement lead {inp.lead_id} sent to {s.partner}",
                                      inp.actor, data={"lead_id": inp.lead_id, "returned_lead": s.lead_id}))
            self._finish_tasks_from(REPLACEMENT_TASK, TaskStatus.DONE, f"Lead {inp.lead_id} sent", inp.actor)
            self._close(s.return_status.value, inp.actor, events)
        return self.state

    @send_replacement.validator
    def _validate_send_replacement(self, inp: ReplacementInput) -> None:
        self._validate(Action.SEND_REPLACEMENT, inp.actor)
        if self.state.replacement is None or self.state.replacement.lead_id is not None:
            raise conflict(f"return {self.state.reference} owes no replacement lead", self.state.stage)

    async def _email_decision(self, inp: DecideInput, events: list[TimelineEvent]) -> None:
        s = self.state
        wanted = {"referral_partner": s.email_partner_default if inp.email_partner is None else inp.email_partner,
                  "introducer": s.email_introducer_default if inp.email_introducer is None else inp.email_introducer}
        for person in s.correspondents:
            if not wanted.get(person.relationship) or not person.email:
                continue
            extra = {"recipient": {"name": person.name},
                     "lead": {"reference": s.lead_id, "name": s.lead_name},
                     "return_request": {"reason": s.reason_text, "decision": s.return_status.value,
                                        "notes": s.decision_notes or "", "decided_on": s.decided_on}}
            sent = await self._correspond("return_decision", Channel.EMAIL, inp.actor, extra=extra,
                                          recipients=[person.email])
            events.append(self._event("return_decision_emailed",
                                      f"Decision {self._how_sent(sent)} ({person.relationship.replace('_', ' ')})",
                                      inp.actor, data=self._sent_data(sent, Channel.EMAIL)))

    async def _accept_saga(self, inp: DecideInput, events: list[TimelineEvent]) -> bool:
        """Cap, lead reset, reversals, in that order; a step that fails for good undoes the ones
        before it. True when every step is done."""
        s = self.state
        today = self._today()
        claim = CapClaim(reference=s.reference, partner=s.partner, lead_id=s.lead_id,
                         month=today.replace(day=1), cap=s.cap)
        refusal = await self._saga_step("claim_return_cap", claim, str)
        if refusal:
            s.saga_log.append(f"refused: {refusal}")
            events.append(self._event("return_accept_refused", "Return not accepted", inp.actor, reason=refusal))
            return False
        s.saga_log.append("counted against the partner's monthly cap")
        undo: list[tuple[str, Any]] = [("release_return_cap", claim)]
        try:
            reset = LeadReset(reference=s.reference, lead_id=s.lead_id, status=inp.lead_status,
                              who=inp.actor.display_name, who_id=inp.actor.user_id)
            before = await self._saga_step("reset_returned_lead", reset, LeadSnapshot)
            s.lead_status_set = inp.lead_status
            s.saga_log.append(f"lead status {'set to ' + inp.lead_status if inp.lead_status else 'kept'}; "
                              "billing point reset")
            undo.append(("reset_returned_lead", reset.model_copy(update={"status": None, "restore": before})))
            if inp.reverse_transactions:
                job = ReversalJob(reference=s.reference, lead_id=s.lead_id, who=inp.actor.display_name,
                                  who_id=inp.actor.user_id, reason=f"Lead return {s.reference} accepted")
                s.reversals = await self._saga_step("reverse_returned_lead", job, list[ReversalPosted])
                s.saga_log.append(f"{len(s.reversals)} transaction(s) reversed")
        except (ActivityError, ApplicationError) as err:
            why = str(err.cause if isinstance(err, ActivityError) and err.cause else err)
            for name, job_to_undo in reversed(undo):
                await self._saga_step(name, job_to_undo, object)
            s.reversals, s.lead_status_set = [], None
            s.saga_log.append(f"failed and undone: {why}")
            events.append(self._event("return_accept_failed", "Accepting the return failed; its steps were undone",
                                      inp.actor, reason=why))
            return False
        return True

    async def _saga_step(self, name: str, job: Any, result_type: Any) -> Any:
        return await self._duty(name, job, start_to_close=SAGA_TIMEOUT, result_type=result_type,
                                what=f"{name} for {self.state.reference}")
