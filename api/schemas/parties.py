"""Records synced from the systems of record (customers, partners, lead groups, leads, contracts,
invoices), the lead ledger and the activity history. A sync body is the whole record (PUT):
a field left out is emptied. References to other records are by their external_id."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from api.schemas.base import CodeText, ExternalId, Read, ShortText, Strict, Text
from api.schemas.cases import EMAIL
from casework.cases import limits
from casework.parties.money import amount_refusal, currency_refusal, in_minor_units


def _email(value: str) -> str:
    if not EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


def _currency(value: str) -> str:
    refusal = currency_refusal(value)
    if refusal is not None:
        raise ValueError(refusal)
    return value


Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=limits.EMAIL), AfterValidator(_email)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=limits.PHONE)]
Postcode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=limits.POSTCODE)]
AddressLine = Annotated[str, StringConstraints(strip_whitespace=True, max_length=limits.ADDRESS_LINE)]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3, max_length=3),
                     AfterValidator(_currency)]
def _no_float(value: Any) -> Any:
    if isinstance(value, float):  # json.loads has already rounded it to binary
        raise ValueError('write an amount as a decimal string, e.g. "150.00": a JSON number may lose digits')
    return value


# Up to 15 digits before the point and 4 after (the columns'); the currency's own minor units are
# checked against the currency given with it.
Money = Annotated[Decimal, Field(max_digits=19, decimal_places=4, allow_inf_nan=False), BeforeValidator(_no_float)]


def _in_currency(amount: Decimal | None, info: ValidationInfo) -> Decimal | None:
    currency = info.data.get("currency")  # absent when the currency itself was refused
    if amount is not None and currency:
        refusal = amount_refusal(amount, currency)
        if refusal is not None:
            raise ValueError(refusal)
    return amount


class AddressIn(Strict):
    label: CodeText | None = Field(None, description="e.g. billing, delivery")
    lines: list[AddressLine] = Field(default_factory=list, max_length=8)
    postcode: Postcode | None = None
    country: CodeText | None = None


class ContactIn(Strict):
    external_id: ExternalId | None = None
    name: ShortText
    role: CodeText | None = None
    email: Email | None = None
    phone: Phone | None = None


class CustomerSync(Strict):
    kind: Literal["organisation", "person"]
    name: ShortText
    email: Email | None = None
    phone: Phone | None = None
    addresses: list[AddressIn] = Field(default_factory=list, max_length=10)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=50, description="contact persons")


class PartnerSync(Strict):
    name: ShortText
    email: Email | None = None
    phone: Phone | None = None
    is_introducer: bool = False
    is_referral_partner: bool = Field(False, validate_default=True)

    @field_validator("is_referral_partner")
    @classmethod
    def _a_role(cls, value: bool, info: ValidationInfo) -> bool:
        if not value and not info.data.get("is_introducer"):
            raise ValueError("a partner is an introducer, a referral partner or both")
        return value


class LeadGroupSync(Strict):
    name: ShortText
    description: Text | None = None


class LeadSync(Strict):
    name: ShortText
    email: Email | None = None
    phone: Phone | None = None
    address_lines: list[AddressLine] = Field(default_factory=list, max_length=8)
    postcode: Postcode | None = None
    lead_group: ExternalId | None = None
    introducer: ExternalId | None = Field(None, description="external_id of the introducing partner")
    referral_partner: ExternalId | None = Field(None, description="external_id of the partner referred to")
    status: CodeText = Field(description="a change appends to the lead's status history")
    referred_at: AwareDatetime | None = None
    billing_point: CodeText | None = Field(None, description="the event the lead is billed at, e.g. referral")


class ContractSync(Strict):
    customer: ExternalId
    number: ExternalId
    currency: Currency
    starts_on: date
    ends_on: date | None = None

    @field_validator("ends_on")
    @classmethod
    def _after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        starts = info.data.get("starts_on")
        if value is not None and starts is not None and value < starts:
            raise ValueError(f"ends before the contract starts ({starts})")
        return value


class InvoiceLineIn(Strict):
    description: Text
    quantity: Annotated[Decimal, Field(max_digits=12, decimal_places=4, allow_inf_nan=False)] = Decimal(1)
    unit_price: Money | None = None
    amount: Money


class InvoiceSync(Strict):
    number: ExternalId
    customer: ExternalId
    contract: ExternalId | None = None
    issued_on: date
    due_on: date | None = None
    currency: Currency
    total: Money
    lines: list[InvoiceLineIn] = Field(default_factory=list, max_length=500)

    _total_in_currency = field_validator("total")(_in_currency)

    @field_validator("lines")
    @classmethod
    def _add_up(cls, lines: list[InvoiceLineIn], info: ValidationInfo) -> list[InvoiceLineIn]:
        currency, total = info.data.get("currency"), info.data.get("total")
        for line in lines:
            if currency:
                refusal = amount_refusal(line.amount, currency)
                if refusal is not None:
                    raise ValueError(refusal)
        if lines and total is not None and sum(line.amount for line in lines) != total:
            raise ValueError(f"the lines add up to {sum(line.amount for line in lines)}, the total is {total}")
        return lines

    def columns(self) -> dict[str, Any]:
        return {**self.model_dump(exclude={"lines"}), "lines": [line.model_dump(mode="json") for line in self.lines]}


class TransactionPost(Strict):
    partner: ExternalId = Field(description="external_id of the partner the fee or commission is with")
    kind: CodeText = Field(description="e.g. referral_fee, introducer_commission")
    currency: Currency
    amount: Money = Field(description="a decimal string, e.g. \"150.00\"; not zero")
    note: Text | None = None

    _amount_in_currency = field_validator("amount")(_in_currency)

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("must not be zero")
        return value


class TransactionReverse(Strict):
    reason: Text


# ---- reads ----------------------------------------------------------------------------------


class Synced(Read):
    external_id: str
    created_at: datetime
    updated_at: datetime
    synced_by: str


class CustomerRead(Synced):
    kind: str
    name: str
    email: str | None
    phone: str | None
    addresses: list[dict[str, Any]]
    contacts: list[dict[str, Any]]


class PartnerRead(Synced):
    name: str
    email: str | None
    phone: str | None
    is_introducer: bool
    is_referral_partner: bool


class LeadGroupRead(Synced):
    name: str
    description: str | None


class LeadListItem(Synced):
    name: str
    email: str | None
    phone: str | None
    address_lines: list[str]
    postcode: str | None
    lead_group: str | None
    introducer: str | None
    referral_partner: str | None
    status: str
    referred_at: datetime | None
    billing_point: str | None


class StatusChangeRead(Read):
    from_status: str | None
    to_status: str
    changed_at: datetime
    changed_by: str


class InCurrency(Read):
    """A read holding an amount in a currency: the amount is shown with the currency's decimal
    places (1250.00 GBP, 1250 JPY), not the column's four."""

    AMOUNT: ClassVar[str] = "amount"
    currency: str

    @model_validator(mode="after")
    def _minor_units(self) -> "InCurrency":
        setattr(self, self.AMOUNT, in_minor_units(getattr(self, self.AMOUNT), self.currency))
        return self


