"""Frontline complaint handling's payloads: its state, its start and one small input per step.

New fields always get defaults: recorded histories hold these payloads.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from casework.cases.contracts import CaseCore, CaseStartCore, StepInput, register_state

KIND = "frontline"


class ContactChannel(StrEnum):
    PHONE = "phone"
    LIVE_CHAT = "live_chat"
    EMAIL = "email"


class CallScript(BaseModel):
    """What the agent says on a contact, rendered with the case's values from the call script
    template in use when the contact was taken (casework/documents/call_scripts.py). Kept on the
    case: a later version of the template changes what new contacts hear, not this."""

    channel: ContactChannel
    acknowledgement: str
    apology: str
    next_steps: str
    template: str  # which version, in words: "frontline_script v2 for all case types"
    template_version_id: str | None = None  # None: the shipped default


class Contact(BaseModel):
    """One contact from the complainant: the first, and every repeat routed to this case."""

    id: str
    channel: ContactChannel
    received_at: datetime
    summary: str
    taken_by: str
    taken_by_id: int | None = None
    repeat: bool = False
    message_id: str | None = None  # an email's Message-ID (inbound mail)
    script: CallScript | None = None  # what the agent was given to say on this contact


class FollowUp(BaseModel):
    """A follow-up call made: when, whether the customer is satisfied, what was said."""

    id: str
    followed_up_on: date
    satisfied: bool
    note: str
    by: str
    by_id: int | None = None


class Person(BaseModel):
    id: int
    name: str


class FrontlineState(CaseCore):
    """A frontline complaint: who owns it (the agent who took it) and in which department, what it
    is about, the contacts, the resolution and the follow-ups. The register row is a function of it."""

    kind: Literal["frontline"] = "frontline"
    channel: ContactChannel
    issue: str
    summary: str
    received_on: date
    owner: Person | None = None  # None: an inbound email nobody has claimed yet
    department: str  # the owner's team
    team_lead: Person | None = None  # who a missed same-day follow-up escalates to
    brand: str = ""
    script: str = ""  # the follow-up call script, with [AGENT NAME] to fill in (older cases: [BRAND] too)
    identities: list[str] = Field(default_factory=list)  # normalised email:/phone:/customer: keys
    contacts: list[Contact] = Field(default_factory=list)
    repeat_of: str | None = None  # a case of this complainant closed within the repeat window
    new_case_reason: str | None = None  # why the agent did not route it to an earlier case
    resolution: str | None = None
    resolved_on: date | None = None
    resolved_first_contact: bool = False
    summary_resolution_due: bool = False  # FCA DISP: resolved by the end of the third business day
    follow_ups: list[FollowUp] = Field(default_factory=list)
    improvement_idea: str | None = None
    escalations: int = 0  # same-day follow-ups missed and escalated to the team lead
    call_script: CallScript | None = None  # what the complainant was told when the case was opened

    @property
    def date_received(self) -> date:
        return self.received_on

    @property
    def followed_up_on(self) -> date | None:
        return self.follow_ups[-1].followed_up_on if self.follow_ups else None

    @property
    def resolved_and_followed_up(self) -> bool:
        """The register's Y/N: resolved at first contact, or resolved and followed up with a
        satisfied customer. Derived from the steps taken, never typed in."""
        if self.resolution is None:
            return False
        return self.resolved_first_contact or any(f.satisfied for f in self.follow_ups)

    def letter_fields(self) -> dict[str, str | None]:
        return {"category": self.issue, "description": self.summary, "channel": self.channel.value}

    def kind_details(self) -> dict[str, Any]:
        return {
            "channel": self.channel.value, "issue": self.issue, "issue_key": self.issue.casefold(),
            "summary": self.summary, "received_on": self.received_on.isoformat(),
            "owner_id": self.owner.id if self.owner else None,
            "owner_name": self.owner.name if self.owner else None,
            "department": self.department, "identities": self.identities,
            "contacts": [c.model_dump(mode="json") for c in self.contacts],
            "repeat_contacts": sum(1 for c in self.contacts if c.repeat),
            "repeat_of": self.repeat_of, "new_case_reason": self.new_case_reason,
            "resolution": self.resolution,
            "resolved_on": self.resolved_on.isoformat() if self.resolved_on else None,
            "resolved_first_contact": self.resolved_first_contact,
            "summary_resolution_due": self.summary_resolution_due,
            "follow_ups": [f.model_dump(mode="json") for f in self.follow_ups],
            "followed_up_on": self.followed_up_on.isoformat() if self.followed_up_on else None,
            "resolved_and_followed_up": "Y" if self.resolved_and_followed_up else "N",
            "improvement_idea": self.improvement_idea,
            "escalations": self.escalations,
            "call_script": self.call_script.model_dump(mode="json") if self.call_script else None,
        }


register_state(FrontlineState)


class FrontlineStart(CaseStartCore):
    channel: ContactChannel
    issue: str
    summary: str
    received_on: date
    owner: Person | None = None
    department: str
    team_lead: Person | None = None
    brand: str = ""
    script: str = ""
    identities: list[str] = Field(default_factory=list)
    repeat_of: str | None = None
    new_case_reason: str | None = None
    message_id: str | None = None
    # Resolved in the same interaction: the case registers closed, resolved at first contact.
    resolution: str | None = None
    improvement_idea: str | None = None
    fca: bool = False  # the case type follows the FCA preset (summary resolution communications)
    call_script: CallScript | None = None
    carried_state: FrontlineState | None = None


class ContactInput(StepInput):
    channel: ContactChannel
    summary: str
    message_id: str | None = None
    script: CallScript | None = None


class ResolveInput(StepInput):
    resolution: str
    improvement_idea: str | None = None


class InvestigateInput(StepInput):
    note: str | None = None
    day_ends_at: time = time(17, 30)  # the owner's working day ends then (local time): the follow-up is due


class FollowUpInput(StepInput):
    satisfied: bool
    note: str
    resolution: str | None = None  # required when satisfied
    next_follow_up_on: date | None = None  # not satisfied: when to follow up again
    improvement_idea: str | None = None


class ClaimInput(StepInput):
    pass


FOLLOW_UP_SOURCE = "follow_up"  # the source of every follow-up task (finished by the follow-up step)
REPEAT_SOURCE = "repeat_contact"  # the source of a repeat contact's task for the owner


# ---- the fortnightly service improvement review ----------------------------------------------


class AgendaRequest(BaseModel):
    """What the review's Temporal Schedule starts each run with."""

    reviewers: list[str]
    every_days: int = 14


class AgendaJob(BaseModel):
    run_key: str  # the run's workflow id: the email's outbox key
    reviewers: list[str]
    since: datetime  # the previous review: complaints counted from then


class AgendaResult(BaseModel):
    sent: bool
    message_id: str | None = None
    new_ideas: int = 0
    awaiting_decision: int = 0
    reason: str | None = None
