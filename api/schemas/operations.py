"""What operations see of cases that do not move on by themselves."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class StuckProblem(BaseModel):
    kind: str  # workflow_task | activity
    what: str  # the failing activity's name, or Temporal's reported problem
    attempts: int | None = None
    last_failure: str | None = None
    since: datetime | None = None


class StuckCase(BaseModel):
    reference: str
    workflow_type: str
    problems: list[StuckProblem]
    temporal_ui_url: str | None = None