class Balance(InCurrency):
    currency: str
    amount: Decimal


class LeadRead(LeadListItem):
    status_history: list[StatusChangeRead]
    balances: list[Balance] = Field(description="per currency; amounts in different currencies are never summed")


class ContractRead(Synced):
    customer: str
    number: str
    currency: str
    starts_on: date
    ends_on: date | None


class InvoiceRead(Synced, InCurrency):
    AMOUNT: ClassVar[str] = "total"
    number: str
    customer: str
    contract: str | None
    issued_on: date
    due_on: date | None
    total: Decimal
    currency: str
    lines: list[dict[str, Any]]


class TransactionRead(InCurrency):
    id: str
    lead: str
    partner: str
    kind: str
    amount: Decimal
    currency: str
    note: str | None
    reverses: str | None
    reversed_by: str | None = None
    posted_at: datetime
    posted_by: str


class LedgerRead(Read):
    balances: list[Balance]
    transactions: list[TransactionRead]


class ImportRowResult(Read):
    row: int = Field(description="the data row's number: 1 is the first after a CSV's header, or the first line")
    external_id: str | None
    result: Literal["created", "updated", "error"]
    field: str | None = None
    message: str | None = None


class ImportResult(Read):
    record_type: str
    created: int
    updated: int
    errors: int
    rows: list[ImportRowResult]


class CaseLink(Read):
    reference: str
    path: str


class ActivityRead(Read):
    occurred_at: datetime
    who: str
    kind: str
    what: str
    reason: str | None = None
    case: CaseLink | None = Field(None, description="the case the event happened on, if any")
