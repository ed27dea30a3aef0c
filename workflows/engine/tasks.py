"""Tasks for people on a case, kept by the case's workflow: added, completed, cancelled,
reassigned and rescheduled by Updates every kind gets; opened and completed by kind code through
`self._open_task(...)` and `self._finish_task(...)`; flagged overdue by the case's durable timer
(the clock's loop, engine/clock.py, waits for the soonest task too); each assignment emailed to the
assignee once. A mixin of `CaseWorkflow`. See docs/tasks.md."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from casework.calendar.deadlines import case_today, format_day
    from casework.calendar.workdays import DEFAULT_REGION, Region
    from casework.cases.contracts import (
        Actor,
        AddTaskInput,
        AnyCaseState,
        CancelTaskInput,
        Channel,
        CompleteTaskInput,
        ReassignTaskInput,
        RescheduleTaskInput,
        Task,
        TaskAssignee,
        TaskStatus,
        TimelineEvent,
        UnconfirmedDelivery,
    )
    from casework.cases.jobs import TaskNoticeJob, TaskNoticeResult
    from casework.cases.stages import TASK_ACTIONS
    from casework.tasks.due import due_refusal, task_due_at

from workflows.engine.activity_options import NOTICE_TIMEOUT
from workflows.engine.errors import conflict, invalid
from workflows.engine.parts import CaseParts
from workflows.engine.versioning import TASK_NOTICES_SETTLED

# The actions of this part's steps (casework.cases.stages.TASK_ACTIONS); every kind's rule table declares them.
ADD_TASK, COMPLETE_TASK, CANCEL_TASK, REASSIGN_TASK, RESCHEDULE_TASK = TASK_ACTIONS
CASE_ACTOR = "Casework"  # who opens a task the case itself needs (an email to confirm)
TASK_NOTICE_PURPOSE = "task_assigned"  # the template of the email telling an assignee


class Tasks(CaseParts):
    """The task half of a case workflow (mixed into CaseWorkflow)."""

    # ---- what kind code calls, inside a step ------------------------------------------------

    async def _open_task(self, title: str, *, assignee: TaskAssignee, due_on: date, due_time: time | None = None,
                         description: str | None = None, actor: Actor | None = None,
                         source: str | None = None) -> Task:
        """Open a task (inside a step: its event goes on the step's timeline), email its assignee
        once, and have the case's timer flag it overdue when it falls due. `actor` None: the case
        itself opened it; `source` names what it is for, so the step that deals with that can
        finish it (`_finish_task`)."""
        task = Task(id=str(workflow.uuid4()), title=title, description=description, due_on=due_on,
                    due_time=due_time, due_at=task_due_at(due_on, due_time, self._task_region()),
                    created_by=actor.display_name if actor else CASE_ACTOR,
                    created_by_id=actor.user_id if actor else None, created_at=workflow.now(), source=source,
                    **assignee.model_dump())
        self.state.tasks.append(task)
        notice = await self._notify_assignee(task, actor)
        self._task_event("task_added", f"Task added for {self._who(task)}: {title} (due {self._due(task)})",
                         actor, task, notice=notice)
        self._clock_rearm = True
        return task

    def _finish_task(self, task: Task, status: TaskStatus, why: str, actor: Actor | None) -> None:
        """Complete (`why` is the result) or cancel (`why` is the reason) an open task."""
        task.status, task.closed_at = status, workflow.now()
        self._forget_notices(task)
        task.closed_by, task.closed_by_id = (actor.display_name, actor.user_id) if actor else (CASE_ACTOR, None)
        if status is TaskStatus.DONE:
            task.result = why
            self._task_event("task_completed", f"Task completed: {task.title}", actor, task, reason=why)
        else:
            task.cancel_reason = why
            self._task_event("task_cancelled", f"Task cancelled: {task.title}", actor, task, reason=why)
        self._clock_rearm = True

    def _finish_tasks_from(self, source: str, status: TaskStatus, why: str, actor: Actor | None) -> None:
        for task in self.state.tasks:
            if task.source == source and task.status is TaskStatus.OPEN:
                self._finish_task(task, status, why, actor)

    def _cancel_open_tasks(self, why: str, actor: Actor) -> None:
        """The case is closing: nothing is left on anyone's list for it."""
        for task in self.state.tasks:
            if task.status is TaskStatus.OPEN:
                self._finish_task(task, TaskStatus.CANCELLED, why, actor)

    # ---- Updates every kind gets ------------------------------------------------------------

    @workflow.update
    async def add_task(self, inp: AddTaskInput) -> AnyCaseState:
        async with self._step(ADD_TASK, inp.actor):
            await self._open_task(inp.title, assignee=inp.assignee, due_on=inp.due_on, due_time=inp.due_time,
                                  description=inp.description, actor=inp.actor)
        return self.state

    @add_task.validator
    def _validate_add_task(self, inp: AddTaskInput) -> None:
        self._validate(ADD_TASK, inp.actor)
        if not inp.title.strip():
            raise invalid("title", "a task needs a title")
        self._validate_assignee(inp.assignee)
        self._validate_due(inp.due_on, inp.due_time)

    @workflow.update
    async def complete_task(self, inp: CompleteTaskInput) -> AnyCaseState:
        async with self._step(COMPLETE_TASK, inp.actor):
            self._finish_task(self._open_one(inp.task_id), TaskStatus.DONE, inp.result, inp.actor)
        return self.state

    @complete_task.validator
    def _validate_complete_task(self, inp: CompleteTaskInput) -> None:
        self._validate(COMPLETE_TASK, inp.actor)
        self._open_one(inp.task_id)
        if not inp.result.strip():
            raise invalid("result", "say what was done")

    @workflow.update
    async def cancel_task(self, inp: CancelTaskInput) -> AnyCaseState:
        async with self._step(CANCEL_TASK, inp.actor):
            self._finish_task(self._open_one(inp.task_id), TaskStatus.CANCELLED, inp.reason, inp.actor)
        return self.state

    @cancel_task.validator
    def _validate_cancel_task(self, inp: CancelTaskInput) -> None:
        self._validate(CANCEL_TASK, inp.actor)
        self._open_one(inp.task_id)
        if not inp.reason.strip():
            raise invalid("reason", "a reason is required to cancel a task")

    @workflow.update
    async def reassign_task(self, inp: ReassignTaskInput) -> AnyCaseState:
        async with self._step(REASSIGN_TASK, inp.actor):
            task = self._open_one(inp.task_id)
            before = self._who(task)
            task.team, task.assignee_id, task.assignee_name = (
                inp.assignee.team, inp.assignee.assignee_id, inp.assignee.assignee_name)
            self._forget_notices(task)
            task.assignment += 1
            notice = await self._notify_assignee(task, inp.actor)
            self._task_event("task_reassigned", f"Task reassigned from {before} to {self._who(task)}: {task.title}",
                             inp.actor, task, reason=inp.reason, notice=notice)
        return self.state

    @reassign_task.validator
    def _validate_reassign_task(self, inp: ReassignTaskInput) -> None:
        self._validate(REASSIGN_TASK, inp.actor)
        task = self._open_one(inp.task_id)
        self._validate_assignee(inp.assignee)
        if (task.team, task.assignee_id) == (inp.assignee.team, inp.assignee.assignee_id):
            raise invalid("assignee", f"the task is already assigned to {self._who(task)}")

    @workflow.update
    async def reschedule_task(self, inp: RescheduleTaskInput) -> AnyCaseState:
        async with self._step(RESCHEDULE_TASK, inp.actor):
            task = self._open_one(inp.task_id)
            before = self._due(task)
            task.due_on, task.due_time = inp.due_on, inp.due_time
            task.due_at = task_due_at(inp.due_on, inp.due_time, self._task_region())
            task.overdue, task.overdue_since = False, None  # due again, later
            self._task_event("task_rescheduled", f"Task due date moved from {before} to {self._due(task)}: "
                             f"{task.title}", inp.actor, task, reason=inp.reason)
            self._clock_rearm = True
        return self.state

    @reschedule_task.validator
    def _validate_reschedule_task(self, inp: RescheduleTaskInput) -> None:
        self._validate(RESCHEDULE_TASK, inp.actor)
        self._open_one(inp.task_id)
        self._validate_due(inp.due_on, inp.due_time)

    # ---- the timer's side (engine/clock.py's loop asks) -------------------------------------

    def _next_task_instant(self) -> datetime | None:
        """When the next open task falls due (None: none will)."""
        return min((t.due_at for t in self.state.tasks if t.status is TaskStatus.OPEN and not t.overdue),
                   default=None)

    def _flag_overdue_tasks(self) -> list[TimelineEvent]:
        fired = workflow.now()
        events = []
        for task in self.state.tasks:
            if task.status is TaskStatus.OPEN and not task.overdue and fired >= task.due_at:
                task.overdue, task.overdue_since = True, task.due_at
                events.append(self._system_event(
                    "task_overdue", f"Task overdue: {task.title} ({self._who(task)}, was due {self._due(task)})",
                    at=task.due_at, data={"task_id": task.id, "fired_at": fired.isoformat()}))
        return events

    # ---- helpers ----------------------------------------------------------------------------

    def _task_region(self) -> Region:
        return self.state.clock.policy.region if self.state.clock else DEFAULT_REGION

    def _tomorrow(self) -> date:
        return case_today(workflow.now(), self._task_region()) + timedelta(days=1)

    def _open_one(self, task_id: str) -> Task:
        """The open task `task_id`: 422 if the case has none such, 409 if it is closed already."""
        task = next((t for t in self.state.tasks if t.id == task_id), None)
        if task is None:
            raise invalid("task_id", f"no task with id {task_id} on this case")
        if task.status is not TaskStatus.OPEN:
            raise conflict(f"the task '{task.title}' is already {task.status.value}", self.state.stage)
        return task

    @staticmethod
    def _validate_assignee(assignee: TaskAssignee) -> None:
        if assignee.team is None and assignee.assignee_id is None:
            raise invalid("assignee", "a task is for a team, a person, or both")

    def _validate_due(self, due_on: date, due_time: time | None) -> None:
        refusal = due_refusal(due_on, due_time, self._task_region(), workflow.now())
        if refusal is not None:
            raise invalid(*refusal)

    @staticmethod
    def _who(task: Task) -> str:
        if task.assignee_name and task.team:
            return f"{task.assignee_name} ({task.team})"
        return task.assignee_name or (f"team {task.team}" if task.team else "nobody yet")

    @staticmethod
    def _due(task: Task) -> str:
        return format_day(task.due_on) + (f" {task.due_time.strftime('%H:%M')}" if task.due_time else "")

    def _task_event(self, kind: str, summary: str, actor: Actor | None, task: Task, *, reason: str | None = None,
                    notice: TaskNoticeResult | None = None) -> None:
        data = {"task_id": task.id, "team": task.team, "assignee_id": task.assignee_id,
                "due_at": task.due_at.isoformat()}
        if notice is not None:
            data.update(emailed=notice.recipient, message_id=notice.message_id,
                        delivery_confirmed=notice.delivery_confirmed, email_refused=notice.refused)
        event = (self._event(kind, summary, actor, reason=reason, data=data) if actor is not None else
                 TimelineEvent(id=str(workflow.uuid4()), at=workflow.now(), actor_id=None, actor_name=CASE_ACTOR,
                               kind=kind, summary=summary, reason=reason, data=data))
        assert self._step_events is not None, "tasks change inside a step"
        self._step_events.append(event)

    async def _notify_assignee(self, task: Task, actor: Actor | None, *, again: bool = False) -> TaskNoticeResult:
        """Email the task's assignee (the person, else the team's address), once per assignment
        (`again`: a new email for the same assignment, its first one unconfirmed). An email whose
        send was interrupted waits on the case until someone confirms or resends it."""
        if task.team is None and task.assignee_id is None:
            return TaskNoticeResult()
        key = f"{self.state.reference}/task/{task.id}/{task.assignment}"
        if again:
            key += f"/again/{workflow.uuid4().hex[:12]}"
        job = TaskNoticeJob(business_key=key, reference=self.state.reference,
                            case_type_name=self.state.case_type.name,
                            task=task, sender_name=actor.display_name if actor else CASE_ACTOR)
        notice = await self._duty("notify_task_assignee", job, start_to_close=NOTICE_TIMEOUT,
                                  result_type=TaskNoticeResult, what=f"task email {key}")
        if notice.message_id and not notice.delivery_confirmed and self._patched(TASK_NOTICES_SETTLED):
            self.state.unconfirmed_deliveries.append(UnconfirmedDelivery(
                id=str(workflow.uuid4()), business_key=key, purpose=TASK_NOTICE_PURPOSE, channel=Channel.EMAIL,
                recipient=notice.recipient, message_id=notice.message_id, sent_at=workflow.now(), task_id=task.id))
        return notice

    def _forget_notices(self, task: Task) -> None:
        """The task is closed or assigned afresh: whether its earlier email arrived no longer
        matters to anyone."""
        self.state.unconfirmed_deliveries = [d for d in self.state.unconfirmed_deliveries if d.task_id != task.id]
