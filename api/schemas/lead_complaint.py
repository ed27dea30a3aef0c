"""Lead complaints' request bodies (F2); the complaint reads as a case (CaseRead, its own fields
under `details`) and the queue as LeadComplaintQueueItem."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from api.schemas.base import CodeText, ExternalId, Strict, Text, UploadIds


class LeadComplaintCreate(Strict):
    lead: ExternalId = Field(description="external_id of the lead the complaint is against")
    complaint_type: CodeText = Field(
        description="a code of the list lead_complaint_types (GET /lists/lead_complaint_types)")
    description: Text
    attachment_ids: UploadIds = Field(default_factory=list)


class ResolveRequest(Strict):
    resolution_type: CodeText = Field(description="a code of lead_resolution_types")
    resolution: CodeText = Field(description="a code of lead_resolutions belonging to resolution_type")
    note: Text | None = None


class DisputeRequest(Strict):
    reason: Text


class ChangeResolutionRequest(ResolveRequest):
    reason: Text | None = None


class LeadComplaintQueueItem(BaseModel):
    reference: str
    lead_id: str | None
    complaint_type: str | None
    complaint_type_label: str | None
    status: str | None
    filed_by: str
    team: str | None
    assignee_name: str | None
    date_received: date
    deadline: date | None
    overdue: bool
    warning: bool  # past its warning day (its target's), not yet overdue
    resolution: str | None
