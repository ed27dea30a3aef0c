"""Lead returns' bodies (F5): the settings, a request to return a lead, the decision."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.base import CodeText, ExternalId, ShortText, Strict, Text

Codes = Annotated[list[CodeText], Field(max_length=100)]


class ReturnSettingsFields(BaseModel):
    """The settings of one scope (global, or a lead group): a field left out or null is not set
    here (a lead group's falls back to the global one, the global one to the default)."""

    enabled: bool | None = None
    partners_may_start: bool | None = None
    reasons: Codes | None = Field(None, description="codes of the return reasons list allowed here; "
                                  "null: every active reason")
    allow_other: bool | None = Field(None, description="allow 'other' with the requester's own words")
    notify_user: ShortText | None = Field(None, description="the username told of new returns (a task)")
    email_introducer: bool | None = None
    email_partner: bool | None = None
    window_days: int | None = Field(None, ge=0, le=3650, description="days from referral; 0: unlimited")
    cap_count: int | None = Field(None, ge=0, le=100000, description="returns accepted per partner per "
                                  "calendar month; 0: no cap")
    cap_percent: Decimal | None = Field(None, ge=0, le=100, max_digits=5, decimal_places=2,
                                        description="as a percentage of the leads referred that month; 0: none")
    auto_accept_reasons: Codes | None = None
    auto_accept_hours: int | None = Field(None, ge=0, le=8760, description="accept these reasons "
                                          "automatically after this many hours; 0: never")
    replacements: bool | None = Field(None, description="a decider may accept a return with a replacement "
                                      "lead owed to the partner")


class ReturnSettingsWrite(Strict, ReturnSettingsFields):
    pass


class ReturnSettingsRead(ReturnSettingsFields):
    scope: str
    updated_by: str
    updated_at: datetime


class EffectiveSettingsRead(BaseModel):
    lead: str
    lead_group: str | None
    settings: dict[str, object]
    sources: dict[str, str] = Field(description="each field: lead_group:<id>, global or default")


class ReturnRequest(Strict):
    reason: CodeText = Field(description="a code of the return reasons list, or 'other'")
    other_reason: Text | None = Field(None, description="the requester's own words (reason 'other' only)")


class UnreferRequest(Strict):
    """What accepting does besides the reversals (a decision, or unreferring a lead)."""

    notes: Text | None = None
    email_introducer: bool | None = Field(None, description="null: the settings' default")
    email_partner: bool | None = Field(None, description="null: the settings' default")
    reverse_transactions: bool = True
    lead_status: CodeText | None = Field(None, description="set the lead to this status (accepting only)")


class DecideRequest(UnreferRequest):
    decision: Annotated[str, StringConstraints(pattern="^(accept|decline)$")]
    replacement: bool = Field(False, description="accepting: the partner is owed a replacement lead (where the "
                              "lead group offers replacements); with reverse_transactions false, instead of a refund")


class ReplacementRequest(Strict):
    lead_id: ExternalId = Field(description="the replacement lead: of the returned lead's group, referred to "
                                "the same partner")


class ReturnSummary(BaseModel):
    reference: str
    lead: str
    partner: str
    reason: str
    reason_text: str
    return_status: str
    colour: str
    requested_on: date
    decided_on: date | None = None
    decision_notes: str | None = None
    remedy: str | None = Field(None, description="accepted: refund, replacement, refund_and_replacement or none")
    replacement_lead: str | None = Field(None, description="the replacement lead sent, once sent")


class ReturnCounts(BaseModel):
    partner: str
    returns: int
    open: int
    declined: int
    accepted: int


class PartnerReturns(ReturnCounts):
    leads_referred: int = Field(description="leads referred to the partner in the dates (by referred_at)")
    return_rate_percent: Decimal | None = Field(description="returns accepted per 100 leads referred; "
                                                "null when none were referred")


class ReasonReturns(ReturnCounts):
    reason: str


class ReturnStatistics(BaseModel):
    since: date
    until: date
    by_partner: list[PartnerReturns]
    by_partner_and_reason: list[ReasonReturns]
