"""Lead returns' payloads: the state of one return, its start, its decision and the saga's jobs.

New fields always get defaults: recorded histories hold these payloads.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from casework.cases.contracts import CaseCore, CaseStartCore, StepInput, register_state

KIND = "lead_return"
OTHER = "other"  # the reason code of a reason in the requester's own words
UNREFER = "unrefer"  # the reason code of a lead taken back without a return request
REPLACEMENT_DAYS = 7  # the replacement task is due this many days after the return is accepted


class ReturnStatus(StrEnum):
    OPEN = "open"
    DECLINED = "declined"
    ACCEPTED = "accepted"


# What partners see next to a lead's progress (the seed's coloured square).
STATUS_COLOURS = {ReturnStatus.OPEN: "orange", ReturnStatus.DECLINED: "red", ReturnStatus.ACCEPTED: "green"}


class ReturnCap(BaseModel):
    """Returns accepted per referral partner per calendar month: a count, or a percentage of the
    leads referred to them that month."""

    count: int | None = None
    percent: Decimal | None = None


class ReversalPosted(BaseModel):
    id: str
    reverses: str
    kind: str
    amount: Decimal
    currency: str


class Replacement(BaseModel):
    """A replacement lead owed to the partner for an accepted return, and the lead sent."""

    owed_on: date
    lead_id: str | None = None  # the replacement lead, once sent
    sent_on: date | None = None
    sent_by: str | None = None


class LeadReturnState(CaseCore):
    kind: Literal["lead_return"] = "lead_return"
    lead_id: str
    lead_name: str
    lead_group: str | None = None
    partner: str  # the referral partner returning the lead
    introducer: str | None = None
    reason: str  # a code of the return reasons list, or OTHER
    reason_text: str  # the reason's label, or the requester's own words
    requested_on: date
    requested_by_partner: bool = False
    return_status: ReturnStatus = ReturnStatus.OPEN
    decided_on: date | None = None
    decided_by: str | None = None
    decision_notes: str | None = None
    reversals: list[ReversalPosted] = Field(default_factory=list)
    lead_status_set: str | None = None
    # From the effective settings when the return was asked for.
    email_introducer_default: bool = True
    email_partner_default: bool = True
    auto_accept_at: datetime | None = None
    cap: ReturnCap | None = None
    # What the accept saga did, step by step (and what it undid when a step failed for good).
    saga_log: list[str] = Field(default_factory=list)
    # What the partner gets for an accepted return: its transactions reversed (a refund), a
    # replacement lead, both, or neither. None before acceptance (and on returns accepted before
    # replacements existed, whose refund is `reversals`).
    refunded: bool | None = None
    replacement: Replacement | None = None

    @property
    def remedy(self) -> str | None:
        if self.return_status is not ReturnStatus.ACCEPTED:
            return None
        refund = self.refunded if self.refunded is not None else bool(self.reversals)
        if self.replacement is not None:
            return "refund_and_replacement" if refund else "replacement"
        return "refund" if refund else "none"

    @property
    def date_received(self) -> date:
        return self.requested_on

    def category_code(self) -> str:
        return self.reason  # the return reason's code (or "other")

    def letter_fields(self) -> dict[str, str | None]:
        return {"category": "lead return", "description": self.reason_text, "channel": None}

    def kind_details(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id, "lead_group": self.lead_group, "partner": self.partner,
            "introducer": self.introducer, "reason": self.reason, "reason_text": self.reason_text,
            "requested_on": self.requested_on.isoformat(), "requested_by_partner": self.requested_by_partner,
            "return_status": self.return_status.value, "colour": STATUS_COLOURS[self.return_status],
            "decided_on": self.decided_on.isoformat() if self.decided_on else None,
            "decided_by": self.decided_by, "decision_notes": self.decision_notes,
            "reversals": [r.model_dump(mode="json") for r in self.reversals],
            "lead_status_set": self.lead_status_set,
            "auto_accept_at": self.auto_accept_at.isoformat() if self.auto_accept_at else None,
            "saga_log": self.saga_log, "remedy": self.remedy,
            "replacement": self.replacement.model_dump(mode="json") if self.replacement else None,
            "replacement_lead": self.replacement.lead_id if self.replacement else None,
        }


register_state(LeadReturnState)


class LeadReturnStart(CaseStartCore):
    lead_id: str
    lead_name: str
    lead_group: str | None = None
    partner: str
    introducer: str | None = None
    reason: str
    reason_text: str
    requested_on: date
    requested_by_partner: bool = False
    email_introducer_default: bool = True
    email_partner_default: bool = True
    auto_accept_at: datetime | None = None
    cap: ReturnCap | None = None
    # `team` (the core's) and the assignee: who is told, the notified user in their team
    assignee_id: int | None = None
    assignee_name: str | None = None
    carried_state: LeadReturnState | None = None


class DecideInput(StepInput):
    accept: bool
    notes: str | None = None
    email_introducer: bool | None = None  # None: the settings' default
    email_partner: bool | None = None
    reverse_transactions: bool = True
    lead_status: str | None = None  # the status to set the lead to (accepting); None: leave it
    replacement: bool = False  # accepting: the partner is owed a replacement lead


class ReplacementInput(StepInput):
    lead_id: str  # the lead sent to the partner in place of the returned one


# ---- the accept saga's activities -----------------------------------------------------------

class CapClaim(BaseModel):
    reference: str
    partner: str
    lead_id: str
    month: date  # the first day of the calendar month the acceptance counts in
    cap: ReturnCap | None = None


class LeadReset(BaseModel):
    """Set the lead's status (None: leave it) and reset its billing point, so it can be referred
    and billed again. `restore` undoes a reset (the compensation)."""

    reference: str
    lead_id: str
    status: str | None
    who: str
    who_id: int | None = None
    restore: LeadSnapshot | None = None


class LeadSnapshot(BaseModel):
    status: str
    billing_point: str | None = None
    referred_at: datetime | None = None


class ReversalJob(BaseModel):
    reference: str
    lead_id: str
    reason: str
    who: str
    who_id: int | None = None


class ReplacementJob(BaseModel):
    """Link a replacement lead to its return: a lead of the returned lead's group, referred to
    the same partner, replacing no other return."""

    reference: str
    returned_lead: str
    lead_group: str | None
    partner: str
    lead_id: str
    who: str


LeadReset.model_rebuild()
