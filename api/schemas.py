"""Request and response bodies. Validation here gives 422s that name the field."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from datetime import time as dt_time
from decimal import Decimal
from typing import Annotated, Any, Literal

from zoneinfo import available_timezones

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from casework.cases.contracts import Channel
from casework.digests.subscriptions import Frequency, Recipient, Weekday
from casework.calendar.deadlines import case_today
from casework.calendar.policies import ExtensionAnchor

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
        if value > case_today(datetime.now(timezone.utc)):
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


class HoldingResponseRequest(Strict):
    channel: Channel
    reason: Text = Field(description="why the final response is late (goes into the letter or email)")
    new_due_date: date = Field(description="when the complainant can now expect the final response")


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


class ExtendRequest(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: ExtensionAnchor = Field(alias="from", description="count from today or from the current deadline")
    working_days: int = Field(ge=1, le=250)
    reason: Text


class ChangeTypeRequest(Strict):
    case_type: ShortText
    reason: Text


class ClosureCreate(Strict):
    date: date
    reason: ShortText
    kind: Literal["closure", "bank_holiday"] = "closure"


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


class ClockPauseRead(BaseModel):
    id: str
    reason: str
    started_on: date
    resume_by: date
    ended_on: date | None
    end_reason: str | None
    paused_days: int
    clarification_ids: list[str]


class ExtensionRead(BaseModel):
    id: str
    anchor: str
    working_days: int
    reason: str
    days_added: int
    previous_deadline: date
    new_deadline: date
    granted_by: str
    granted_at: datetime


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
    deadline: date | None = None
    overdue: bool = False


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
    # The response clock (all empty for a case registered before clocks existed).
    deadline: date | None = None
    deadline_warning_on: date | None = None
    acknowledgement_due: date | None = None
    deadline_policy: str | None = None
    calendar_region: str | None = None
    deadline_explanation: str | None = None
    deadline_warned: bool = False
    overdue: bool = False
    overdue_since: datetime | None = None
    escalated_to_manager: str | None = None
    clock_paused: bool = False
    deadline_met: bool | None = None
    stage_deadlines: dict[str, date] = Field(default_factory=dict)
    stage_deadline: date | None = Field(None, description="the current stage's deadline, if its kind has one")
    paused_intervals: list[ClockPauseRead] = Field(default_factory=list)
    extensions: list[ExtensionRead] = Field(default_factory=list)


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


# ---- digests -------------------------------------------------------------------------------


class DigestScheduleIn(Strict):
    frequency: Frequency
    time: dt_time = Field(description="local time of day, HH:MM")
    time_zone: str = Field("Europe/London", description="IANA time zone, e.g. Europe/London")
    day_of_week: Weekday | None = Field(None, description="weekly digests only",
                                       validate_default=True)

    @field_validator("time")
    @classmethod
    def _whole_minutes(cls, value: dt_time) -> dt_time:
        if value.second or value.microsecond or value.tzinfo:
            raise ValueError("give a local time as HH:MM")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone '{value}'; use an IANA name such as Europe/London")
        return value

    @field_validator("day_of_week")
    @classmethod
    def _day_for_weekly_only(cls, value: Weekday | None, info: ValidationInfo) -> Weekday | None:
        weekly = info.data.get("frequency") is Frequency.WEEKLY
        if weekly and value is None:
            raise ValueError("a weekly digest needs day_of_week")
        if not weekly and value is not None:
            raise ValueError("day_of_week is for weekly digests only")
        return value


class DigestCreate(Strict):
    team: ShortText = Field(description="the team whose statistics and case list the digest carries")
    recipient: Recipient = Field(Recipient.ME, description="'me' (your address) or 'team' (its mailbox)")
    case_type: ShortText | None = Field(None, description="only this case type")
    schedule: DigestScheduleIn
    active: bool = True


class DigestUpdate(Strict):
    recipient: Recipient | None = None
    case_type: ShortText | None = None
    schedule: DigestScheduleIn | None = None
    active: bool | None = Field(None, description="false pauses the schedule, true resumes it")


class DigestScheduleRead(BaseModel):
    frequency: str
    time: str
    time_zone: str
    day_of_week: str | None
    description: str


class DigestRead(BaseModel):
    id: str
    owner: str
    team: str
    recipient: str
    recipient_address: str | None
    case_type: str | None
    schedule: DigestScheduleRead
    active: bool
    schedule_id: str
    temporal_ui_url: str | None
    created_at: datetime
    updated_at: datetime


class DigestPreview(BaseModel):
    recipient: str
    subject: str
    text: str
    html: str
    case_count: int


# ---- template library and standard lines --------------------------------------------------


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
