"""What every kind of case shares: registration, the case as read (with its list item and
timeline), and the steps any case takes (allocation, notes, extensions, type change, closure,
escalation)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from api.schemas.base import DATE_BOUNDS, CategoryText, CodeText, Read, ShortText, Strict, Text, UploadIds
from api.schemas.documents import DocumentRead
from casework.calendar.bounds import MAX_EXTENSION_WORKING_DAYS, received_refusal
from casework.calendar.deadlines import case_today
from casework.calendar.policies import ExtensionAnchor
from casework.cases import limits

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
POSTCODE = re.compile(r"^[A-Z0-9][A-Z0-9 ]{1,9}[A-Z0-9]$")


class CorrespondentIn(Strict):
    name: ShortText
    relationship: CodeText = "complainant"
    is_primary: bool = False
    email: Annotated[str, StringConstraints(max_length=limits.EMAIL)] | None = None
    phone: Annotated[str, StringConstraints(max_length=limits.PHONE)] | None = None
    address_lines: list[Annotated[str, StringConstraints(max_length=limits.ADDRESS_LINE)]] = Field(
        default_factory=list, max_length=8
    )
    postcode: Annotated[str, StringConstraints(max_length=limits.POSTCODE)] | None = None
    external_reference: Annotated[str, StringConstraints(max_length=limits.EXTERNAL_REFERENCE)] | None = None

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
    case_type: CodeText = "COMP"
    channel: CodeText
    category: CategoryText
    severity: CodeText
    description: Text
    date_received: date
    correspondents: list[CorrespondentIn] = Field(min_length=1, max_length=20)
    attachment_ids: UploadIds = Field(default_factory=list)

    @field_validator("date_received")
    @classmethod
    def _not_future(cls, value: date) -> date:
        refusal = received_refusal("date_received", value, case_today(datetime.now(timezone.utc)),
                                   DATE_BOUNDS.earliest_date_received)
        if refusal is not None:
            raise ValueError(refusal)
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
    team: CodeText
    assignee: ShortText | None = Field(None, description="username of the person allocated")
    reason: Text | None = None


class ReasonBody(Strict):
    reason: Text


class OptionalNote(Strict):
    note: Text | None = None


class CloseRequest(Strict):
    reason: CategoryText
    note: Text | None = None


class DeliveryConfirmation(Strict):
    note: Text = Field(description="how the delivery was confirmed (the recipient, the mail server's log)")


class NoteBody(Strict):
    text: Text


class EscalateRequest(Strict):
    reason: Text


class ExtendRequest(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: ExtensionAnchor = Field(alias="from", description="count from today or from the current deadline")
    working_days: int = Field(ge=1, le=MAX_EXTENSION_WORKING_DAYS)
    reason: Text


class ChangeTypeRequest(Strict):
    case_type: CodeText
    reason: Text


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


class UnconfirmedDeliveryRead(Read):
    """An email whose send was interrupted: confirm it arrived, or send it again."""

    id: str
    purpose: str
    channel: str
    recipient: str | None
    message_id: str | None
    sent_at: datetime


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
    unconfirmed_deliveries: list[UnconfirmedDeliveryRead] = []
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
