"""Customer complaints' (F3) request bodies: registration (directly or from an invoice) and the
kind's own steps. Money is a decimal string in its ISO 4217 currency, never a JSON number."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from api.schemas.base import CategoryText, CodeText, ExternalId, PastDate, Read, ShortText, Strict, Text, UploadIds
from api.schemas.parties import Currency, Money, _in_currency
from casework.cases.contracts import Channel


class PartyIn(Strict):
    customer: ExternalId = Field(description="a further partner (customer record) the complaint concerns")
    contact_persons: list[ShortText] = Field(default_factory=list, max_length=20,
                                             description="names or external ids of that partner's contacts")


class ComplaintCommon(Strict):
    case_type: CodeText = "CUST"
    working_name: ShortText | None = None
    issued_on: PastDate | None = Field(None, description="the complaint's date of issue (today if left out)")
    description: Text
    reason: CodeText = Field(description="a code on the customer_complaint_reasons list (GET /lists/"
                             "customer_complaint_reasons)")
    new_reason_label: CategoryText | None = Field(
        None, description="add `reason` to the list with this label if it is not there yet (needs the "
        "customer_complaint.create_reason permission)")
    attachment_ids: UploadIds = Field(default_factory=list)
    parties: list[PartyIn] = Field(default_factory=list, max_length=20)
    company: ShortText | None = Field(None, description="the company (legal entity) the adjustment is booked in")


class CustomerComplaintCreate(ComplaintCommon):
    customer: ExternalId
    working_name: ShortText  # required here
    sales_adjustment_required: bool = False
    counterparty: ExternalId | None = None
    contract: ExternalId | None = None
    currency: Currency | None = None
    amount: Money | None = Field(None, description="the amount claimed, a decimal string such as \"150.00\"")
    invoice: ExternalId | None = Field(None, description="the invoice claimed against (its claims are capped "
                                       "at its total)")

    _amount_in_currency = field_validator("amount")(_in_currency)


class FromInvoiceCreate(ComplaintCommon):
    amount: Money | None = Field(None, description="the amount claimed (the invoice's total if left out)")


class PlanRequest(Strict):
    comment: Text | None = None


class ReviewRequest(Strict):
    text: Text


class DecideRequest(Strict):
    outcome: Literal["accepted", "partly_accepted", "rejected"]
    amount: Money | None = Field(None, description="for partly_accepted: the amount accepted")
    feedback: Text | None = Field(None, description="for the customer (required to reject)")
    channel: Channel | None = Field(None, description="email: the feedback goes to the customer by email "
                                    "from the complaint_decision template; null: recorded only")


class FulfilRequest(Strict):
    end_date: PastDate | None = Field(None, description="today if left out")


class AdjustmentRead(Read):
    number: str
    case_reference: str
    customer: str
    contract: str
    invoice: str | None
    amount: Decimal
    currency: str
    status: str
    posted_at: date | None
