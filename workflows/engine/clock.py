"""The deadline clock every case carries: its first deadlines, pauses while the case waits on the
complainant, extensions, a type change's new policy, calendar changes, and the durable timer that
warns before the deadline and escalates when it passes. A mixin of `CaseWorkflow`; the dates come
from `casework.calendar` through the `compute_deadlines` activity (see docs/deadlines.md)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from casework.calendar.bounds import MAX_EXTENSION_WORKING_DAYS
    from casework.calendar.deadlines import case_today, format_day, local_date, start_of_day
    from casework.calendar.policies import DayUnit, DeadlinePolicy
    from casework.calendar.workdays import DEFAULT_REGION
    from casework.cases.contracts import (
        Actor,
        CalendarChange,
        CaseClock,
        CaseCore,
        CaseStatus,
        ChangeTypeInput,
        ClockPause,
        ClockRun,
        ComputeDeadlinesResult,
        DeadlineExtension,
        ExtendDeadlineInput,
        TimelineEvent,
    )
    from casework.cases.jobs import (
        ComputeDeadlinesInput,
        DeadlineNoticeJob,
        DeadlineNoticeResult,
        ExtensionRequest,
    )

from workflows.engine.activity_options import DEADLINES_TIMEOUT, NOTICE_TIMEOUT, PATIENT_RETRY
from workflows.engine.errors import conflict, invalid
from workflows.engine.parts import CaseParts
from workflows.engine.shared import shared_policy
from workflows.engine.versioning import LOCAL_DEADLINES


class Awaited(Protocol):
    """Something the case waits on the complainant for (a clarification request, say)."""

    id: str
    reply_by: date


def deadlines_input(state: CaseCore, policy: DeadlinePolicy, now: datetime,
                    extension: ExtensionRequest | None = None,
                    calendar_as_of: datetime | None = None) -> ComputeDeadlinesInput:
    """What the deadline calculation is asked for a case: its facts, its clock's pauses and
    extensions so far (none before it has a clock), and today in the policy's region. The workflow
    asks with it, and so does the API for a new case's first deadlines."""
    clock = state.clock
    # A clock restarted when the case reopened counts from that day.
    counted_from = clock.restarted_on if clock and clock.restarted_on else state.date_received
    return ComputeDeadlinesInput(
        reference=state.reference, policy=policy, date_received=counted_from,
        pauses=clock.pauses if clock else [],
        extension_days=[e.days_added for e in clock.extensions] if clock else [],
        today=local_date(now, policy.region), extension=extension, calendar_as_of=calendar_as_of)


def _calendar_as_of(clock: CaseClock, changes: list[CalendarChange]) -> datetime | None:
    """How recent the closures a calendar change's recalculation counts must be: read after every
    change it was told of, and never older than those its dates already count (notices of two
    changes can arrive in either order). None, to read them afresh, if a notice does not say."""
    instants = [change.calendar_as_of for change in changes]
    if any(instant is None for instant in instants):
        return None
    return max(i for i in [*instants, clock.calendar_as_of] if i is not None)


