"""What every kind of case shares: registration, the case as read (with its list item and
timeline), and the steps any case takes (allocation, notes, extensions, type change, closure,
escalation)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)

from api.schemas.base import (
    DATE_BOUNDS,
    CategoryText,
    CodeText,
    ExternalId,
    Read,
    ShortText,
    Strict,
    Text,
    UploadIds,
)
from api.schemas.documents import DocumentRead
from api.schemas.tasks import TaskRead
from casework.calendar.bounds import MAX_EXTENSION_WORKING_DAYS, received_refusal
from casework.calendar.deadlines import REGION_TIMEZONES, case_today
from casework.calendar.policies import ExtensionAnchor
from casework.calendar.workdays import Region
from casework.cases import limits
from casework.cases.postcodes import normalise_postcode

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
POSTCODE = re.compile(r"^[A-Z0-9][A-Z0-9 ]{1,9}[A-Z0-9]$")


COMPLAINANT = "complainant"


class CorrespondentIn(Strict):
    name: ShortText
    relationship: CodeText = COMPLAINANT
    is_primary: bool = False
    authority_required: bool | None = Field(
        None, description="a letter of authority from the complainant is needed before a response goes to "
        "this person; left out: yes for a representative, no otherwise")
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
        value = normalise_postcode(value)
        if not POSTCODE.match(value):
            raise ValueError("not a valid postcode")
        return value


class CaseCreate(Strict):
    case_type: CodeText | None = Field(None, description="the case type's code; the deployment's "
                                       "DEFAULT_CASE_TYPE when left out (required where none is set)")
    channel: CodeText
    category: CategoryText
    severity: CodeText
    description: Text
    date_received: date
    correspondents: list[CorrespondentIn] = Field(min_length=1, max_length=20)
    attachment_ids: UploadIds = Field(default_factory=list)
    customer: ExternalId | None = Field(None, description="external_id of the customer the complaint is about")
    lead: ExternalId | None = Field(None, description="external_id of the lead the complaint is about")

    @field_validator("date_received")
    @classmethod
    def _not_future(cls, value: date) -> date:
        refusal = received_refusal("date_received", value, case_today(datetime.now(timezone.utc)),
                                   DATE_BOUNDS.earliest_date_received)
        if refusal is not None:
            raise ValueError(refusal)
        return value

    @model_validator(mode="after")
    def _authority(self) -> "CaseCreate":
        for person in self.correspondents:
            if person.authority_required is None:
                person.authority_required = person.relationship == "representative"
        return self

    @model_validator(mode="after")
    def _one_primary(self) -> "CaseCreate":
        """One primary complainant: the one marked, else the first correspondent whose relationship
        is complainant. A representative or third party is never made the complainant."""
        primaries = [c for c in self.correspondents if c.is_primary]
        if len(primaries) > 1:
            raise ValueError("correspondents: only one may be the primary complainant")
        if primaries and primaries[0].relationship != COMPLAINANT:
            raise ValueError(f"correspondents: the primary correspondent must be the complainant "
                             f"(relationship '{COMPLAINANT}'), not a {primaries[0].relationship}")
        if not primaries:
            complainant = next((c for c in self.correspondents if c.relationship == COMPLAINANT), None)
            if complainant is None:
                raise ValueError("correspondents: a complainant is required (a correspondent with "
                                 f"relationship '{COMPLAINANT}'); a representative or third party acts "
                                 "for one and is never made the complainant")
            complainant.is_primary = True
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
    authority_required: bool = False
    authority_received_on: date | None = None
    authority_document_id: str | None = None


class ClarificationRead(Read):
    id: str
    channel: str | None = Field(description="letter or email; null: sent outside the system")
    questions: str
    reply_by: date
    requested_by: str
    requested_at: datetime
    sent_on: date | None = Field(None, description="the day it was sent, when not the day it was requested")
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
    received_on: date | None = Field(None, description="the day the contribution actually came in")
    kind: str | None = Field(None, description="what kind of contribution (the complaint_contribution_kinds list)")
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
    task_id: str | None = Field(None, description="the task this email told its assignee of (`task_assigned`)")


class PartyRead(Read):
    """A record the case is about, and where the API serves it."""

    party_type: str
    external_id: str
    role: str
    path: str


class CaseRead(Read):
    reference: str
    kind: str = Field("complaint", description="the kind of case: which steps and details it has")
    case_type: str
    case_type_name: str
    status: str
    stage: str
    stage_label: str
    team: str | None
    assignee_id: int | None
    assignee_name: str | None
    # The complaint's own columns of the core row (None for other kinds, whose fields are in details).
    channel: str | None = None
    category: str | None = None
    severity: str | None = None
    description: str | None = None
    date_received: date
    registered_by: str
    registered_at: datetime
    sent_channel: str | None = None
    sent_on: date | None = None
    outcome: str | None = None
    outcome_detail: str | None = None
    redress_amount: Decimal | None = None
    close_reason: str | None
    close_note: str | None
    closed_at: datetime | None
    escalated_from: str | None
    escalated_to: str | None = None
    submitted_draft_id: str | None = None
    approved_by: str | None = None
    allowed_actions: list[str]
    unconfirmed_deliveries: list[UnconfirmedDeliveryRead] = []
    correspondents: list[CorrespondentRead]
    documents: list[DocumentRead]
    clarifications: list[ClarificationRead] = []  # complaint casework's
    contributions: list[ContributionRead] = []
    notes: list[NoteRead]
    tasks: list[TaskRead] = Field(default_factory=list, description="tasks for people on the case, open and closed")
    parties: list[PartyRead] = []
    details: dict[str, Any] = Field(default_factory=dict, description="the kind's own fields and collections "
                                    "(empty for a complaint, whose fields are above)")
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
    overdue_since: datetime | None = Field(None, description="when the deadline passed, in UTC")
    escalated_to_manager: str | None = None
    clock_paused: bool = False
    deadline_met: bool | None = None
    stage_deadlines: dict[str, date] = Field(default_factory=dict)
    stage_deadline: date | None = Field(None, description="the current stage's deadline, if its kind has one")
    paused_intervals: list[ClockPauseRead] = Field(default_factory=list)
    extensions: list[ExtensionRead] = Field(default_factory=list)

    @computed_field(description="overdue_since in the calendar's local time (UK time: a BST deadline "
                                "passes at 23:00 UTC, which is midnight in London)")
    def overdue_since_local(self) -> datetime | None:
        if self.overdue_since is None or self.calendar_region is None:
            return None
        return self.overdue_since.astimezone(REGION_TIMEZONES[Region(self.calendar_region)])
