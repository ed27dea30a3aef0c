"""LeadComplaintWorkflow: a complaint against a lead (F2), one durable workflow per complaint.

Filed by an agent (Open), worked by compliance (comments are the engine's notes, taking it is the
engine's allocation), resolved with a resolution type and a resolution of that type (Resolved, the
plan's closure stage: the deadline clock stops). A dispute takes it to Disputed and opens a pick-up
task for the first team of the approval chain; a level that does not pick it up by its date is
passed over by the case's own durable timer (the engine's task timer), and the dispute goes to the
next team. The manager who picks it up upholds the resolution, changes it, or sends it back to
compliance (Open) with a reason. The chosen list values (type, resolution type, resolution) are
checked against the administrator's lists by the API before the step; the workflow checks the
status rules. Update names are what recorded histories hold: keep them.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from casework.calendar.deadlines import format_day
    from casework.cases.contracts import (
        Actor,
        AllocateInput,
        CaseSummary,
        TaskAssignee,
        TaskStatus,
        TimelineEvent,
    )
    from casework.kinds.lead_complaint.contracts import (
        DecideDisputeInput,
        Dispute,
        DisputeInput,
        LeadComplaintStart,
        LeadComplaintState,
        Resolution,
        ResolveInput,
        TakeDisputeInput,
    )
    from casework.kinds.lead_complaint.rules import RULES, Action, StageKind

from workflows.engine import CaseWorkflow, conflict, invalid, shared_type
from workflows.engine.versioning import CLOCK_RESTARTS_ON_REOPENING


def initial_state(start: LeadComplaintStart, now: datetime) -> LeadComplaintState:
    return LeadComplaintState(
        reference=start.reference, case_type=start.case_type,
        stage=shared_type(start.case_type)[1].first.key,
        correspondents=start.correspondents, documents=list(start.attachments), parties=list(start.parties),
        team=start.team, registered_by=start.actor.display_name, registered_at=now,
        lead_id=start.lead_id, complaint_type=start.complaint_type, description=start.description,
        received_on=start.received_on, filed_by_id=start.actor.user_id,
    )


@workflow.defn
class LeadComplaintWorkflow(CaseWorkflow[LeadComplaintState]):
    RULES = RULES

    @workflow.init
    def __init__(self, start: LeadComplaintStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: LeadComplaintStart) -> CaseSummary:
        return await self._run_case(start)

    @classmethod
    def _initial_state(cls, start: LeadComplaintStart, now: datetime) -> LeadComplaintState:
        return initial_state(start, now)

    def _registration_events(self, start: LeadComplaintStart) -> list[TimelineEvent]:
        return [self._event(
            "lead_complaint_filed",
            f"Complaint filed against lead {start.lead_id}: {start.complaint_type.label}", start.actor,
            reason=start.description,
            data={"lead_id": start.lead_id, "complaint_type": start.complaint_type.code,
                  "attachments": [d.id for d in start.attachments]})]

    def _detail_lines(self) -> list[str]:
        s = self.state
        lines = [f"Lead: {s.lead_id} · Type: {s.complaint_type.label} · Status: {s.complaint_status}"]
        if s.resolution is not None:
            lines.append(f"Resolution: {s.resolution.resolution_type.label} — {s.resolution.resolution.label}")
        return lines

    # ---- taking it (assigning it to oneself) ------------------------------------------------

    @workflow.update
    async def take(self, inp: AllocateInput) -> LeadComplaintState:
        async with self._step(Action.TAKE, inp.actor) as events:
            self.state.team, self.state.assignee_id, self.state.assignee_name = (
                inp.team, inp.assignee_id, inp.assignee_name)
            events.append(self._event("lead_complaint_taken", f"Taken by {inp.assignee_name} (team {inp.team})",
                                      inp.actor, reason=inp.reason,
                                      data={"team": inp.team, "assignee_id": inp.assignee_id}))
        return self.state

    @take.validator
    def _validate_take(self, inp: AllocateInput) -> None:
        self._validate(Action.TAKE, inp.actor)
        if self.state.assignee_id == inp.actor.user_id:
            raise conflict(f"you have already taken {self.state.reference}", self.state.stage)

    # ---- resolve ----------------------------------------------------------------------------

    @workflow.update
    async def resolve(self, inp: ResolveInput) -> LeadComplaintState:
        async with self._step(Action.RESOLVE, inp.actor) as events:
            self._record_resolution(inp.resolution_type, inp.resolution, "resolved", inp.note, inp.actor, events)
            events.extend(await self._stop_clock(self._today(), inp.actor))
            self._advance(inp.actor, events)
        return self.state

    @resolve.validator
    def _validate_resolve(self, inp: ResolveInput) -> None:
        self._validate(Action.RESOLVE, inp.actor)

    def _record_resolution(self, kind, detail, how: str, note: str | None, actor: Actor,
                           events: list[TimelineEvent]) -> Resolution:
        resolution = Resolution(resolution_type=kind, resolution=detail, how=how, note=note,
                                by=actor.display_name, by_id=actor.user_id, at=workflow.now())
        self.state.resolution = resolution
        self.state.resolutions.append(resolution)
        verb = {"resolved": "Complaint resolved", "upheld": "Resolution upheld",
                "changed": "Resolution changed"}[how]
        events.append(self._event(
            f"lead_complaint_{how}", f"{verb}: {kind.label} — {detail.label}", actor, reason=note,
            data={"resolution_type": kind.code, "resolution": detail.code, "lead_id": self.state.lead_id}))
        return resolution

    # ---- dispute: raised, picked up, decided ------------------------------------------------

    @workflow.update
    async def dispute(self, inp: DisputeInput) -> LeadComplaintState:
        async with self._step(Action.DISPUTE, inp.actor) as events:
            item = Dispute(id=str(workflow.uuid4()), reason=inp.reason, raised_by=inp.actor.display_name,
                           raised_by_id=inp.actor.user_id, raised_at=workflow.now(), chain=list(inp.chain),
                           pick_up_by=list(inp.pick_up_by))
            reopened = self._here.kind == StageKind.CLOSURE
            self.state.disputes.append(item)
            events.append(self._event(
                "lead_complaint_disputed", f"Complaint disputed: escalated to team {item.chain[0]}", inp.actor,
                reason=inp.reason, data={"dispute_id": item.id, "team": item.chain[0],
                                         "pick_up_by": item.pick_up_by[0].isoformat()}))
            if reopened and self._patched(CLOCK_RESTARTS_ON_REOPENING):
                # Resolved, now contested: no longer resolved, so the resolution target runs again
                # from today (the dispute's pick-up dates are its own timer's).
                events.extend(await self._restart_clock(inp.actor, f"Disputed once resolved: {inp.reason}"))
            await self._open_pickup_task(item, inp.actor)
            self._advance(inp.actor, events)
        return self.state

    @dispute.validator
    def _validate_dispute(self, inp: DisputeInput) -> None:
        self._validate(Action.DISPUTE, inp.actor)
        if not inp.reason.strip():
            raise invalid("reason", "a dispute needs a reason")
        if not inp.chain or len(inp.chain) != len(inp.pick_up_by):
            raise invalid("chain", "a dispute escalates through at least one team, each with a pick-up date")

    async def _open_pickup_task(self, item: Dispute, actor: Actor | None) -> None:
        team, due = item.chain[item.level], item.pick_up_by[item.level]
        await self._open_task(f"Pick up the disputed complaint {self.state.reference}",
                              assignee=TaskAssignee(team=team), due_on=due, actor=actor, source=item.task_source,
                              description=f"Disputed: {item.reason}")

    async def _tasks_fell_overdue(self, flagged: list[TimelineEvent]) -> list[TimelineEvent]:
        """A dispute not picked up by its level's date escalates to the next team by itself."""
        item = self.state.open_dispute
        if item is None or item.picked_up_by is not None or item.level + 1 >= len(item.chain):
            return []
        overdue = {e.data.get("task_id") for e in flagged}
        if not any(t.id in overdue and t.source == item.task_source for t in self.state.tasks):
            return []
        events: list[TimelineEvent] = []
        self._step_events = events  # the task part records its events on the step's list
        try:
            missed = item.chain[item.level]
            self._finish_tasks_from(item.task_source, TaskStatus.CANCELLED,
                                    f"not picked up by {format_day(item.pick_up_by[item.level])}", None)
            item.level += 1
            events.append(self._system_event(
                "lead_complaint_dispute_escalated",
                f"Dispute not picked up by team {missed}: escalated to team {item.chain[item.level]}",
                reason=f"No pick-up by {format_day(item.pick_up_by[item.level - 1])}",
                data={"dispute_id": item.id, "from": missed, "to": item.chain[item.level],
                      "pick_up_by": item.pick_up_by[item.level].isoformat()}))
            await self._open_pickup_task(item, None)
        finally:
            self._step_events = None
        return events

    @workflow.update
    async def take_dispute(self, inp: TakeDisputeInput) -> LeadComplaintState:
        async with self._step(Action.TAKE_DISPUTE, inp.actor) as events:
            item = self._dispute_open()
            item.picked_up_by, item.picked_up_by_id, item.picked_up_at = (
                inp.actor.display_name, inp.actor.user_id, workflow.now())
            self._finish_tasks_from(item.task_source, TaskStatus.DONE, f"picked up by {inp.actor.display_name}",
                                    inp.actor)
            events.append(self._event("lead_complaint_dispute_taken",
                                      f"Dispute picked up by {inp.actor.display_name}", inp.actor,
                                      reason=inp.note, data={"dispute_id": item.id}))
        return self.state

    @take_dispute.validator
    def _validate_take_dispute(self, inp: TakeDisputeInput) -> None:
        self._validate(Action.TAKE_DISPUTE, inp.actor)
        if self._dispute_open().picked_up_by is not None:
            raise conflict(f"the dispute is already picked up by {self._dispute_open().picked_up_by}",
                           self.state.stage)

    @workflow.update
    async def uphold_resolution(self, inp: DecideDisputeInput) -> LeadComplaintState:
        async with self._step(Action.UPHOLD_RESOLUTION, inp.actor) as events:
            current = self.state.resolution
            assert current is not None  # the validator's rule
            self._decide("upheld", inp, events)
            self._record_resolution(current.resolution_type, current.resolution, "upheld", inp.reason,
                                    inp.actor, events)
            if self._patched(CLOCK_RESTARTS_ON_REOPENING):  # resolved again: the restarted clock stops
                events.extend(await self._stop_clock(self._today(), inp.actor))
            self._advance(inp.actor, events)
        return self.state

    @uphold_resolution.validator
    def _validate_uphold(self, inp: DecideDisputeInput) -> None:
        self._validate_decision(Action.UPHOLD_RESOLUTION, inp)
        if self.state.resolution is None:
            raise conflict("there is no resolution to uphold: the complaint was disputed before it was "
                           "resolved (change the resolution, or send it back)", self.state.stage)

    @workflow.update
    async def change_resolution(self, inp: DecideDisputeInput) -> LeadComplaintState:
        async with self._step(Action.CHANGE_RESOLUTION, inp.actor) as events:
            assert inp.resolution_type is not None and inp.resolution is not None
            self._decide("changed", inp, events)
            self._record_resolution(inp.resolution_type, inp.resolution, "changed", inp.reason, inp.actor, events)
            events.extend(await self._stop_clock(self._today(), inp.actor))
            self._advance(inp.actor, events)
        return self.state

    @change_resolution.validator
    def _validate_change(self, inp: DecideDisputeInput) -> None:
        self._validate_decision(Action.CHANGE_RESOLUTION, inp)
        if inp.resolution_type is None:
            raise invalid("resolution_type", "changing the resolution needs a resolution_type")
        if inp.resolution is None:
            raise invalid("resolution", "changing the resolution needs a resolution")

    @workflow.update
    async def send_back(self, inp: DecideDisputeInput) -> LeadComplaintState:
        async with self._step(Action.SEND_BACK, inp.actor) as events:
            self.state.resolution = None  # compliance resolves it again
            self._decide("sent_back", inp, events)
            self._advance(inp.actor, events, reason=inp.reason)
        return self.state

    @send_back.validator
    def _validate_send_back(self, inp: DecideDisputeInput) -> None:
        self._validate_decision(Action.SEND_BACK, inp)
        if not (inp.reason or "").strip():
            raise invalid("reason", "sending a dispute back needs a reason")

    def _dispute_open(self) -> Dispute:
        item = self.state.open_dispute
        if item is None:  # the stage rule keeps this from happening
            raise conflict("the complaint has no open dispute", self.state.stage)
        return item

    def _validate_decision(self, action: str, inp: DecideDisputeInput) -> None:
        self._validate(action, inp.actor)
        if self._dispute_open().picked_up_by_id != inp.actor.user_id:
            raise conflict("pick the dispute up first (only the manager who picked it up decides it)",
                           self.state.stage)

    def _decide(self, outcome: str, inp: DecideDisputeInput, events: list[TimelineEvent]) -> None:
        item = self._dispute_open()
        item.outcome, item.decided_by, item.decided_at, item.decision_reason = (
            outcome, inp.actor.display_name, workflow.now(), inp.reason)
        self._finish_tasks_from(item.task_source, TaskStatus.CANCELLED, f"dispute {outcome}", inp.actor)
        if outcome == "sent_back":
            events.append(self._event("lead_complaint_sent_back", "Dispute sent back to compliance", inp.actor,
                                      reason=inp.reason, data={"dispute_id": item.id}))
