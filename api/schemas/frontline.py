"""Frontline complaint handling's (F4) request and answer bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from api.schemas.base import CategoryText, CodeText, DueDate, ExternalId, Read, ShortText, Strict, Text
from api.schemas.cases import CaseRead, CorrespondentIn
from casework.kinds.frontline.contracts import CallScript, ContactChannel


class Complainant(CorrespondentIn):
    """The complainant: a name, and at least one of email, phone (or the customer's id) so a repeat
    contact finds their case."""


class ContactCreate(Strict):
    channel: ContactChannel
    issue: CategoryText = Field(description="what the complaint is about: a repeat matches on it")
    summary: Text
    complainant: Complainant
    customer: ExternalId | None = Field(None, description="external_id of the customer complaining")
    department: CodeText = Field(description="the taking agent's team (the owner's department)")
    resolution: Text | None = Field(None, description="resolved in this interaction: the case closes, "
                                    "resolved at first contact")
    improvement_idea: Text | None = None
    new_case_reason: Text | None = Field(None, description="the agent overrides repeat matching "
                                         "(e.g. 'different issue'): a new case is opened")


class ContactOutcome(Read):
    outcome: Literal["new_case", "resolved_first_contact", "repeat_contact", "repeat_of_closed_case"]
    reference: str
    owner_name: str | None
    message: str
    script: CallScript | None = Field(None, description="what to say to the complainant on this contact: the "
                                      "call script in use, filled in (also kept on the case)")
    case: CaseRead


class ResolveRequest(Strict):
    resolution: Text
    improvement_idea: Text | None = None


class InvestigateRequest(Strict):
    note: Text | None = None


class FollowUpRequest(Strict):
    satisfied: bool
    note: Text = Field(description="what the customer said")
    resolution: Text | None = Field(None, description="required when satisfied")
    next_follow_up_on: DueDate | None = Field(None, description="not satisfied: when to follow up again")
    improvement_idea: Text | None = None


class ContactRequest(Strict):
    channel: ContactChannel
    summary: Text


class RegisterRow(Read):
    reference: str
    case_owner: str | None
    department: str | None
    date_received: str
    date_followed_up: str | None
    resolved_and_followed_up: Literal["Y", "N"]
    customer_name: str
    issue: str | None
    resolution: str | None
    proposed_improvement_idea: str | None


ImprovementStatus = Literal["proposed", "discussed", "out_for_comment", "agreed", "implemented", "rejected"]


class ImprovementCreate(Strict):
    title: ShortText
    description: Text
    case_reference: CodeText | None = Field(None, description="the frontline complaint it came from")


class ImprovementStatusChange(Strict):
    status: ImprovementStatus = Field(description="where the review moved it: discussed, out_for_comment, "
                                      "agreed, implemented or rejected")
    note: Text | None = Field(None, description="the meeting's outcome; required to reject")


class ImprovementComment(Strict):
    text: Text


class ImprovementStepRead(Read):
    at: datetime
    actor: str
    kind: str
    from_status: str | None
    to_status: str
    note: str | None


class ImprovementRead(Read):
    id: str
    case_reference: str | None
    title: str
    description: str
    status: str
    proposed_by: str
    proposed_at: datetime
    steps: list[ImprovementStepRead] = []


Reviewer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320,
                                           pattern=r"^[^@\s]+@[^@\s]+$")]


class ReviewScheduleIn(Strict):
    reviewers: list[Reviewer] = Field(min_length=1, max_length=50)
    every_days: int = Field(14, ge=1, le=92, description="how often the review meets (a fortnight)")


class ReviewScheduleRead(Read):
    schedule_id: str
    reviewers: list[str]
    every_days: int


ScriptText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class ScriptChannelTexts(Strict):
    """What the agent says on a contact by one channel (Jinja placeholders: see docs/frontline.md)."""

    acknowledgement: ScriptText
    apology: ScriptText
    next_steps: ScriptText


class CallScriptUpload(Strict):
    brand: ShortText = Field(description="the brand the agent speaks for (plain text)")
    follow_up: ScriptText = Field(description="the follow-up call script")
    phone: ScriptChannelTexts
    live_chat: ScriptChannelTexts
    email: ScriptChannelTexts
    case_type: CodeText | None = Field(None, description="only for this case type; null for all")
    note: Text | None = None


class CallScriptTemplateRead(Read):
    source: Literal["library", "shipped"]
    description: str
    version_id: str | None
    version: int | None
    case_type: str | None
    note: str | None
    uploaded_by: str | None
    uploaded_at: datetime | None
    brand: str
    follow_up: str
    phone: dict[str, str]
    live_chat: dict[str, str]
    email: dict[str, str]
    placeholders: list[str]
