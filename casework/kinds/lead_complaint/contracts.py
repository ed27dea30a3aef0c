"""Lead complaints' payloads: the state, the start and one small input per step of its own.

New fields always get defaults: recorded histories hold these payloads. The chosen values of the
administrator's lists are kept as code and label at the time (a renamed value keeps the code; a
retired one stays on the complaints that have it).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from casework.cases.contracts import CaseCore, CaseStartCore, StepInput, register_state

KIND = "lead_complaint"


class Picked(BaseModel):
    """A value of an administrator's list as it was chosen: its code (what never changes) and label."""

    code: str
    label: str


class Resolution(BaseModel):
    """One resolution recorded on the complaint: by compliance (resolved), or by a manager deciding a
    dispute (upheld, changed)."""

    resolution_type: Picked
    resolution: Picked
    how: str  # resolved | upheld | changed
    note: str | None = None
    by: str
    by_id: int | None = None
    at: datetime


class Dispute(BaseModel):
    """A contested complaint escalating up the approval chain: each level (a team) has until its
    pick-up date, else the dispute escalates to the next level by itself."""

    id: str
    reason: str
    raised_by: str
    raised_by_id: int | None = None
    raised_at: datetime
    chain: list[str]  # the teams it escalates through, first to last
    pick_up_by: list[date]  # the day each level must pick it up by
    level: int = 0
    picked_up_by: str | None = None
    picked_up_by_id: int | None = None
    picked_up_at: datetime | None = None
    outcome: str | None = None  # upheld | changed | sent_back
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None

    @property
    def task_source(self) -> str:
        return f"dispute:{self.id}:{self.level}"


class LeadComplaintState(CaseCore):
    kind: Literal["lead_complaint"] = "lead_complaint"
    lead_id: str
    complaint_type: Picked
    description: str
    received_on: date
    filed_by_id: int | None = None
    resolution: Resolution | None = None  # the one in force
    resolutions: list[Resolution] = Field(default_factory=list)  # every one, oldest first
    disputes: list[Dispute] = Field(default_factory=list)

    @property
    def date_received(self) -> date:
        return self.received_on

    @property
    def open_dispute(self) -> Dispute | None:
        return next((d for d in self.disputes if d.outcome is None), None)

    @property
    def complaint_status(self) -> str:
        if self.open_dispute is not None:
            return "disputed"
        return "resolved" if self.resolution is not None and self.stage == "resolved" else "open"

    def involved(self) -> list[tuple[str | None, int | None]]:
        """The agent who filed it follows it (and sees the outcome); so does the team a dispute is with."""
        dispute = self.open_dispute
        return ([(None, self.filed_by_id)] if self.filed_by_id is not None else []) + (
            [(dispute.chain[dispute.level], None)] if dispute is not None else [])

    def kind_details(self) -> dict[str, Any]:
        dispute = self.open_dispute
        return {
            "lead_id": self.lead_id,
            "complaint_type": self.complaint_type.code,
            "complaint_type_label": self.complaint_type.label,
            "category": self.complaint_type.label,  # what statistics count open cases by
            "description": self.description,
            "status": self.complaint_status,
            "filed_by_id": self.filed_by_id,
            "involved_user_ids": [self.filed_by_id] if self.filed_by_id is not None else [],
            "resolution": None if self.resolution is None else self.resolution.model_dump(mode="json"),
            "resolution_history": [r.model_dump(mode="json") for r in self.resolutions],
            "disputes": [d.model_dump(mode="json") for d in self.disputes],
            "dispute_with": None if dispute is None else dispute.chain[dispute.level],
        }

    def category_code(self) -> str:
        return self.complaint_type.code  # the type's code: a renamed type is still found by it

    def letter_fields(self) -> dict[str, str | None]:
        return {"category": self.complaint_type.label, "description": self.description, "channel": None}


register_state(LeadComplaintState)


class LeadComplaintStart(CaseStartCore):
    lead_id: str
    complaint_type: Picked
    description: str
    received_on: date
    carried_state: LeadComplaintState | None = None


class ResolveInput(StepInput):
    resolution_type: Picked
    resolution: Picked
    note: str | None = None


class DisputeInput(StepInput):
    reason: str
    chain: list[str]
    pick_up_by: list[date]


class TakeDisputeInput(StepInput):
    note: str | None = None


class DecideDisputeInput(StepInput):
    reason: str | None = None
    resolution_type: Picked | None = None
    resolution: Picked | None = None
