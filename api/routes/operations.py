"""Cases that are stuck: found by operations within minutes, not when a user complains.

A case is stuck when Temporal keeps failing its workflow task (the server marks it with the
`TemporalReportedProblems` search attribute after 3 failures in a row, see docs/operations.md) or
when one of its activities keeps failing (a pending activity past `min_attempts`: a mail server or
database that stays down, a fault no retry mends). Both show in the Temporal UI too: the first by
`TemporalReportedProblems IS NOT NULL`, the second on the case's page (pending activities).
"""

from __future__ import annotations

import asyncio
from datetime import timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.service import RPCError

from api.casesteps import ui_url
from api.deps import CurrentUser, TemporalDep, require_permission
from api.errors import temporal_unreachable
from api.schemas.operations import StuckCase, StuckProblem
from casework.cases.roles import Role
from casework.cases.search_attributes import OPEN_CASES, STUCK_CASES
from casework.people.permissions import declare

VIEW_OPERATIONS = declare("operations.view", "list stuck cases and what fails in them",
                          {Role.OPERATIONS, Role.ADMIN})

router = APIRouter(prefix="/operations", tags=["operations"])

DESCRIBE_AT_ONCE = 10


@router.get("/stuck-cases", response_model=list[StuckCase])
async def stuck_cases(
    request: Request, client: TemporalDep, user: CurrentUser,
    min_attempts: Annotated[int, Query(ge=2, le=1000, description="an activity failing this often is stuck")] = 5,
) -> Any:
    """Open cases whose workflow task keeps failing or one of whose activities has failed at least
    `min_attempts` times, with what fails and since when. Operations and admins only. Every open
    case is described (10 at a time): seconds for thousands of open cases."""
    require_permission(user, VIEW_OPERATIONS, "listing stuck cases")
    try:
        reported = {w.id: _reported(w.search_attributes.get("TemporalReportedProblems") or [])
                    async for w in client.list_workflows(STUCK_CASES)}
        open_cases = [(w.id, w.workflow_type) async for w in client.list_workflows(OPEN_CASES)]
        gate = asyncio.Semaphore(DESCRIBE_AT_ONCE)
        described = await asyncio.gather(*(_describe(client, gate, ref) for ref, _ in open_cases))
    except RPCError as exc:
        raise temporal_unreachable(exc) from exc
    stuck = []
    for (reference, workflow_type), description in zip(open_cases, described, strict=True):
        problems = []
        if reference in reported:
            problems.append(await _failing_task(client, reference, reported[reference], description))
        if description is not None:
            problems += _failing_activities(description, min_attempts)
        if problems:
            stuck.append(StuckCase(reference=reference, workflow_type=workflow_type, problems=problems,
                                   temporal_ui_url=ui_url(request, reference)))
    return stuck


def _reported(values: list[Any]) -> str:
    """Temporal's report, e.g. ["category=WorkflowTaskFailed", "cause=...UnhandledFailure"]."""
    parts = dict(str(value).partition("=")[::2] for value in values)
    return ": ".join(part for part in (parts.get("category"), parts.get("cause")) if part) or "reported"


async def _failing_task(client: Client, reference: str, what: str,
                        description: WorkflowExecutionDescription | None) -> StuckProblem:
    """The workflow task's attempts, since when it fails, and its last failure (from history)."""
    attempts, since = None, None
    if description is not None and description.raw_description.HasField("pending_workflow_task"):
        task = description.raw_description.pending_workflow_task
        attempts = task.attempt
        since = task.original_scheduled_time.ToDatetime(tzinfo=timezone.utc)
    last_failure = None
    try:
        async for event in client.get_workflow_handle(reference).fetch_history_events():
            if event.HasField("workflow_task_failed_event_attributes"):
                last_failure = event.workflow_task_failed_event_attributes.failure.message or None
    except RPCError:
        pass
    return StuckProblem(kind="workflow_task", what=what, attempts=attempts, last_failure=last_failure,
                        since=since)


async def _describe(client: Client, gate: asyncio.Semaphore, reference: str) -> WorkflowExecutionDescription | None:
    async with gate:
        try:
            return await client.get_workflow_handle(reference).describe()
        except RPCError:
            return None  # closed or gone since it was listed


def _failing_activities(description: WorkflowExecutionDescription, min_attempts: int) -> list[StuckProblem]:
    problems = []
    for pending in description.raw_description.pending_activities:
        if pending.attempt < min_attempts:
            continue
        since = (pending.last_started_time.ToDatetime(tzinfo=timezone.utc)
                 if pending.HasField("last_started_time") else None)
        problems.append(StuckProblem(
            kind="activity", what=pending.activity_type.name, attempts=pending.attempt,
            last_failure=pending.last_failure.message or None, since=since))
    return problems
