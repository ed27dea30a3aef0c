"""CaseWorkflow: what every kind of case shares, as one durable workflow per case.

The workflow is the only writer of case state. Human steps are Updates whose validators reject a
step that is not allowed now *before* anything is written to history; the API turns the rejection
into 409 (wrong stage), 422 (invalid field), 403 (not yours to take) or 404 (not yours to see).
Every step goes through one wrapper (`self._step(action, actor)`, see engine/step.py): it routes
the action by the kind's rule table, holds the case's lock, records skipped stages, and commits the
state and the step's timeline events to PostgreSQL in one projection, or puts the state back if the
step fails. No I/O happens here.

A kind of case subclasses this with its state type, its rule table and its own steps, and defines
`@workflow.init` and `@workflow.run` (which the SDK wants on the workflow class itself) as
`super().__init__(start)` and `return await self._run_case(start)`.
The steps here (allocation, documents, notes, early close, completing an optional stage, deadline
extensions, type changes, calendar changes), and those of the parts mixed in (letters and emails,
tasks), are every kind's. See docs/adding-a-kind-of-case.md.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic_core import to_json
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from casework.calendar.policies import policy_from_data
    from casework.cases.contracts import (
        Actor,
        AddDocumentInput,
        AllocateInput,
        AnyCaseState,
        CalendarChange,
        CaseCore,
        CaseStartCore,
        CaseStatus,
        CaseSummary,
        ChangeTypeInput,
        CloseInput,
        CompleteStageInput,
        ComputeDeadlinesResult,
        DocumentRef,
        ExtendDeadlineInput,
        Note,
        NoteEditInput,
        NoteInput,
        TimelineEvent,
    )
    from casework.cases.jobs import ProjectCaseInput
    from casework.cases.stages import (
        CLOSE_EARLY,
        CLOSURE,
        COMPLETE_STAGE,
        DELIVERY_ACTIONS,
        EngineAction,
        KindRules,
        Rejection,
        Route,
        StagePlan,
        StageSpec,
        destination,
        missing_permission,
        role_allows,
        route_action,
    )

from workflows.engine.activity_options import PATIENT_RETRY, PROJECTION_TIMEOUT
from workflows.engine.clock import DeadlineClock
from workflows.engine.correspondence import Correspondence
from workflows.engine.errors import REJECTION_TYPES, conflict, forbidden, invalid, not_visible, refusal, wrong_stage
from workflows.engine.search_attributes import upsert_search_attributes
from workflows.engine.shared import shared_policy, shared_type
from workflows.engine.step import Step
from workflows.engine.versioning import (
    CHANGED_SEARCH_ATTRIBUTES,
    CLOCK_PATCH,
    LOCAL_PROJECTION,
    PARTY_AND_CATEGORY_ATTRIBUTES,
    SETTLED_BEFORE_ENDING,
    patches_of,
)

S = TypeVar("S", bound=CaseCore)

# The actions the engine's own steps are routed as; every kind's rule table declares them.
ALLOCATE, ADD_DOCUMENT, CLOSE = EngineAction.ALLOCATE, EngineAction.ADD_DOCUMENT, EngineAction.CLOSE
ADD_NOTE, EDIT_NOTE = EngineAction.ADD_NOTE, EngineAction.EDIT_NOTE
EXTEND_DEADLINE, CHANGE_TYPE = EngineAction.EXTEND_DEADLINE, EngineAction.CHANGE_TYPE


class CaseWorkflow(DeadlineClock, Correspondence, Generic[S]):
    RULES: ClassVar[KindRules]  # the kind's rule table

    def __init__(self, start: CaseStartCore) -> None:
        """A kind's `@workflow.init` calls this (the SDK wants init and run on the workflow class,
        with the same parameter types)."""
        self._patches = patches_of(start.patch_set)
        start.case_type, self.plan = shared_type(start.case_type)
        carried: S | None = getattr(start, "carried_state", None)
        if carried is None:
            self.state: S = self._initial_state(start, workflow.now())
        else:
            # A continued case routes by its type now, which may have changed since registration.
            self.state = carried
            self.state.case_type, self.plan = shared_type(self.state.case_type)
            if self.state.clock is not None:
                self.state.clock.policy = shared_policy(self.state.clock.policy.model_dump(mode="json"))
        self._registered = carried is not None
        self._refused: ApplicationError | None = None  # why PostgreSQL refused registration
        # The first deadlines, when whoever started the case calculated them (the API does): taken
        # out of the input, which the run keeps until it ends, and used once, at registration.
        self._first_schedule: ComputeDeadlinesResult | None = start.schedule
        start.schedule = None
        self._lock = asyncio.Lock()
        # Fingerprints of the child collections as last projected (None until the first projection,
        # which writes them all): a step's projection carries only those that changed.
        self._projected: tuple[int, ...] | None = None
        self._action: str | None = None  # the action of the step in progress
        self._step_events: list[TimelineEvent] | None = None  # and its timeline events
        # Calendar changes signalled and not yet applied; set when the clock's timer must be re-armed.
        self._calendar_changes: list[CalendarChange] = list(start.pending_calendar_changes)
        self._clock_rearm = False
        # Calendar changes told so far and applied so far (counts; apply_calendar_change waits on
        # them), and whether this run keeps a clock at all (None until the run has started).
        self._calendar_told, self._calendar_applied = 0, 0
        self._keeps_time: bool | None = None

    # ---- what a kind provides ---------------------------------------------------------------

    @classmethod
    def _initial_state(cls, start: Any, now: datetime) -> S:
        """The state of a newly registered case of this kind."""
        raise NotImplementedError

    def _registration_events(self, start: Any) -> list[TimelineEvent]:
        return [self._event("registered", "Case registered", start.actor,
                            data={"attachments": [d.id for d in start.attachments]})]

    async def _registered_work(self, start: Any) -> None:
        """What a kind does as a case is registered, committed with the registration (a task for
        someone: `await self._open_task(...)`). Nothing by default."""

    async def _on_registration(self, start: Any, events: list[TimelineEvent]) -> None:
        self._step_events = events  # what the kind's work adds joins the registration's events
        try:
            await self._registered_work(start)
        finally:
            self._step_events = None

    def _route_to_team(self, start: Any) -> list[TimelineEvent]:
        """A case whose type routes its new cases to a team is that team's from registration
        (still to be allocated to a person); without one it waits in the triage queue."""
        if start.team is None or self.state.team is not None:
            return []
        self.state.team = start.team
        return [self._event("routed", f"Routed to team {start.team}, the {self.state.case_type.name} team",
                            start.actor, data={"team": start.team})]

    def _blocked(self) -> frozenset[str]:
        """Optional stages with outstanding work, which cannot be skipped (the kind's rule)."""
        collections = {name: getattr(self.state, name) for name in self.state.COLLECTIONS}
        return self.RULES.blocked_stages(self.plan, self._today(), collections)

    def _detail_lines(self) -> list[str]:
        """What the kind adds to the case's current details in the Temporal UI."""
        return []

    # ---- main -------------------------------------------------------------------------------

    async def _run_case(self, start: Any) -> CaseSummary:
        """The life of a case: register it, keep its clock until it closes, continue as new when
        its history grows long. A kind's `@workflow.run` awaits this."""
        clocks = self._keeps_time = self._patched(CLOCK_PATCH)
        if not self._registered:
            async with self._lock:
                events = self._registration_events(start)
                events += self._route_to_team(start)
                try:
                    if clocks:
                        events.append(await self._start_clock())
                    await self._on_registration(start, events)
                    await self._commit(events)
                except (ActivityError, ApplicationError) as err:  # a local activity's arrives as itself
                    # PostgreSQL refused the new case for good (non-retryable): nothing was
                    # written. Registration answers the refusal and the run ends failed, so no
                    # half-case is left waiting (the API releases the reference's reservation).
                    self._refused = refusal(err)
                else:
                    self._registered = True
            if self._refused is not None:
                await workflow.wait_condition(workflow.all_handlers_finished)
                raise self._refused
        elif clocks and self.state.clock is None:
            # Continued from a run that predates clocks: the case gets its deadlines now.
            async with self._lock:
                await self._commit([await self._start_clock()])
        if clocks:
            await self._keep_time()
        else:
            await workflow.wait_condition(self._run_ends)
        settling = self.state.status is CaseStatus.CLOSED and self._patched(SETTLED_BEFORE_ENDING)
        if settling:
            # Closed (by a step that closes it, or a kind's decision) with an email whose delivery
            # is not confirmed: the case takes confirm and resend until none is left, or the run
            # would end with it unsettled for ever.
            await workflow.wait_condition(lambda: not self.state.unconfirmed_deliveries
                                          or workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.state.status is not CaseStatus.CLOSED or (settling and self.state.unconfirmed_deliveries):
            workflow.continue_as_new(start.model_copy(update={
                "carried_state": self.state, "pending_calendar_changes": self._calendar_changes}))
        return CaseSummary(reference=self.state.reference, status=self.state.status,
                           stage=self.state.stage, version=self.state.version)

    # ---- queries ----------------------------------------------------------------------------

    @workflow.query
    def current_state(self) -> AnyCaseState:
        return self.state

    @workflow.update
    async def wait_registered(self) -> AnyCaseState:
        """Lets the API return only once the case is visible in PostgreSQL."""
        await workflow.wait_condition(lambda: self._registered or self._refused is not None)
        if self._refused is not None:
            raise self._refused
        return self.state

    # ---- allocation -------------------------------------------------------------------------

    @workflow.update
    async def allocate(self, inp: AllocateInput) -> AnyCaseState:
        async with self._step(ALLOCATE, inp.actor) as events:
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
            self._advance(inp.actor, events)
        return self.state

    @allocate.validator
    def _validate_allocate(self, inp: AllocateInput) -> None:
        self._validate(ALLOCATE, inp.actor)

    # ---- documents --------------------------------------------------------------------------

    @workflow.update
    async def add_document(self, inp: AddDocumentInput) -> AnyCaseState:
        async with self._step(ADD_DOCUMENT, inp.actor) as events:
            doc = inp.document
            if doc.kind == "draft":
                doc = doc.model_copy(update={"version": len(self._drafts()) + 1})
            self.state.documents.append(doc)
            label = f"Draft response v{doc.version}" if doc.kind == "draft" else "Document"
            events.append(self._event("document_added", f"{label} added: {doc.filename}"
                                      + self._generated_note(inp), inp.actor,
                                      data={"document_id": doc.id, "kind": doc.kind,
                                            **self._generated_data(inp)}))
        return self.state

    @add_document.validator
    def _validate_add_document(self, inp: AddDocumentInput) -> None:
        self._validate(ADD_DOCUMENT, inp.actor)
        if inp.document.kind not in ("attachment", "draft"):
            raise invalid("kind", "kind must be 'attachment' or 'draft'")
        if any(d.id == inp.document.id for d in self.state.documents):
            raise invalid("document", f"document {inp.document.id} is already on this case")

    def _drafts(self) -> list[DocumentRef]:
        return [d for d in self.state.documents if d.kind == "draft"]

    # ---- closing, and finishing an optional stage -------------------------------------------

    @workflow.update
    async def close(self, inp: CloseInput) -> AnyCaseState:
        async with self._step(CLOSE, inp.actor) as events:
            early = self._here.kind != CLOSURE
            self.state.status = CaseStatus.CLOSED
            self.state.close_reason = inp.reason
            self.state.close_note = inp.note
            self.state.closed_at = workflow.now()
            self._cancel_open_tasks(f"the case was closed ({inp.reason})", inp.actor)
            events.append(self._event(
                "closed_early" if early else "closed",
                f"Case closed{' early at ' + self._here.label if early else ''}: {inp.reason}",
                inp.actor, reason=inp.note, data={"close_reason": inp.reason}))
        return self.state

    @close.validator
    def _validate_close(self, inp: CloseInput) -> None:
        self._validate(CLOSE, inp.actor)
        reasons = self.state.case_type.close_reasons
        if inp.reason not in reasons:
            raise invalid("reason", f"reason must be one of: {', '.join(reasons)}")
        if self.state.unconfirmed_deliveries:
            # A closed case takes no more steps: what became of the email is settled first.
            waiting = self.state.unconfirmed_deliveries[0]
            raise conflict(f"the {waiting.purpose} email to {waiting.recipient} awaits confirmation: confirm it "
                           f"arrived or resend it (…/deliveries/{waiting.id}/confirm|resend) before closing",
                           self.state.stage)
        if self._here.kind != CLOSURE:
            if inp.actor.permissions is None:  # recorded before permissions: the role rule
                if not role_allows(inp.actor.roles, self.RULES.early_close_roles):
                    raise forbidden("closing a case before its closure stage needs a coordinator or manager")
            elif self.RULES.permission(CLOSE_EARLY) not in inp.actor.permissions:
                raise forbidden(missing_permission(self.RULES.permission(CLOSE_EARLY),
                                                   "closing a case before its closure stage"))
            if not (inp.note or "").strip():
                raise invalid("note", f"a note is required to close a case early (at stage {self._here.label})")

    @workflow.update
    async def complete_stage(self, inp: CompleteStageInput) -> AnyCaseState:
        async with self._step(COMPLETE_STAGE, inp.actor) as events:
            done = self._here
            events.append(self._event("stage_completed", f"{done.label} completed", inp.actor,
                                      reason=inp.note))
            self._advance(inp.actor, events)
        return self.state

    @complete_stage.validator
    def _validate_complete_stage(self, inp: CompleteStageInput) -> None:
        self._validate(COMPLETE_STAGE, inp.actor)

    # ---- notes ------------------------------------------------------------------------------

    @workflow.update
    async def add_note(self, inp: NoteInput) -> AnyCaseState:
        async with self._step(ADD_NOTE, inp.actor) as events:
            note = Note(id=str(workflow.uuid4()), text=inp.text, created_by=inp.actor.display_name,
                        created_by_id=inp.actor.user_id, created_at=workflow.now())
            self.state.notes.append(note)
            events.append(self._event("note_added", "Case note added", inp.actor,
                                      data={"note_id": note.id, "text": inp.text}))
        return self.state

    @add_note.validator
    def _validate_add_note(self, inp: NoteInput) -> None:
        self._validate(ADD_NOTE, inp.actor)

    @workflow.update
    async def edit_note(self, inp: NoteEditInput) -> AnyCaseState:
        async with self._step(EDIT_NOTE, inp.actor) as events:
            note = next(n for n in self.state.notes if n.id == inp.note_id)
            previous = note.text
            note.text, note.edited_by, note.edited_at = inp.text, inp.actor.display_name, workflow.now()
            events.append(self._event("note_edited", "Case note edited", inp.actor,
                                      data={"note_id": note.id, "previous": previous, "text": inp.text}))
        return self.state

    @edit_note.validator
    def _validate_edit_note(self, inp: NoteEditInput) -> None:
        self._validate(EDIT_NOTE, inp.actor)
        note = next((n for n in self.state.notes if n.id == inp.note_id), None)
        if note is None:
            raise invalid("note_id", f"no note with id {inp.note_id} on this case")
        if self.RULES.notes_edited_by_author_only and note.created_by_id != inp.actor.user_id:
            raise forbidden(f"only its author ({note.created_by}) may edit this note")

    # ---- deadlines: extensions, type changes, calendar changes ------------------------------

    @workflow.update
    async def extend_deadline(self, inp: ExtendDeadlineInput) -> AnyCaseState:
        async with self._step(EXTEND_DEADLINE, inp.actor) as events:
            await self._extend(inp, events)
        return self.state

    @extend_deadline.validator
    def _validate_extend_deadline(self, inp: ExtendDeadlineInput) -> None:
        self._validate(EXTEND_DEADLINE, inp.actor)
        self._validate_extension(inp)

    @workflow.update
    async def change_type(self, inp: ChangeTypeInput) -> AnyCaseState:
        async with self._step(CHANGE_TYPE, inp.actor) as events:
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
        self._validate(CHANGE_TYPE, inp.actor)
        if not inp.reason.strip():
            raise invalid("reason", "a reason is required to change a case's type")
        if inp.case_type.code == self.state.case_type.code:
            raise invalid("case_type", f"the case is already of type {inp.case_type.code}")
        try:
            self._stage_of_kind(self.RULES.plan(inp.case_type.stages), self._here.kind)
            policy_from_data(inp.case_type.deadline_policy)
        except (LookupError, ValueError) as exc:
            raise invalid("case_type", str(exc)) from None

    def _stage_of_kind(self, plan: StagePlan, kind: str) -> StageSpec:
        """Where the case carries on in another type's plan: the first stage of the same kind."""
        stage = plan.first_of_kind(kind)
        if stage is None:
            raise LookupError(f"the new type's stage plan has no {kind} stage for the case to continue in "
                              f"(it is at {self._here.label})")
        return stage

    @workflow.signal
    def calendar_changed(self, change: CalendarChange) -> None:
        """A closure date or bank holiday was added or removed in a region: recompute (see _keep_time)."""
        self._note_calendar_change(change)

    @workflow.update
    async def apply_calendar_change(self, change: CalendarChange) -> None:
        """`calendar_changed`, answered once the case has recomputed its dates and committed what
        moved, or carried the change into its next run. A calendar change's activity tells its cases
        this way, a bounded number at a time (activities/deadlines.py `signal_open_cases`), so they
        are never queued faster than the worker takes them."""
        self._note_calendar_change(change)
        told = self._calendar_told
        await workflow.wait_condition(lambda: self._keeps_time is not None)
        if self._keeps_time:
            await workflow.wait_condition(lambda: self._calendar_applied >= told or self._run_ends())

    # ---- routing, and the one wrapper every step goes through -------------------------------

    @property
    def _here(self) -> StageSpec:
        return self.plan.get(self.state.stage)

    def _route(self, action: str) -> Route:
        if self.state.status is CaseStatus.CLOSED and not (
                action in DELIVERY_ACTIONS and self.state.unconfirmed_deliveries):
            raise wrong_stage(f"case {self.state.reference} is closed; '{action}' is not allowed", "closed")
        route = route_action(self.RULES, self.plan, self.state.stage, action, self._blocked())
        if isinstance(route, Rejection):
            raise ApplicationError(route.message, {"stage": route.stage},
                                   type=REJECTION_TYPES[route.code], non_retryable=True)
        return route

    def _validate(self, action: str, actor: Actor) -> None:
        """What every step's validator checks first: the case is visible to the actor (404), the
        actor holds the action's permission (403; by the role rule for an actor recorded before
        permissions), and the action is allowed where the case stands (409)."""
        self._check_sight(actor)
        why_not = self.RULES.refusal_of(actor.roles, actor.permissions, action)
        if why_not is not None:
            raise forbidden(why_not)
        self._route(action)

    def _check_sight(self, actor: Actor) -> None:
        """A case the user may not see is "not found" (404), so its existence does not leak."""
        if actor.sight is not None and not actor.sight.sees(self.state):
            raise not_visible(self.state.reference)

    def _step(self, action: str, actor: Actor) -> Step:
        return Step(self, action, actor)

    def _move_to(self, stage: StageSpec, actor: Actor, events: list[TimelineEvent],
                 reason: str | None = None) -> None:
        if stage.key == self.state.stage:
            return
        before = self._here
        self.state.stage = stage.key
        events.append(self._event("stage_changed", f"Stage changed from {before.label} to {stage.label}",
                                  actor, reason=reason, data={"from": before.key, "to": stage.key}))

    def _advance(self, actor: Actor, events: list[TimelineEvent], reason: str | None = None) -> None:
        """Move the case where the step's action leads (the kind's rule table says where)."""
        assert self._action is not None, "_advance is called inside a step"
        target = destination(self.RULES, self.plan, self.state.stage, self._action)
        if target is not None:
            self._move_to(target, actor, events, reason=reason)

    async def _commit(self, events: list[TimelineEvent]) -> None:
        """Write the state and the events to PostgreSQL (one idempotent projection), then show the
        case's new search attributes and details in Temporal."""
        self.state.version += 1
        fingerprints = tuple(hash(to_json(getattr(self.state, name))) for name in self.state.COLLECTIONS)
        if self._projected is None:
            collections = None  # the first projection writes every collection
        else:
            collections = [name for name, before, now in
                           zip(self.state.COLLECTIONS, self._projected, fingerprints, strict=True) if before != now]
        projection = ProjectCaseInput(state=self.state, events=events,
                                      collections=None if collections is None else sorted(collections))
        if self._patched(LOCAL_PROJECTION):
            # Locally first: no server round trips to schedule and complete it. The projection is
            # idempotent, so the re-run a crash can cause is harmless. A run recorded while the
            # local projection was retried for ever replays the same: its marker holds the result.
            await self._local_then_patient("project_case", projection, start_to_close=PROJECTION_TIMEOUT,
                                           result_type=bool, what=f"projection of {self.state.reference}")
        else:
            await workflow.execute_activity(
                "project_case", projection, start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PATIENT_RETRY, result_type=bool)
        self._projected = fingerprints
        label = "Closed" if self.state.status is CaseStatus.CLOSED else self._here.label
        upsert_search_attributes(self.state, label, only_changed=self._patched(CHANGED_SEARCH_ATTRIBUTES),
                                 what_about=self._patched(PARTY_AND_CATEGORY_ATTRIBUTES))
        workflow.set_current_details(self._details(label))

    def _details(self, stage_label: str) -> str:
        s = self.state
        lines = [
            f"**{s.reference}** — {s.case_type.name}",
            f"Stage: **{stage_label}**",
            f"Team: {s.team or 'unallocated'} · Assignee: {s.assignee_name or 'none'}",
            f"Complainant: {s.complainant.name} · Received {s.date_received.isoformat()}",
            *self._detail_lines(),
        ]
        if s.clock is not None:
            flags = [flag for flag, on in (("**OVERDUE**", s.clock.overdue),
                                           ("clock stopped", s.clock.open_pause is not None),
                                           ("responded", s.clock.stopped_on is not None)) if on]
            lines.append(f"Due {s.clock.deadline.isoformat()} ({s.clock.policy.name})"
                         + (" · " + " · ".join(flags) if flags else ""))
        return "\n\n".join(lines)
