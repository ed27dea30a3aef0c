"""The one wrapper every step of every kind of case goes through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from casework.cases.contracts import Actor, TimelineEvent

if TYPE_CHECKING:
    from workflows.engine.base import CaseWorkflow


class Step:
    """Serialises steps, re-checks the stage under the lock (another step may have moved the case
    while this one waited), applies skips of optional stages, then commits the projection.
    A step that fails part-way (a letter that cannot be made, an address the mail server refuses,
    data PostgreSQL refuses for good) leaves the case as it was: nothing half-written."""

    def __init__(self, wf: CaseWorkflow[Any], action: str, actor: Actor) -> None:
        self.wf, self.action, self.actor = wf, action, actor
        self.events: list[TimelineEvent] = []

    async def __aenter__(self) -> list[TimelineEvent]:
        wf = self.wf
        await workflow.wait_condition(lambda: wf._registered or wf._refused is not None)
        if wf._refused is not None:
            raise wf._refused
        await wf._lock.acquire()
        # What to put back if the step fails: a JSON snapshot is far cheaper than a deep copy.
        self.before = wf.state.model_dump_json(), wf.plan
        try:
            # Again under the lock: a step that waited may find the case re-allocated out of sight.
            wf._check_sight(self.actor)
            route = wf._route(self.action)
            for skipped in route.skipped:
                self.events.append(wf._event("stage_skipped", f"{skipped.label} skipped",
                                             self.actor, data={"stage": skipped.key}))
            wf._move_to(route.stage, self.actor, self.events)
        except BaseException:
            wf._lock.release()
            raise
        wf._action, wf._step_events = self.action, self.events
        return self.events

    async def __aexit__(self, exc_type, exc, tb) -> None:
        wf = self.wf
        wf._action, wf._step_events = None, None
        try:
            if exc_type is None:
                try:
                    await wf._commit(self.events)
                except (ActivityError, ApplicationError):  # a local activity's arrives as itself
                    # The projection failed for good (PostgreSQL refused the data, raised
                    # non-retryable): nothing was written, so the case goes back as it was and can
                    # take its next step. Other failures of the commit are retried, never raised.
                    self._restore()
                    raise
            else:
                self._restore()
        finally:
            wf._lock.release()

    def _restore(self) -> None:
        wf = self.wf
        state, wf.plan = self.before
        wf.state = type(wf.state).model_validate_json(state)
