"""Customer complaints' (F3) payloads: the state, the start and one small input per step.

New fields always get defaults: recorded histories hold these payloads."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from casework.cases.contracts import CaseCore, CaseStartCore, Channel, StepInput, register_state

KIND = "customer_complaint"


class SalesAdjustmentClaim(BaseModel):
    """What the customer claims back (the seed's accounting tab): all required when an adjustment is."""

    company: str
    counterparty: str  # the customer's external id who issues the claim
    contract: str  # a contract of the customer (external id)
    amount: Decimal  # > 0, in the currency's minor units
    currency: str  # ISO 4217
    invoice: str | None = None  # the invoice it was raised from, if any


class Review(BaseModel):
    """One version of the review results: decisions, actions performed, results, customer feedback."""

    id: str
    version: int
    text: str
    recorded_by: str
    recorded_by_id: int | None = None
    recorded_at: datetime


class Decision(BaseModel):
    outcome: Literal["accepted", "partly_accepted", "rejected"]
    amount: Decimal | None = None  # accepted amount, in the claim's currency
    currency: str | None = None
    feedback: str | None = None
    decided_by: str
    decided_at: datetime


class Adjustment(BaseModel):
    """The sales adjustment record posting made (or the draft it voided)."""

    id: str
    number: str
    status: str  # posted | voided
    amount: Decimal
    currency: str
    posted_at: datetime | None = None
    void_reason: str | None = None


class CustomerComplaintState(CaseCore):
    kind: Literal["customer_complaint"] = "customer_complaint"
    customer: str
    working_name: str
    issued_on: date
    description: str
    reason: str
    claim: SalesAdjustmentClaim | None = None
    plan_comment: str | None = None
    reviews: list[Review] = Field(default_factory=list)
    decision: Decision | None = None
    end_date: date | None = None
    adjustment: Adjustment | None = None
    post_attempts: int = 0

    COLLECTIONS: ClassVar[tuple[str, ...]] = (*CaseCore.COLLECTIONS, "reviews")

    @property
    def date_received(self) -> date:
        return self.issued_on

    def kind_details(self) -> dict[str, Any]:
        claim = self.claim.model_dump(mode="json") if self.claim else None
        return {
            "customer": self.customer, "working_name": self.working_name, "issued_on": self.issued_on.isoformat(),
            "description": self.description, "reason": self.reason,
            "sales_adjustment_required": self.claim is not None, "claim": claim,
            "invoice": self.claim.invoice if self.claim else None,
            "plan_comment": self.plan_comment,
            "decision": self.decision.model_dump(mode="json") if self.decision else None,
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "adjustment": self.adjustment.model_dump(mode="json") if self.adjustment else None,
        }

    def letter_fields(self) -> dict[str, str | None]:
        return {"category": self.reason, "description": self.description, "channel": None}


register_state(CustomerComplaintState)


class CustomerComplaintStart(CaseStartCore):
    customer: str
    working_name: str
    issued_on: date
    description: str
    reason: str
    claim: SalesAdjustmentClaim | None = None
    carried_state: CustomerComplaintState | None = None


class PlanInput(StepInput):
    comment: str | None = None


class ReviewInput(StepInput):
    text: str


class DecideInput(StepInput):
    outcome: Literal["accepted", "partly_accepted", "rejected"]
    amount: Decimal | None = None
    feedback: str | None = None
    channel: Channel | None = None  # how the feedback goes to the customer (None: recorded only)
    above_limit: bool = False  # the API found the amount above the decision limit for its currency


class FulfilInput(StepInput):
    end_date: date


class PostInput(StepInput):
    pass


class DraftAdjustmentJob(BaseModel):
    """Posting's first step: the draft adjustment, keyed by (case, attempt) so a retry finds it."""

    business_key: str
    case_reference: str
    customer: str
    contract: str
    invoice: str | None
    amount: Decimal
    currency: str
    posted_by: str


class PostAdjustmentResult(BaseModel):
    id: str
    number: str
    status: str
    posted_at: datetime | None = None
    refusal: str | None = None  # why the posting was refused (the draft is to be voided)


class VoidAdjustmentJob(BaseModel):
    id: str
    reason: str
