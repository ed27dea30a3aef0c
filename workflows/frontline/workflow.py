"""FrontlineWorkflow: frontline complaint handling (F4), one durable workflow per complaint.

The agent who takes a complaint owns it. Resolved in the same interaction, the case registers
closed, resolved at first contact. Otherwise the owner investigates with a same-day follow-up
promise: a follow-up task due at the end of their working day, escalated to their team lead by the
case's durable timer if it is missed. The follow-up records the date and whether the customer is
satisfied. Repeat contacts (routed here by the API under a PostgreSQL lock on the complainant's
identity) are recorded with a task for the owner. Update names are what histories hold: keep them.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from casework.calendar.deadlines import format_day
    from casework.cases.contracts import Actor, CaseStatus, CaseSummary, Task, TaskAssignee, TaskStatus, TimelineEvent
    from casework.kinds.frontline.contracts import (
        FOLLOW_UP_SOURCE,
        REPEAT_SOURCE,
        CallScript,
        ClaimInput,
        Contact,
        ContactInput,
        FollowUp,
        FollowUpInput,
        FrontlineStart,
        FrontlineState,
        InvestigateInput,
        Person,
        ResolveInput,
    )
    from casework.kinds.frontline.rules import RULES, Action
    from casework.tasks.due import task_due_at

from workflows.engine import CaseWorkflow, conflict, invalid, shared_type

RESOLVED = "resolved"  # the close reason of a resolved frontline complaint


def follow_up_script(state: FrontlineState, agent: str) -> str:
    """The follow-up call script with the agent's name filled in (the brand was filled in at intake;
    a case opened before scripts were templates has [BRAND] still to fill)."""
    return state.script.replace("[AGENT NAME]", agent).replace("[BRAND]", state.brand or "us")


def _script_data(script: CallScript | None) -> dict[str, str | None]:
    """The timeline's record of which call script the agent was given (the text is on the case)."""
    return {} if script is None else {"call_script": script.template,
                                      "call_script_version_id": script.template_version_id}


def initial_state(start: FrontlineStart, now: datetime) -> FrontlineState:
    first = Contact(id=f"{start.reference}/1", channel=start.channel, received_at=now, summary=start.summary,
                    taken_by=start.actor.display_name, taken_by_id=start.actor.user_id,
                    message_id=start.message_id, script=start.call_script)
    state = FrontlineState(
        reference=start.reference, case_type=start.case_type, stage=shared_type(start.case_type)[1].first.key,
        correspondents=start.correspondents, documents=list(start.attachments), parties=list(start.parties),
        registered_by=start.actor.display_name, registered_at=now,
        channel=start.channel, issue=start.issue, summary=start.summary, received_on=start.received_on,
        owner=start.owner, department=start.department, team_lead=start.team_lead,
        team=start.department, assignee_id=start.owner.id if start.owner else None,
        assignee_name=start.owner.name if start.owner else None,
        brand=start.brand, script=start.script, identities=start.identities,
        contacts=[] if start.repeat_of else [first],  # a repeat's contact is recorded with the owner's task
        repeat_of=start.repeat_of, new_case_reason=start.new_case_reason,
        improvement_idea=start.improvement_idea, call_script=start.call_script,
    )
    if start.resolution is not None:
        # Resolved in the same interaction: one registration, closed at first contact.
        state.resolution, state.resolved_on, state.resolved_first_contact = start.resolution, start.received_on, True
        state.summary_resolution_due = start.fca  # same day: well within three business days
        state.status, state.close_reason, state.closed_at = CaseStatus.CLOSED, RESOLVED, now
        state.stage = shared_type(start.case_type)[1].stages[-1].key
    return state


