"""What the case workflows hand their activities, and what comes back: the projection, letters and
emails, deadlines and their notices, task emails, digests. Pydantic models like the workflow's own
payloads (casework.cases.contracts), new fields always with defaults; passed through the sandbox.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from casework.calendar.policies import DeadlinePolicy, ExtensionAnchor
from casework.cases.contracts import (
    AnyCaseState,
    CalendarChange,
    Channel,
    ClockPause,
    DocumentRef,
    Task,
    TemplateRef,
    TimelineEvent,
)

# ---- Activity inputs and results -----------------------------------------------------------


class ProjectCaseInput(BaseModel):
    state: AnyCaseState
    events: list[TimelineEvent]
    # Which child collections changed in this step; None means all of them.
    collections: list[str] | None = None


class CorrespondenceJob(BaseModel):
    """One letter or email. `business_key` makes delivery exactly-once across retries."""

    business_key: str
    purpose: str  # a template purpose: acknowledgement | clarification | contribution | response ...
    channel: Channel
    state: AnyCaseState
    sender_name: str
    extra: dict[str, Any] = Field(default_factory=dict)
    attachment_ids: list[str] = Field(default_factory=list)
    # Email addresses to send to instead of the complainant (e.g. a contributing team).
    recipients: list[str] = Field(default_factory=list)
    # The correspondent it is addressed to instead of the complainant (their representative).
    addressee_id: str | None = None


class CorrespondenceResult(BaseModel):
    document: DocumentRef
    message_id: str | None = None
    recipient: str | None = None
    # Further files made with it, e.g. the print-ready PDF of a letter.
    documents: list[DocumentRef] = Field(default_factory=list)
    template: TemplateRef | None = None
    # False when a retry found the send interrupted and, to never send twice, did not resend.
    delivery_confirmed: bool = True


class ExtensionRequest(BaseModel):
    anchor: ExtensionAnchor
    working_days: int


class ComputeDeadlinesInput(BaseModel):
    reference: str
    policy: DeadlinePolicy
    date_received: date
    pauses: list[ClockPause] = Field(default_factory=list)
    extension_days: list[int] = Field(default_factory=list)
    today: date
    extension: ExtensionRequest | None = None
    # Closures read at or after this instant will do (a calendar change's, CalendarChange.calendar_as_of):
    # a worker that has read them since reuses them. None: read them now.
    calendar_as_of: datetime | None = None


class DeadlineNoticeJob(BaseModel):
    """A warning or breach email to the people responsible; exactly once per business key."""

    business_key: str
    kind: str  # warning | breach
    state: AnyCaseState
    due_at: datetime


class DeadlineNoticeResult(BaseModel):
    recipients: list[str] = Field(default_factory=list)
    message_id: str | None = None
    manager_name: str | None = None


class TaskNoticeJob(BaseModel):
    """The email telling a task's assignee (the person, else the team's address) it is theirs;
    exactly once per business key (`reference/task/<id>/<assignment>`)."""

    business_key: str
    reference: str
    case_type_name: str
    task: Task
    sender_name: str


class TaskNoticeResult(BaseModel):
    recipient: str | None = None  # None: nobody has an address to write to
    message_id: str | None = None
    # False when a retry found the send interrupted and, to never send twice, did not resend.
    delivery_confirmed: bool = True
    refused: str | None = None  # why the mail server refused it for good


class OpenCasesPage(BaseModel):
    region: str
    after_reference: str = ""
    limit: int = 200


class CalendarNoticeJob(BaseModel):
    """Tell every open case on `notice.region`'s calendar, after `after_reference`, that it changed
    (activity `signal_open_cases`); the activity's heartbeat carries its progress over a retry."""

    notice: CalendarChange
    after_reference: str = ""
    page_size: int = 200



# ---- Digests -------------------------------------------------------------------------------


class DigestRequest(BaseModel):
    """What a digest subscription's Temporal Schedule starts DigestWorkflow with."""

    subscription_id: str


class DigestJob(BaseModel):
    """One digest email. `run_key` (the workflow id, unique per scheduled or triggered run) keys
    its outbox row, so a retried activity never mails the same run twice."""

    subscription_id: str
    run_key: str


class DigestResult(BaseModel):
    sent: bool
    recipient: str | None = None
    message_id: str | None = None
    case_count: int = 0
    reason: str | None = None  # why nothing was sent, or "already sent"
