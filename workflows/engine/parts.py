"""What the engine's parts (the clock, correspondence, the step wrapper) rely on in a case
workflow: its state and plan, its lock, timeline events, which behaviour it runs, and the commit.
`CaseWorkflow` provides all of it; the parts are split out only to keep each file readable."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio import workflow

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

if TYPE_CHECKING:
    from workflows.engine.step import Step

CLOCK_ACTOR = "Deadline clock"


class CaseParts:
    state: CaseCore
    plan: StagePlan
    _lock: asyncio.Lock
    _patches: frozenset[str]
    _registered: bool
    _first_schedule: ComputeDeadlinesResult | None
    _calendar_changes: list[CalendarChange]
    _clock_rearm: bool
    _step_events: list[TimelineEvent] | None  # the timeline events of the step in progress

    async def _commit(self, events: list[TimelineEvent]) -> None:
        raise NotImplementedError

    def _step(self, action: str, actor: Actor) -> Step:
        raise NotImplementedError

    def _validate(self, action: str, actor: Actor) -> None:
        raise NotImplementedError

    def _patched(self, patch_id: str) -> bool:
        return patch_id in self._patches or workflow.patched(patch_id)

    def _run_ends(self) -> bool:
        return self.state.status is CaseStatus.CLOSED or workflow.info().is_continue_as_new_suggested()

    def _next_task_instant(self) -> datetime | None:
        """When the case's timer must next wake for a task (engine/tasks.py)."""
        return None

    def _flag_overdue_tasks(self) -> list[TimelineEvent]:
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
