"""Tasks for people on a case: what adding, closing, reassigning and rescheduling one take, and a
task as read (on its case, and in the task lists)."""

from __future__ import annotations

from datetime import date, datetime, time

from pydantic import Field, model_validator

from api.schemas.base import CodeText, DueDate, Read, ShortText, Strict, Text


class TaskAssigneeIn(Strict):
    team: CodeText | None = Field(None, description="the team the task is for (its email address is told)")
    assignee: ShortText | None = Field(None, description="username of the person it is for (they are emailed)")

    @model_validator(mode="after")
    def _someone(self) -> "TaskAssigneeIn":
        if self.team is None and self.assignee is None:
            raise ValueError("assignee: name a team, a person (assignee), or both")
        return self


class TaskDue(Strict):
    due_date: DueDate
    due_time: time | None = Field(None, description="a time on the due date, UK time (a same-day follow-up)")


class TaskCreate(TaskAssigneeIn, TaskDue):
    title: ShortText
    description: Text | None = None


class TaskComplete(Strict):
    result: Text = Field(description="what was done")


class TaskReassign(TaskAssigneeIn):
    reason: Text | None = None


class TaskReschedule(TaskDue):
    reason: Text | None = None


class TaskRead(Read):
    id: str
    title: str
    description: str | None
    team: str | None
    assignee_id: int | None
    assignee_name: str | None
    due_on: date
    due_time: time | None
    due_at: datetime = Field(description="when it becomes overdue")
    status: str = Field(description="open, done or cancelled")
    result: str | None
    cancel_reason: str | None
    overdue: bool
    overdue_since: datetime | None
    created_by: str
    created_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    source: str | None = None


class TaskListItem(TaskRead):
    case_reference: str
    case_type: str
    case_stage: str
    complainant_name: str
