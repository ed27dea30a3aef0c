"""Request and response bodies. Validation here gives 422s that name the field."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from casework.contracts import Channel

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
POSTCODE = re.compile(r"^[A-Z0-9][A-Z0-9 ]{1,9}[A-Z0-9]$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CorrespondentIn(Strict):
    name: ShortText
    relationship: ShortText = "complainant"
    is_primary: bool = False
    email: str | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    address_lines: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        default_factory=list, max_length=8
    )
    postcode: str | None = None
    external_reference: Annotated[str, StringConstraints(max_length=100)] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.strip()
        if not EMAIL.match(value):
            raise ValueError("not a valid email address")
        return value

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = " ".join(value.upper().split())
        if not POSTCODE.match(value):
            raise ValueError("not a valid postcode")
        return value


class CaseCreate(Strict):
    case_type: ShortText = "COMP"
    channel: ShortText
    category: ShortText
    severity: ShortText
    description: Text
    date_received: date
    correspondents: list[CorrespondentIn] = Field(min_length=1, max_length=20)
    attachment_ids: list[str] = Field(default_factory=list)

    @field_validator("date_received")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("date_received cannot be in the future")
        return value

    @model_validator(mode="after")
    def _one_primary(self) -> "CaseCreate":
        primaries = [c for c in self.correspondents if c.is_primary]
        if len(primaries) > 1:
            raise ValueError("correspondents: only one may be the primary complainant")
        if not primaries:
            self.correspondents[0].is_primary = True
        return self


class AllocateRequest(Strict):
    team: ShortText
    assignee: ShortText | None = Field(None, description="username of the person allocated")
    reason: Text | None = None


class AcknowledgeRequest(Strict):
    channel: Channel


class ClarificationRequest(Strict):
    channel: Channel
    questions: Text
    reply_by: date


UploadIds = Annotated[
    list[Annotated[str, StringConstraints(max_length=36)]],
    Field(max_length=20, description="upload_ids from POST /uploads"),
]


class ClarificationReply(Strict):
    reply: Text
    received_on: date | None = None
    attachment_ids: UploadIds = Field(default_factory=list)


class ContributionRequest(Strict):
    team: ShortText
    assignee: ShortText | None = None
    request: Text
    due_date: date
    channel: Channel | None = Field(
        Channel.EMAIL,
        description="email (to the person asked, else the team's address), letter, or null to "
        "record the request without sending anything",
    )


class ContributionComplete(Strict):
    details: Text
    attachment_ids: UploadIds = Field(default_factory=list)


class DraftResponseRequest(Strict):
    standard_line_ids: list[Annotated[str, StringConstraints(max_length=36)]] = Field(
        default_factory=list, max_length=50, description="live standard lines, in the order wanted")
    summary: Text | None = Field(None, description="the drafter's own opening text")


class StandardLineCreate(Strict):
    category: ShortText
    topic: ShortText
    text: Text
    expires_on: date


class StandardLineUpdate(Strict):
    expires_on: date


class EmailTemplateUpload(Strict):
    subject: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    html: Annotated[str, StringConstraints(min_length=1, max_length=500_000)]
    case_type: ShortText | None = Field(None, description="only for this case type; null for all")
    note: Text | None = None


class TemplatePreviewRequest(Strict):
    case_reference: ShortText | None = Field(None, description="render against this case")
    version_id: ShortText | None = Field(None, description="this version; default: the one in use")
    format: Annotated[str, StringConstraints(pattern="^(docx|pdf)$")] = "docx"


class ReasonBody(Strict):
    reason: Text


class OptionalNote(Strict):
    note: Text | None = None


class SendRequest(Strict):
    channel: Channel
    sent_on: date | None = None


class OutcomeRequest(Strict):
    outcome: ShortText
    detail: Text
    redress_amount: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)


class CloseRequest(Strict):
    reason: ShortText
    note: Text | None = None


class NoteBody(Strict):
    text: Text


class EscalateRequest(Strict):
    reason: Text


# ---- responses -----------------------------------------------------------------------------


class Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CorrespondentRead(Read):
    id: str
    relationship: str
    is_primary: bool
    name: str
    email: str | None
    phone: str | None
    address_lines: list[str]
    postcode: str | None
    external_reference: str | None


class DocumentRead(Read):
    id: str
    kind: str
    purpose: str | None
    filename: str
    content_type: str
    size: int
    version: int
    added_by: str
    added_at: datetime
    download_url: str = ""


class ClarificationRead(Read):
    id: str
    channel: str
    questions: str
    reply_by: date
    requested_by: str
    requested_at: datetime
    reply: str | None
    reply_received_on: date | None
    replied_by: str | None
    replied_at: datetime | None
    reply_attachment_ids: list[str] = []


class ContributionRead(Read):
    id: str
    team: str
    assignee_id: int | None
    assignee_name: str | None
    request: str
    due_date: date
    status: str
    overdue: bool = False
    details: str | None
    cancel_reason: str | None
    requested_by: str
    requested_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    channel: str | None = None
    recipient: str | None = None
    attachment_ids: list[str] = []


class NoteRead(Read):
    id: str
    text: str
    created_by: str
    created_at: datetime
    edited_by: str | None
    edited_at: datetime | None


class TimelineRead(Read):
    id: str
    occurred_at: datetime
    actor_name: str
    kind: str
    summary: str
    reason: str | None
    data: dict[str, Any]


class CaseListItem(Read):
    reference: str
    case_type: str
    status: str
    stage: str
    stage_label: str
    team: str | None
    assignee_name: str | None
    complainant_name: str
    date_received: date
    updated_at: datetime


class CaseRead(Read):
    reference: str
    case_type: str
    case_type_name: str
    status: str
    stage: str
    stage_label: str
    team: str | None
    assignee_id: int | None
    assignee_name: str | None
    channel: str
    category: str
    severity: str
    description: str
    date_received: date
    registered_by: str
    registered_at: datetime
    sent_channel: str | None
    sent_on: date | None
    outcome: str | None
    outcome_detail: str | None
    redress_amount: Decimal | None
    close_reason: str | None
    close_note: str | None
    closed_at: datetime | None
    escalated_from: str | None
    escalated_to: str | None
    submitted_draft_id: str | None
    approved_by: str | None
    allowed_actions: list[str]
    correspondents: list[CorrespondentRead]
    documents: list[DocumentRead]
    clarifications: list[ClarificationRead]
    contributions: list[ContributionRead]
    notes: list[NoteRead]
    workflow_id: str
    temporal_ui_url: str | None


class UploadRead(BaseModel):
    upload_id: str
    filename: str
    content_type: str
    size: int
    sha256: str


class UserRead(Read):
    id: int
    username: str
    display_name: str
    email: str | None
    roles: list[str]


class StandardLineRead(Read):
    id: str
    category: str
    topic: str
    text: str
    expires_on: date
    status: str  # live | expired | retired
    created_by: str
    created_at: datetime
    retired_at: datetime | None
    retired_by: str | None
    replaced_by: str | None


class TemplateVersionRead(Read):
    id: str
    purpose: str
    channel: str
    case_type: str | None
    version: int
    filename: str | None
    note: str | None
    uploaded_by: str
    uploaded_at: datetime
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    download_url: str | None = None


class EmailPreview(BaseModel):
    template: str
    subject: str
    text: str
    html: str