@workflow.defn
class FrontlineWorkflow(CaseWorkflow[FrontlineState]):
    RULES = RULES

    @workflow.init
    def __init__(self, start: FrontlineStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: FrontlineStart) -> CaseSummary:
        return await self._run_case(start)

    @classmethod
    def _initial_state(cls, start: FrontlineStart, now: datetime) -> FrontlineState:
        return initial_state(start, now)

    def _registration_events(self, start: FrontlineStart) -> list[TimelineEvent]:
        s, who = self.state, start.actor
        owner = s.owner.name if s.owner else f"team {s.department}, to be claimed"
        events = [self._event("registered", f"Frontline complaint taken by {s.channel.value.replace('_', ' ')} "
                              f"({s.issue}); owner {owner}", who,
                              data={"channel": s.channel.value, "issue": s.issue, "department": s.department,
                                    "owner_id": s.owner.id if s.owner else None,
                                    **_script_data(s.call_script)})]
        if s.repeat_of:
            events.append(self._event("repeat_of", f"Repeat contact: {s.repeat_of} (closed) was about the "
                                      f"same issue; its owner {owner} owns this one", who,
                                      data={"repeat_of": s.repeat_of}))
        if s.new_case_reason:
            events.append(self._event("repeat_overridden", "Not routed to an earlier case", who,
                                      reason=s.new_case_reason))
        if s.resolved_first_contact:
            events.append(self._event("resolved_first_contact", "Resolved at first contact", who,
                                      reason=s.resolution,
                                      data={"summary_resolution_due": s.summary_resolution_due}))
            events.append(self._event("closed", f"Case closed: {RESOLVED}", who, data={"close_reason": RESOLVED}))
        return events

    def _detail_lines(self) -> list[str]:
        s = self.state
        return [f"Owner: {s.owner.name if s.owner else 'unclaimed'} ({s.department}) · "
                f"{len(s.contacts)} contact(s)"]

    # ---- repeat contacts ----------------------------------------------------------------------

    @workflow.update
    async def record_contact(self, inp: ContactInput) -> FrontlineState:
        async with self._step(Action.RECORD_CONTACT, inp.actor) as events:
            contact = Contact(id=f"{self.state.reference}/{len(self.state.contacts) + 1}", channel=inp.channel,
                              received_at=workflow.now(), summary=inp.summary, taken_by=inp.actor.display_name,
                              taken_by_id=inp.actor.user_id, repeat=True, message_id=inp.message_id,
                              script=inp.script)
            self.state.contacts.append(contact)
            events.append(self._event("repeat_contact", f"Repeat contact by {inp.channel.value.replace('_', ' ')} "
                                      f"taken by {inp.actor.display_name}, passed to the owner", inp.actor,
                                      reason=inp.summary, data={"contact_id": contact.id, **_script_data(inp.script)}))
            await self._task_for_owner(f"Repeat contact from {self.state.complainant.name}: call them back",
                                       inp.summary, REPEAT_SOURCE, inp.actor)
        return self.state

    @record_contact.validator
    def _validate_record_contact(self, inp: ContactInput) -> None:
        self._validate(Action.RECORD_CONTACT, inp.actor)

    # ---- an inbound email nobody owns yet -----------------------------------------------------

    @workflow.update
    async def claim(self, inp: ClaimInput) -> FrontlineState:
        async with self._step(Action.CLAIM, inp.actor) as events:
            self.state.owner = Person(id=inp.actor.user_id, name=inp.actor.display_name)
            self.state.assignee_id, self.state.assignee_name = inp.actor.user_id, inp.actor.display_name
            events.append(self._event("claimed", f"{inp.actor.display_name} took ownership", inp.actor))
        return self.state

    @claim.validator
    def _validate_claim(self, inp: ClaimInput) -> None:
        self._validate(Action.CLAIM, inp.actor)
        if self.state.owner is not None:
            raise conflict(f"the case is already owned by {self.state.owner.name}", self.state.stage)

    # ---- resolving at first contact, investigating --------------------------------------------

    @workflow.update
    async def resolve(self, inp: ResolveInput) -> FrontlineState:
        async with self._step(Action.RESOLVE, inp.actor) as events:
            first = not any(c.repeat for c in self.state.contacts)
            self._resolved(inp.resolution, inp.improvement_idea, first)
            events.append(self._event("resolved_first_contact" if first else "resolved",
                                      "Resolved at first contact" if first else "Resolved", inp.actor,
                                      reason=inp.resolution))
            self._close_resolved(inp.actor, events)
        return self.state

    @resolve.validator
    def _validate_resolve(self, inp: ResolveInput) -> None:
        self._validate(Action.RESOLVE, inp.actor)
        self._check_owned()
        if not inp.resolution.strip():
            raise invalid("resolution", "say how it was resolved")

    @workflow.update
    async def investigate(self, inp: InvestigateInput) -> FrontlineState:
        async with self._step(Action.INVESTIGATE, inp.actor) as events:
            events.append(self._event("investigation_opened", "Investigation opened: the customer was promised "
                                      "a follow-up today", inp.actor, reason=inp.note))
            self._advance(inp.actor, events)
            today = self._today()
            due_time = inp.day_ends_at if task_due_at(today, inp.day_ends_at, self._task_region()) > workflow.now() \
                else None  # after hours: by the end of today
            await self._follow_up_task(today, due_time, inp.actor)
        return self.state

    @investigate.validator
    def _validate_investigate(self, inp: InvestigateInput) -> None:
        self._validate(Action.INVESTIGATE, inp.actor)
        self._check_owned()

    # ---- the follow-up ------------------------------------------------------------------------

    @workflow.update
    async def record_follow_up(self, inp: FollowUpInput) -> FrontlineState:
        async with self._step(Action.RECORD_FOLLOW_UP, inp.actor) as events:
            today = self._today()
            item = FollowUp(id=str(workflow.uuid4()), followed_up_on=today, satisfied=inp.satisfied,
                            note=inp.note, by=inp.actor.display_name, by_id=inp.actor.user_id)
            self.state.follow_ups.append(item)
            outcome = "satisfied" if inp.satisfied else "not yet satisfied"
            self._finish_tasks_from(FOLLOW_UP_SOURCE, TaskStatus.DONE, f"Followed up: customer {outcome}", inp.actor)
            events.append(self._event("followed_up", f"Followed up with the customer on {format_day(today)}: "
                                      f"{outcome}", inp.actor, reason=inp.note,
                                      data={"satisfied": inp.satisfied, "followed_up_on": today.isoformat()}))
            if inp.improvement_idea:
                self.state.improvement_idea = inp.improvement_idea
            if inp.satisfied:
                assert inp.resolution is not None
                self._resolved(inp.resolution, inp.improvement_idea, False)
                events.append(self._event("resolved", "Resolved and followed up", inp.actor, reason=inp.resolution))
                self._close_resolved(inp.actor, events)
            else:
                assert inp.next_follow_up_on is not None
                await self._follow_up_task(inp.next_follow_up_on, None, inp.actor)
        return self.state

    @record_follow_up.validator
    def _validate_record_follow_up(self, inp: FollowUpInput) -> None:
        self._validate(Action.RECORD_FOLLOW_UP, inp.actor)
        if not inp.note.strip():
            raise invalid("note", "say what the customer said")
        if inp.satisfied and not (inp.resolution or "").strip():
            raise invalid("resolution", "a satisfied customer's complaint was resolved: say how")
        if not inp.satisfied:
            if inp.next_follow_up_on is None:
                raise invalid("next_follow_up_on", "the customer is not satisfied: say when to follow up again "
                                                   "(or close the case and escalate it to a full complaint)")
            self._validate_due(inp.next_follow_up_on, None)

    # ---- a missed same-day follow-up goes to the team lead ------------------------------------

    async def _tasks_fell_overdue(self, flagged: list[TimelineEvent]) -> list[TimelineEvent]:
        events = []
        missed = {e.data.get("task_id") for e in flagged}
        for task in [t for t in self.state.tasks if t.id in missed and t.source == FOLLOW_UP_SOURCE]:
            lead = self.state.team_lead
            self.state.escalations += 1
            await self._open_task(
                f"Missed follow-up: {self.state.complainant.name} was promised a call", description=(
                    f"{task.assignee_name or 'The owner'} did not follow up by {self._due(task)}."),
                assignee=TaskAssignee(team=self.state.department, assignee_id=lead.id if lead else None,
                                      assignee_name=lead.name if lead else None),
                due_on=self._tomorrow(), source=f"escalation:{task.id}")
            events.append(self._system_event(
                "follow_up_escalated", f"Follow-up missed; escalated to {lead.name if lead else 'the team'}",
                data={"task_id": task.id, "team_lead_id": lead.id if lead else None}))
        return events

    # ---- helpers ------------------------------------------------------------------------------

    def _check_owned(self) -> None:
        if self.state.owner is None:
            raise conflict("nobody owns this complaint yet: claim it first", self.state.stage)

    def _resolved(self, resolution: str, idea: str | None, first_contact: bool) -> None:
        self.state.resolution, self.state.resolved_on = resolution, self._today()
        self.state.resolved_first_contact = first_contact
        if idea:
            self.state.improvement_idea = idea

    def _close_resolved(self, actor: Actor, events: list[TimelineEvent]) -> None:
        self._advance(actor, events)
        self.state.status, self.state.close_reason, self.state.closed_at = CaseStatus.CLOSED, RESOLVED, workflow.now()
        self._cancel_open_tasks("the complaint was resolved", actor)
        events.append(self._event("closed", f"Case closed: {RESOLVED}", actor, data={"close_reason": RESOLVED}))

    async def _task_for_owner(self, title: str, description: str | None, source: str, actor: Actor) -> Task:
        owner = self.state.owner
        return await self._open_task(title, description=description, source=source, actor=actor,
                                     assignee=TaskAssignee(team=self.state.department,
                                                           assignee_id=owner.id if owner else None,
                                                           assignee_name=owner.name if owner else None),
                                     due_on=self._today(), due_time=None)

    async def _follow_up_task(self, due_on, due_time, actor: Actor) -> Task:
        owner = self.state.owner
        agent = owner.name if owner else actor.display_name
        assert owner is not None
        return await self._open_task(f"Follow up with {self.state.complainant.name}",
                                     description=follow_up_script(self.state, agent), source=FOLLOW_UP_SOURCE,
                                     actor=actor, due_on=due_on, due_time=due_time,
                                     assignee=TaskAssignee(team=self.state.department, assignee_id=owner.id,
                                                           assignee_name=owner.name))
