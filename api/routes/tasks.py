"""Tasks for people: added, completed, cancelled, reassigned and rescheduled on a case through the
engine's Updates (workflows/engine/tasks.py), and the lists "my tasks" and "my team's tasks" read
from PostgreSQL. See docs/tasks.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api import errors
from api.casesteps import CaseStep, authorised_step, team_and_person
from api.deps import CASE_PATH, SessionDep, ViewerDep, cached_lookup
from api.schemas.cases import CaseRead, ReasonBody
from api.schemas.tasks import TaskAssigneeIn, TaskComplete, TaskCreate, TaskListItem, TaskReassign, TaskReschedule
from casework.cases import limits, repository
from casework.cases.contracts import (
    AddTaskInput,
    CancelTaskInput,
    CompleteTaskInput,
    ReassignTaskInput,
    RescheduleTaskInput,
    TaskAssignee,
)
from casework.cases.visibility import Viewer, may_see_case, viewer_for
from casework.platform.db import AppUser, reading
from casework.tasks.repository import Scope, StatusFilter, task_list
from workflows.engine import CaseWorkflow

router = APIRouter(tags=["tasks"])
TASK = "/cases" + CASE_PATH + "/tasks/{task_id}"


# After the case's own path parameters in the OpenAPI document (see api.deps).
async def _task_id(task_id: str) -> str:
    return task_id


TaskId = Annotated[str, Depends(_task_id)]


async def task_assignee(request: Request, case: CaseStep, body: TaskAssigneeIn) -> TaskAssignee:
    """Who the body names, checked (422 naming the field): a known team, an active user (a member
    of the team if both are named), who may see the case, or the task would be on nobody's list."""
    person: AppUser | None
    if body.team is not None:
        _, person = await team_and_person(request, body.team, body.assignee)
    else:
        username = body.assignee or ""  # named: the body refuses neither
        person = await cached_lookup(request, ("user", username),
                                     lambda s: repository.get_user_by_username(s, username))
        if person is None or not person.active:
            raise errors.unprocessable("assignee", f"unknown user '{username}'")
    async with reading(request.app.state.sessionmaker) as session:
        if person is not None:
            viewer, who, field = await viewer_for(session, person), f"'{person.username}'", "assignee"
        else:
            viewer, who, field = Viewer(user_id=-1, all_teams=False, teams=frozenset({body.team or ""}),
                                        case_types=None), f"team '{body.team}'", "team"
        if not await may_see_case(session, viewer, case.reference):
            raise errors.unprocessable(field, f"{who} cannot see case {case.reference}; allocate it to them first")
    return TaskAssignee(team=body.team, assignee_id=person.id if person else None,
                        assignee_name=person.display_name if person else None)


@router.post("/cases" + CASE_PATH + "/tasks", response_model=CaseRead)
async def add_task(case: Annotated[CaseStep, authorised_step(CaseWorkflow.add_task)], body: TaskCreate,
                   request: Request) -> Any:
    """Add a task for a team, a person, or a person in a team, due on a date (and, for a same-day
    follow-up, at a time). The assignee is emailed; the case flags the task overdue when it falls due."""
    assignee = await task_assignee(request, case, body)
    return await case.take(AddTaskInput(actor=case.actor(), title=body.title, description=body.description,
                                        assignee=assignee, due_on=body.due_date, due_time=body.due_time))


@router.post(TASK + "/complete", response_model=CaseRead)
async def complete_task(case: Annotated[CaseStep, authorised_step(CaseWorkflow.complete_task)],
                        task_id: TaskId, body: TaskComplete) -> Any:
    """Mark the task done, saying what was done. A task already closed is 409."""
    return await case.take(CompleteTaskInput(actor=case.actor(), task_id=task_id, result=body.result))


@router.post(TASK + "/cancel", response_model=CaseRead)
async def cancel_task(case: Annotated[CaseStep, authorised_step(CaseWorkflow.cancel_task)],
                      task_id: TaskId, body: ReasonBody) -> Any:
    """Cancel the task, with a reason. A task already closed is 409."""
    return await case.take(CancelTaskInput(actor=case.actor(), task_id=task_id, reason=body.reason))


@router.post(TASK + "/reassign", response_model=CaseRead)
async def reassign_task(case: Annotated[CaseStep, authorised_step(CaseWorkflow.reassign_task)],
                        task_id: TaskId, body: TaskReassign, request: Request) -> Any:
    """Give the task to another team or person, who is emailed."""
    assignee = await task_assignee(request, case, body)
    return await case.take(ReassignTaskInput(actor=case.actor(), task_id=task_id, assignee=assignee,
                                             reason=body.reason))


@router.post(TASK + "/reschedule", response_model=CaseRead)
async def reschedule_task(case: Annotated[CaseStep, authorised_step(CaseWorkflow.reschedule_task)],
                          task_id: TaskId, body: TaskReschedule) -> Any:
    """Move the task's due date (and time); an overdue task is due again."""
    return await case.take(RescheduleTaskInput(actor=case.actor(), task_id=task_id, due_on=body.due_date,
                                               due_time=body.due_time, reason=body.reason))


@router.get("/tasks", response_model=list[TaskListItem])
async def list_tasks(
    session: SessionDep, viewer: ViewerDep,
    scope: Annotated[Scope, Query(description="mine: assigned to you; team: to your teams")] = "mine",
    status: StatusFilter = "open",
    case: Annotated[str | None, Query(max_length=limits.REFERENCE, description="only this case's (reference)")] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=limits.MAX_OFFSET)] = 0,
) -> Any:
    """Your tasks, or your teams', on cases you may see: open ones by default, overdue first, then
    the soonest due."""
    return await task_list(session, viewer, scope=scope, status=status, case_reference=case, overdue=overdue,
                           limit=limit, offset=offset)
