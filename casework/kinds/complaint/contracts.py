"""Complaint casework's payloads: its state, its start and one small input per step of its own.

Each is its own pydantic model so fields can be added later without breaking running workflows (new
fields must have defaults). The field names are what recorded histories hold: keep them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from casework.cases.contracts import (
    CaseCore,
    CaseStartCore,
    Channel,
    DocumentRef,
    StepInput,
    register_state,
)

KIND = "complaint"


class ResponseChannel(StrEnum):
    """How the response reached the complainant: sent (a letter or an email the case produces), or
    given by telephone or in person, with the approved response document as the record of it."""

    LETTER = "letter"
    EMAIL = "email"
    TELEPHONE = "telephone"
    IN_PERSON = "in_person"

    @property
    def sent(self) -> Channel | None:
        """The letter or email channel that carries it, None for one given by word of mouth."""
        return Channel(self.value) if self.value in {c.value for c in Channel} else None


class CaseDetails(BaseModel):
    channel: str
    category: str
    severity: str
    description: str
    date_received: date


class Clarification(BaseModel):
    id: str
    channel: Channel | None  # None: sent outside the system, recorded here
    questions: str
    reply_by: date
    requested_by: str
    requested_at: datetime
    sent_on: date | None = None  # the day it was sent (None in older cases: requested_at's)
    reply: str | None = None
    reply_received_on: date | None = None
    replied_by: str | None = None
    replied_at: datetime | None = None
    reply_attachment_ids: list[str] = Field(default_factory=list)


class Contribution(BaseModel):
    id: str
    team: str
    assignee_id: int | None = None
    assignee_name: str | None = None
    request: str
    due_date: date
    status: str = "open"  # open | completed | cancelled
    details: str | None = None
    cancel_reason: str | None = None
    requested_by: str
    requested_at: datetime
    closed_by: str | None = None
    closed_at: datetime | None = None
    received_on: date | None = None  # the day the contribution actually came in, when recorded
    kind: str | None = None  # from the complaint_contribution_kinds list (business area, legal, ...)
    # How the request went out (None: recorded only) and to whom; documents sent with the reply.
    channel: Channel | None = None
    recipient: str | None = None
    attachment_ids: list[str] = Field(default_factory=list)


class SentBack(BaseModel):
    """Why and from where a case was sent to another stage out of turn (to a manager, or back to
    triage): kept until the case moves on from there."""

    from_stage: str
    reason: str
    by: str
    at: datetime


class ComplaintState(CaseCore):
    """Everything the workflow knows about a complaint case: the core, plus what was complained
    about, the clarifications and contributions asked for, the draft response and its review, the
    response sent and the outcome. The PostgreSQL projection is a function of it."""

    kind: Literal["complaint"] = "complaint"
    details: CaseDetails
    clarifications: list[Clarification] = Field(default_factory=list)
    contributions: list[Contribution] = Field(default_factory=list)
    submitted_draft_id: str | None = None
    drafted_by_id: int | None = None  # who submitted the draft under review (the latest submission)
    # Everyone who has submitted a draft version for review (four eyes: none of them may review it).
    draft_submitter_ids: list[int] = Field(default_factory=list)
    approved_by: str | None = None
    sent_channel: ResponseChannel | None = None
    sent_on: date | None = None
    outcome: str | None = None
    outcome_detail: str | None = None
    redress_amount: Decimal | None = None
    acknowledged: bool = False  # (False in cases recorded before it was kept: see the timeline)
    returned: SentBack | None = None  # back in triage: the returned cases queue
    referred: SentBack | None = None  # with a manager

    COLLECTIONS: ClassVar[tuple[str, ...]] = (*CaseCore.COLLECTIONS, "clarifications", "contributions")

    @property
    def date_received(self) -> date:
        return self.details.date_received

    def involved(self) -> list[tuple[str | None, int | None]]:
        return [(c.team, c.assignee_id) for c in self.contributions]

    def letter_fields(self) -> dict[str, str | None]:
        return {"category": self.details.category, "description": self.details.description,
                "channel": self.details.channel}

    def response_document_id(self) -> str | None:
        return self.submitted_draft_id

    def kind_details(self) -> dict[str, Any]:
        """Where the case was sent out of turn: `returned` (the returned cases queue) and
        `referred` (with a manager), each with the stage it came from, why, who and when."""
        return {"returned": self.returned is not None,
                "returned_from": self.returned.model_dump(mode="json") if self.returned else None,
                "referred": self.referred is not None,
                "referred_from": self.referred.model_dump(mode="json") if self.referred else None}

    def detail_columns(self) -> dict[str, Any]:
        return {
            "channel": self.details.channel,
            "category": self.details.category,
            "severity": self.details.severity,
            "description": self.details.description,
            "submitted_draft_id": self.submitted_draft_id,
            "drafted_by_id": self.drafted_by_id,
            "approved_by": self.approved_by,
            "sent_channel": self.sent_channel.value if self.sent_channel else None,
            "sent_on": self.sent_on,
            "outcome": self.outcome,
            "outcome_detail": self.outcome_detail,
            "redress_amount": self.redress_amount,
        }


register_state(ComplaintState)
CaseState = ComplaintState  # the name the complaint flow has always used


class CaseStart(CaseStartCore):
    """What starts a complaint case (workflow input): the core, and what was complained about."""

    details: CaseDetails
    # Set when the workflow continues as new: the state carried over.
    carried_state: ComplaintState | None = None


class AcknowledgeInput(StepInput):
    channel: Channel


class ClarificationRequestInput(StepInput):
    channel: Channel | None  # None: only recorded (it was sent outside the system on sent_on)
    questions: str
    reply_by: date
    sent_on: date | None = None  # None: today


class ClarificationReplyInput(StepInput):
    clarification_id: str
    reply: str
    received_on: date | None = None  # None: today, by the workflow's clock
    attachments: list[DocumentRef] = Field(default_factory=list)


class ContributionRequestInput(StepInput):
    team: str
    assignee_id: int | None = None
    assignee_name: str | None = None
    request: str
    due_date: date
    kind: str | None = None  # from the complaint_contribution_kinds list
    # None: the request is only recorded. Otherwise it goes out by this channel to the recipient.
    channel: Channel | None = None
    team_name: str | None = None
    recipient_name: str | None = None
    recipient_email: str | None = None


class ContributionCompleteInput(StepInput):
    contribution_id: str
    details: str
    received_on: date | None = None  # when it actually came in (None: not recorded)
    attachments: list[DocumentRef] = Field(default_factory=list)


class ContributionCancelInput(StepInput):
    contribution_id: str
    reason: str


class SendBackInput(StepInput):
    """Refer the case to a manager, return it to triage, or (a manager) send it on to drafting."""

    reason: str


class SubmitDraftInput(StepInput):
    note: str | None = None


class QaDecisionInput(StepInput):
    approved: bool
    reason: str | None = None


class SendResponseInput(StepInput):
    channel: ResponseChannel
    sent_on: date
    to: str | None = None  # a correspondent's id (a representative): None, the complainant


class AuthorityInput(StepInput):
    """A representative's letter of authority from the complainant, received on a day, with its document."""

    correspondent_id: str
    received_on: date
    document: DocumentRef


class HoldingResponseInput(StepInput):
    channel: Channel
    reason: str
    new_due_date: date


class OutcomeInput(StepInput):
    outcome: str
    detail: str
    redress_amount: Decimal | None = None
