"""CustomerComplaintWorkflow: an ERP's customer complaint (F3), one durable workflow per complaint.

Registered (the business unit and employee in charge are the engine's allocation; the action plan
is the engine's tasks), Planned once a plan exists, review results recorded as versions, the claim
decided (accepted fully or partly, or rejected with feedback), Fulfilled with an end date once
every action-plan task is done or cancelled, then posted: an accepted adjustment becomes one
sales adjustment record. Posting is a saga (draft, post; a refused post voids the draft and the
complaint says so). Update names are what recorded histories hold: keep them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from casework.cases.contracts import CaseStatus, CaseSummary, TaskStatus, TimelineEvent
    from casework.kinds.customer_complaint.contracts import (
        Adjustment,
        CustomerComplaintStart,
        CustomerComplaintState,
        DecideInput,
        Decision,
        DraftAdjustmentJob,
        FulfilInput,
        PlanInput,
        PostAdjustmentResult,
        PostInput,
        Review,
        ReviewInput,
        VoidAdjustmentJob,
    )
    from casework.kinds.customer_complaint.rules import DECIDE_ABOVE_LIMIT, RULES, Action

from workflows.engine import CaseWorkflow, conflict, forbidden, invalid, shared_type

POSTING_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class CustomerComplaintWorkflow(CaseWorkflow[CustomerComplaintState]):
    RULES = RULES

    @workflow.init
    def __init__(self, start: CustomerComplaintStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: CustomerComplaintStart) -> CaseSummary:
        return await self._run_case(start)

    @classmethod
    def _initial_state(cls, start: CustomerComplaintStart, now: datetime) -> CustomerComplaintState:
        return CustomerComplaintState(
            reference=start.reference, case_type=start.case_type,
            stage=shared_type(start.case_type)[1].first.key,
            correspondents=start.correspondents, documents=list(start.attachments), parties=list(start.parties),
            registered_by=start.actor.display_name, registered_at=now,
            customer=start.customer, working_name=start.working_name, issued_on=start.issued_on,
            description=start.description, reason=start.reason, claim=start.claim)

    def _registration_events(self, start: CustomerComplaintStart) -> list[TimelineEvent]:
        claim = self.state.claim
        summary = f"Customer complaint registered: {start.working_name} ({start.reason})"
        if claim is not None:
            summary += f"; sales adjustment of {_money(claim.amount, claim.currency)} claimed"
            if claim.invoice:
                summary += f" against invoice {claim.invoice}"
        return [self._event("registered", summary, start.actor,
                            data={"attachments": [d.id for d in start.attachments], "customer": start.customer,
                                  "reason": start.reason, "invoice": claim.invoice if claim else None})]

    def _detail_lines(self) -> list[str]:
        s = self.state
        lines = [f"Customer {s.customer} · {s.working_name} · reason {s.reason}"]
        if s.claim is not None:
            lines.append(f"Claimed {_money(s.claim.amount, s.claim.currency)}")
        return lines

    # ---- the action plan --------------------------------------------------------------------

    @workflow.update
    async def set_planned(self, inp: PlanInput) -> CustomerComplaintState:
        async with self._step(Action.PLAN, inp.actor) as events:
            self.state.plan_comment = inp.comment
            tasks = [t for t in self.state.tasks if t.status is not TaskStatus.CANCELLED]
            events.append(self._event("planned", f"Action plan set: {len(tasks)} task(s)", inp.actor,
                                      reason=inp.comment, data={"tasks": [t.id for t in tasks]}))
            self._advance(inp.actor, events, reason=inp.comment)
        return self.state

    @set_planned.validator
    def _validate_plan(self, inp: PlanInput) -> None:
        self._validate(Action.PLAN, inp.actor)
        if not any(t.status is not TaskStatus.CANCELLED for t in self.state.tasks):
            raise conflict("a complaint is Planned once it has an action plan: add a task first "
                           f"(POST /cases/{self.state.reference}/tasks)", self.state.stage)

    # ---- review results ---------------------------------------------------------------------

    @workflow.update
    async def record_review(self, inp: ReviewInput) -> CustomerComplaintState:
        async with self._step(Action.RECORD_REVIEW, inp.actor) as events:
            review = Review(id=str(workflow.uuid4()), version=len(self.state.reviews) + 1, text=inp.text,
                            recorded_by=inp.actor.display_name, recorded_by_id=inp.actor.user_id,
                            recorded_at=workflow.now())
            self.state.reviews.append(review)
            events.append(self._event("review_recorded", f"Review results recorded (version {review.version})",
                                      inp.actor, data={"review_id": review.id, "version": review.version,
                                                       "text": inp.text}))
        return self.state

    @record_review.validator
    def _validate_record_review(self, inp: ReviewInput) -> None:
        self._validate(Action.RECORD_REVIEW, inp.actor)
        if not inp.text.strip():
            raise invalid("text", "say what was decided, done or found")

    # ---- the decision -----------------------------------------------------------------------

    @workflow.update
    async def decide(self, inp: DecideInput) -> CustomerComplaintState:
        async with self._step(Action.DECIDE, inp.actor) as events:
            claim = self.state.claim
            amount = inp.amount
            if inp.outcome == "accepted" and claim is not None:
                amount = claim.amount
            self.state.decision = Decision(
                outcome=inp.outcome, amount=amount if inp.outcome != "rejected" else None,
                currency=claim.currency if claim is not None and inp.outcome != "rejected" else None,
                feedback=inp.feedback, decided_by=inp.actor.display_name, decided_at=workflow.now())
            words = {"accepted": "Claim accepted", "partly_accepted": "Claim partly accepted",
                     "rejected": "Claim rejected"}[inp.outcome]
            if amount is not None and claim is not None and inp.outcome != "rejected":
                words += f": {_money(amount, claim.currency)}"
            data: dict = {"outcome": inp.outcome, "amount": str(amount) if amount is not None else None}
            if inp.channel is not None and inp.feedback:
                sent = await self._correspond("complaint_decision", inp.channel, inp.actor,
                                              extra={"decision": {"outcome": inp.outcome,
                                                                  "feedback": inp.feedback}})
                data.update(document_id=sent.document.id, recipient=sent.recipient)
                words += f"; feedback sent by {inp.channel.value} to {sent.recipient}"
            events.append(self._event("decided", words, inp.actor, reason=inp.feedback, data=data))
        return self.state

    @decide.validator
    def _validate_decide(self, inp: DecideInput) -> None:
        self._validate(Action.DECIDE, inp.actor)
        claim = self.state.claim
        if inp.outcome == "rejected":
            if not (inp.feedback or "").strip():
                raise invalid("feedback", "a rejection needs feedback for the customer")
            return
        if inp.outcome == "partly_accepted":
            if claim is None:
                raise invalid("outcome", "no sales adjustment was claimed: accept or reject the complaint")
            if inp.amount is None:
                raise invalid("amount", "a partly accepted claim needs the amount accepted")
            if not 0 < inp.amount < claim.amount:
                raise invalid("amount", f"the amount accepted must be more than 0 and less than the "
                                        f"{_money(claim.amount, claim.currency)} claimed")
        elif inp.amount is not None and (claim is None or inp.amount != claim.amount):
            raise invalid("amount", "a fully accepted claim is for the amount claimed: leave the amount out, "
                                    "or decide partly_accepted")
        if inp.above_limit and inp.actor.permissions is not None \
                and self.RULES.permission(DECIDE_ABOVE_LIMIT) not in inp.actor.permissions:
            raise forbidden(f"accepting a sales adjustment above the decision limit needs the permission "
                            f"{self.RULES.permission(DECIDE_ABOVE_LIMIT)}")

    # ---- fulfilment and posting -------------------------------------------------------------

    @workflow.update
    async def fulfil(self, inp: FulfilInput) -> CustomerComplaintState:
        async with self._step(Action.FULFIL, inp.actor) as events:
            self.state.end_date = inp.end_date
            events.append(self._event("fulfilled", f"Fulfilled (end date {inp.end_date.isoformat()})", inp.actor,
                                      data={"end_date": inp.end_date.isoformat()}))
            self._advance(inp.actor, events)
        return self.state

    @fulfil.validator
    def _validate_fulfil(self, inp: FulfilInput) -> None:
        self._validate(Action.FULFIL, inp.actor)
        still_open = [t.title for t in self.state.tasks if t.status is TaskStatus.OPEN]
        if still_open:
            raise conflict(f"{len(still_open)} action-plan task(s) are still open ({'; '.join(still_open[:5])}): "
                           "complete or cancel them first", self.state.stage)
        if self.state.claim is not None and self.state.decision is None:
            raise conflict("decide the claimed sales adjustment (accept or reject it) before fulfilling",
                           self.state.stage)
        if inp.end_date < self.state.issued_on:
            raise invalid("end_date", f"the end date cannot be before the complaint's date of issue "
                                      f"({self.state.issued_on.isoformat()})")
        if inp.end_date > self._today():
            raise invalid("end_date", "the end date cannot be in the future")

    @workflow.update
    async def post(self, inp: PostInput) -> CustomerComplaintState:
        async with self._step(Action.POST, inp.actor) as events:
            claim, decision = self.state.claim, self.state.decision
            if claim is None or decision is None or decision.outcome == "rejected" or decision.amount is None:
                events.append(self._event("posted", "Posted: no sales adjustment to make", inp.actor))
                self._finish(inp, events)
                return self.state
            self.state.post_attempts += 1
            job = DraftAdjustmentJob(
                business_key=f"{self.state.reference}/adjustment/{self.state.post_attempts}",
                case_reference=self.state.reference, customer=claim.counterparty, contract=claim.contract,
                invoice=claim.invoice, amount=decision.amount, currency=claim.currency,
                posted_by=inp.actor.display_name)
            draft = await self._duty("draft_sales_adjustment", job, start_to_close=POSTING_TIMEOUT,
                                     result_type=PostAdjustmentResult, what=f"draft {job.business_key}")
            posted = await self._duty("post_sales_adjustment", draft.id, start_to_close=POSTING_TIMEOUT,
                                      result_type=PostAdjustmentResult, what=f"posting {job.business_key}")
            if posted.refusal is not None:
                # Compensate: the draft is voided; the complaint stays Fulfilled and says why.
                await self._duty("void_sales_adjustment", VoidAdjustmentJob(id=draft.id, reason=posted.refusal),
                                 start_to_close=POSTING_TIMEOUT, result_type=bool, what=f"void {job.business_key}")
                self.state.adjustment = Adjustment(id=draft.id, number=draft.number, status="voided",
                                                   amount=decision.amount, currency=claim.currency,
                                                   void_reason=posted.refusal)
                events.append(self._event(
                    "posting_failed", f"Posting refused; draft adjustment {draft.number} voided: {posted.refusal}",
                    inp.actor, reason=posted.refusal, data={"adjustment_id": draft.id, "number": draft.number}))
                return self.state
            self.state.adjustment = Adjustment(id=posted.id, number=posted.number, status="posted",
                                               amount=decision.amount, currency=claim.currency,
                                               posted_at=posted.posted_at)
            events.append(self._event(
                "posted", f"Posted: sales adjustment {posted.number} of {_money(decision.amount, claim.currency)}",
                inp.actor, data={"adjustment_id": posted.id, "number": posted.number}))
            self._finish(inp, events)
        return self.state

    @post.validator
    def _validate_post(self, inp: PostInput) -> None:
        self._validate(Action.POST, inp.actor)

    def _finish(self, inp: PostInput, events: list[TimelineEvent]) -> None:
        self._advance(inp.actor, events)
        self._cancel_open_tasks("the complaint was posted", inp.actor)  # any added after fulfilment
        self.state.status = CaseStatus.CLOSED
        self.state.close_reason = "posted"
        self.state.closed_at = workflow.now()
        events.append(self._event("closed", "Case closed: posted", inp.actor, data={"close_reason": "posted"}))


def _money(amount: Decimal, currency: str) -> str:
    """An amount as the case holds it (in its currency's minor units, the API saw to it): 20.00 GBP."""
    return f"{amount} {currency}"