class DeadlineClock(CaseParts):
    """The clock's half of a case workflow (mixed into CaseWorkflow, which provides the state,
    the lock, timeline events and commits)."""

    def _today(self) -> date:
        """Today for this case: the local date in its region, by the workflow's clock."""
        region = self.state.clock.policy.region if self.state.clock else DEFAULT_REGION
        return case_today(workflow.now(), region)

    @property
    def _clock(self) -> CaseClock:
        assert self.state.clock is not None
        return self.state.clock

    # ---- extensions and a new type's policy -------------------------------------------------

    async def _extend(self, inp: ExtendDeadlineInput, events: list[TimelineEvent]) -> None:
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

    def _validate_extension(self, inp: ExtendDeadlineInput) -> None:
        if not inp.reason.strip():
            raise invalid("reason", "a reason is required to extend a deadline")
        if inp.working_days < 1:
            raise invalid("working_days", "working_days must be at least 1")
        if inp.working_days > MAX_EXTENSION_WORKING_DAYS:
            raise invalid("working_days", f"working_days must be at most {MAX_EXTENSION_WORKING_DAYS}")
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
        why = f"received {format_day(self.state.date_received)}, {policy.describe()}"
        if dropped:
            why += f"; {len(dropped)} extension(s) granted under {old_type} not carried over"
        return [self._event(
            "deadline_recalculated",
            f"Deadlines recomputed for the new type: deadline moved from {format_day(before)} "
            f"to {format_day(clock.deadline)}",
            inp.actor, reason=why,
            data={"from": before.isoformat(), "to": clock.deadline.isoformat(), "policy": policy.name,
                  "dropped_extensions": [e.id for e in dropped], "explanation": clock.explanation})]

    # ---- the clock --------------------------------------------------------------------------

    async def _compute(self, policy: DeadlinePolicy, extension: ExtensionRequest | None = None,
                       calendar_as_of: datetime | None = None) -> ComputeDeadlinesResult:
        job = deadlines_input(self.state, policy, workflow.now(), extension, calendar_as_of)
        # A short read of the calendar and some date arithmetic: a local activity spares the
        # server a scheduled task and a workflow task at every registration and recalculation.
        if self._patched(LOCAL_DEADLINES):
            return await self._local_then_patient("compute_deadlines", job, start_to_close=DEADLINES_TIMEOUT,
                                                  result_type=ComputeDeadlinesResult,
                                                  what=f"deadlines of {self.state.reference}")
        return await workflow.execute_activity("compute_deadlines", job, start_to_close_timeout=DEADLINES_TIMEOUT,
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
        if result.calendar_as_of is not None:
            clock.calendar_as_of = result.calendar_as_of
        if clock.restarted_on is not None:  # counted from the day it reopened, not from receipt
            clock.explanation = clock.explanation.replace("received ", "reopened ", 1)
        for pause, days in zip(clock.pauses, result.paused_days, strict=False):  # a new pause has no days yet
            pause.paused_days = days
        now = workflow.now()
        if clock.overdue and now < clock.breach_at:
            clock.overdue, clock.overdue_since = False, None
        if clock.warned_for is not None and clock.warned_for != clock.deadline:
            # Warned for the old date: warn again only if the new warning point is still ahead.
            clock.warned_for = clock.deadline if now >= clock.warn_at else None
        self._clock_rearm = True

    def _pause_clock(self, item: Awaited, actor: Actor, started_on: date | None = None) -> list[TimelineEvent]:
        """Stop the clock while the case waits on the complainant for `item` (until its reply-by
        date at the latest), if the policy says so: from `started_on`, the day the request was
        actually sent (today if None)."""
        clock = self.state.clock
        if clock is None or clock.stopped_on is not None or not clock.policy.pause_on_clarification:
            return []
        pause = clock.open_pause
        self._clock_rearm = True
        if pause is not None:
            pause.clarification_ids.append(item.id)
            pause.resume_by = max(pause.resume_by, item.reply_by)
            return []
        reason = ("Waiting for the complainant's answer to a clarification request "
                  f"(reply by {format_day(item.reply_by)})")
        pause = ClockPause(id=str(workflow.uuid4()), reason=reason, started_on=started_on or self._today(),
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
        """The case has been answered: the clock stops and records whether the deadline was met."""
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
                                  f"Response sent on {format_day(sent_on)}: "
                                  f"deadline {format_day(clock.deadline)} {verdict}",
                                  actor, data={"deadline": clock.deadline.isoformat(),
                                               "sent_on": sent_on.isoformat(), "met": clock.deadline_met}))
        return events

    async def _restart_clock(self, actor: Actor, why: str) -> list[TimelineEvent]:
        """The case was answered and is open again (a lead complaint disputed once resolved): the
        clock runs afresh from today under the same policy, with a new deadline and warning. The
        run that ended (its deadline, when it stopped, met or missed) is kept in `earlier_runs`;
        its pauses and extensions belong to it. Nothing to do for a clock still running."""
        clock = self.state.clock
        if clock is None or clock.stopped_on is None:
            return []
        today = self._today()
        clock.earlier_runs.append(ClockRun(
            started_on=clock.restarted_on or self.state.date_received, deadline=clock.deadline,
            stopped_on=clock.stopped_on, met=bool(clock.deadline_met), overdue_since=clock.overdue_since,
            pauses=clock.pauses, extensions=clock.extensions))
        clock.restarted_on, clock.stopped_on, clock.pauses, clock.extensions = today, None, [], []
        clock.overdue, clock.overdue_since, clock.escalated_to, clock.warned_for = False, None, None, None
        before = clock.deadline
        self._apply_schedule(await self._compute(clock.policy))
        return [self._event(
            "clock_restarted",
            f"Clock restarted on {format_day(today)} (reopened): due {format_day(clock.deadline)} "
            f"({clock.policy.describe()})", actor, reason=why,
            data={"restarted_on": today.isoformat(), "previous_deadline": before.isoformat(),
                  "deadline": clock.deadline.isoformat(), "warning_on": clock.warning_on.isoformat(),
                  "policy": clock.policy.name, "explanation": clock.explanation})]

    def _next_clock_instant(self) -> datetime | None:
        clock = self.state.clock
        if clock is None or clock.stopped_on is not None:
            return None
        pause = clock.open_pause
        if pause is not None:
            return self._resume_instant(pause)
        if clock.overdue:
            return None
        return clock.warn_at if clock.warned_for != clock.deadline else clock.breach_at

    def _resume_instant(self, pause: ClockPause) -> datetime | None:
        """When a pause ends unanswered: the start of the day after its reply-by date. None (it ends
        only with a reply) for a date beyond the calendar, which validators now refuse but a case
        paused before they did may hold: the clock must not fail its workflow task over it."""
        try:
            return start_of_day(pause.resume_by + timedelta(days=1), self._clock.policy.region)
        except (OverflowError, ValueError):
            return None

    async def _keep_time(self) -> None:
        """The case clock: a durable timer to the next instant that matters (warning, breach, the
        end of a pause's reply-by date, or an open task falling due), re-armed whenever they change."""
        while not self._run_ends():
            due = self._next_clock_instant()
            task_due = self._next_task_instant()  # None for a case without open tasks: as before
            summary = "deadline clock"
            if task_due is not None and (due is None or task_due < due):
                due, summary = task_due, "task due"
            self._clock_rearm = False
            wake = lambda: self._run_ends() or self._clock_rearm or bool(self._calendar_changes)  # noqa: E731
            wait = None if due is None else due - workflow.now()
            if wait is None:
                await workflow.wait_condition(wake)
            elif wait > timedelta(0):
                try:
                    await workflow.wait_condition(wake, timeout=wait, timeout_summary=summary)
                except asyncio.TimeoutError:
                    pass
            if self._run_ends():
                return
            async with self._lock:
                if self.state.status is CaseStatus.CLOSED:
                    return
                told = self._calendar_told
                events = await self._apply_calendar_changes()
                events += await self._fire_due_clock_events()
                flagged = self._flag_overdue_tasks()
                events += flagged
                if flagged:
                    self._step_events = events  # tasks opened in answer join this commit
                    try:
                        events += await self._tasks_fell_overdue(flagged)
                    finally:
                        self._step_events = None
                if events:
                    await self._commit(events)
                self._calendar_applied = told

    def _note_calendar_change(self, change: CalendarChange) -> None:
        self._calendar_changes.append(change)
        self._calendar_told += 1

    async def _apply_calendar_changes(self) -> list[TimelineEvent]:
        changes, self._calendar_changes = self._calendar_changes, []
        clock = self.state.clock
        changes = [c for c in changes if clock is not None and c.region == clock.policy.region.value]
        if not changes or clock is None or clock.stopped_on is not None:
            return []
        before = (clock.deadline, clock.warning_on, clock.acknowledgement_due, dict(clock.stage_deadlines))
        result = await self._compute(clock.policy, calendar_as_of=_calendar_as_of(clock, changes))
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
        resume_at = self._resume_instant(pause) if pause else None
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
            start_to_close_timeout=NOTICE_TIMEOUT,
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
