"""What the engine's parts (the clock, correspondence, the step wrapper) rely on in a case
workflow: its state and plan, its lock, timeline events, which behaviour it runs, and the commit.
`CaseWorkflow` provides all of it; the parts are split out only to keep each file readable."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from casework.cases.contracts import (
        Actor,
        CalendarChange,
        CaseCore,
        CaseStatus,
        ComputeDeadlinesResult,
        TimelineEvent,
    )
    from casework.cases.stages import StagePlan
    from workflows.engine.activity_options import LOCAL_RETRY, LOCAL_TIMEOUT, PATIENT_RETRY

from workflows.engine.versioning import LOCAL_DUTIES

if TYPE_CHECKING:
    from workflows.engine.step import Step

R = TypeVar("R")

CLOCK_ACTOR = "Deadline clock"


class CaseParts:
    state: CaseCore
    plan: StagePlan
    _lock: asyncio.Lock
    _patches: frozenset[str]
    _registered: bool
    _first_schedule: ComputeDeadlinesResult | None
    _calendar_changes: list[CalendarChange]
    _calendar_told: int
    _calendar_applied: int
    _clock_rearm: bool
    _step_events: list[TimelineEvent] | None  # the timeline events of the step in progress

    async def _commit(self, events: list[TimelineEvent]) -> None:
        raise NotImplementedError

    def _step(self, action: str, actor: Actor) -> Step:
        raise NotImplementedError

    def _validate(self, action: str, actor: Actor) -> None:
        raise NotImplementedError

    async def _local_then_patient(self, activity: str, arg: Any, *, start_to_close: timedelta,
                                  result_type: type[R], what: str) -> R:
        """Run `activity` as a local activity first, in the step's own workflow task (no activity
        task for the server to schedule, dispatch and complete). If the database or the mail server
        is still down after a few attempts, carry on as a regular activity, retried patiently,
        whose attempts and last failure operations see in the Temporal UI and the stuck-case list
        (a local activity's retries show nowhere). A fault no retry can mend (a non-retryable
        application error) fails the step either way."""
        try:
            return await workflow.execute_local_activity(
                activity, arg, start_to_close_timeout=min(start_to_close, LOCAL_TIMEOUT), retry_policy=LOCAL_RETRY,
                result_type=result_type)
        except (ActivityError, ApplicationError, ActivityTimeoutError) as exc:
            # A local activity's failure arrives as itself, or wrapped as a regular one's is.
            cause = exc.cause if isinstance(exc, ActivityError) else exc
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                raise
            workflow.logger.warning("%s not done locally (%s); retrying it as an activity", what, cause)
        return await workflow.execute_activity(activity, arg, start_to_close_timeout=start_to_close,
                                               retry_policy=PATIENT_RETRY, result_type=result_type)

    async def _duty(self, activity: str, arg: Any, *, start_to_close: timedelta, result_type: Any,
                    what: str, patch: str = LOCAL_DUTIES) -> Any:
        """Run `activity` (idempotent by its job's key: a task's email, a posting): locally first
        (`_local_then_patient`) where the run has `patch`, else as a regular activity, as runs
        recorded before the patch did."""
        if self._patched(patch):
            return await self._local_then_patient(activity, arg, start_to_close=start_to_close,
                                                  result_type=result_type, what=what)
        return await workflow.execute_activity(activity, arg, start_to_close_timeout=start_to_close,
                                               retry_policy=PATIENT_RETRY, result_type=result_type)

    def _patched(self, patch_id: str) -> bool:
        return patch_id in self._patches or workflow.patched(patch_id)

    def _run_ends(self) -> bool:
        return self.state.status is CaseStatus.CLOSED or workflow.info().is_continue_as_new_suggested()

    def _next_task_instant(self) -> datetime | None:
        """When the case's timer must next wake for a task (engine/tasks.py)."""
        return None

    def _flag_overdue_tasks(self) -> list[TimelineEvent]:
        return []

    async def _tasks_fell_overdue(self, flagged: list[TimelineEvent]) -> list[TimelineEvent]:
        """What a kind does when the case's timer flags tasks overdue (`flagged`: their
        task_overdue events), e.g. escalate a missed follow-up. Runs under the case's lock,
        committed with the flags; tasks may be opened. None by default."""
        return []

    def _event(self, kind: str, summary: str, actor: Actor, *, reason: str | None = None,
               data: dict[str, Any] | None = None, case_reference: str | None = None) -> TimelineEvent:
        return TimelineEvent(
            id=str(workflow.uuid4()), at=workflow.now(), actor_id=actor.user_id,
            actor_name=actor.display_name, kind=kind, summary=summary, reason=reason,
            data=data or {}, case_reference=case_reference,
        )

    def _system_event(self, kind: str, summary: str, *, reason: str | None = None,
                      data: dict[str, Any] | None = None, at: datetime | None = None) -> TimelineEvent:
        """An event nobody asked for: the deadline clock acting on its own."""
        return TimelineEvent(
            id=str(workflow.uuid4()), at=at or workflow.now(), actor_id=None, actor_name=CLOCK_ACTOR,
            kind=kind, summary=summary, reason=reason, data=data or {},
        )
