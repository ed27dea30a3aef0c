"""The records a case can be about, as PostgreSQL tables (created by migration 0011).

Every record's primary key is its `external_id`, the id the CRM or ERP that owns it gives it;
references between records are foreign keys on those ids, so an upsert naming an unknown
record fails in the database (and the API answers 422 naming the field, see `records.py`).
The ledger and the lead status history are append-only: a trigger refuses UPDATE and DELETE."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from casework.cases import limits
from casework.platform.db import Base

EXTERNAL_ID = limits.EXTERNAL_REFERENCE
# Amounts: up to 15 digits before the point and 4 after (ISO 4217's largest minor unit, CLF's).
MONEY = Numeric(19, 4)
CURRENCY = 3


def _fk(target: str, name: str) -> ForeignKey:
    return ForeignKey(f"{target}.external_id", name=name)


class _Synced:
    """When a record was first and last synced, and by whom."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    synced_by: Mapped[str] = mapped_column(String(limits.NAME))


def _trigram(table: str, column: str) -> Index:
    return Index(f"ix_{table}_{column}_trgm", column, postgresql_using="gin",
                 postgresql_ops={column: "gin_trgm_ops"}, postgresql_with={"fastupdate": "off"})


class Customer(_Synced, Base):
    __tablename__ = "customer"
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID), primary_key=True)
    kind: Mapped[str] = mapped_column(String(limits.CODE))  # organisation | person
    name: Mapped[str] = mapped_column(String(limits.NAME))
    email: Mapped[str | None] = mapped_column(String(limits.EMAIL))
    phone: Mapped[str | None] = mapped_column(String(limits.PHONE))
    # [{"label", "lines", "postcode", "country"}] and [{"external_id", "name", "role", "email", "phone"}]
    addresses: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    contacts: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")

    __table_args__ = (_trigram("customer", "name"),)


class Partner(_Synced, Base):
    """An organisation that introduces or refers leads (or both)."""

    __tablename__ = "partner"
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(limits.NAME))
    email: Mapped[str | None] = mapped_column(String(limits.EMAIL))
    phone: Mapped[str | None] = mapped_column(String(limits.PHONE))
    is_introducer: Mapped[bool] = mapped_column(Boolean, default=False)
    is_referral_partner: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (_trigram("partner", "name"),)


class LeadGroup(_Synced, Base):
    __tablename__ = "lead_group"
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(limits.NAME))
    description: Mapped[str | None] = mapped_column(Text)


class Lead(_Synced, Base):
    __tablename__ = "lead"
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(limits.NAME))
    email: Mapped[str | None] = mapped_column(String(limits.EMAIL))
    phone: Mapped[str | None] = mapped_column(String(limits.PHONE))
    address_lines: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    postcode: Mapped[str | None] = mapped_column(String(limits.POSTCODE))
    lead_group: Mapped[str | None] = mapped_column(_fk("lead_group", "fk_lead_lead_group"))
    introducer: Mapped[str | None] = mapped_column(_fk("partner", "fk_lead_introducer"))
    referral_partner: Mapped[str | None] = mapped_column(_fk("partner", "fk_lead_referral_partner"))
    status: Mapped[str] = mapped_column(String(limits.CODE))
    # The status before the latest sync: the upsert sets it, so the same statement can append the
    # change to lead_status_change (an upsert's RETURNING sees only the new row).
    prior_status: Mapped[str | None] = mapped_column(String(limits.CODE))
    referred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    billing_point: Mapped[str | None] = mapped_column(String(limits.CODE))

    __table_args__ = (
        Index("ix_lead_lead_group", "lead_group"),
        Index("ix_lead_introducer", "introducer"),
        Index("ix_lead_referral_partner", "referral_partner"),
        Index("ix_lead_status", "status"),
        _trigram("lead", "name"),
    )


class LeadStatusChange(Base):
    """Append-only: one row per status a lead took, with who set it and when."""

    __tablename__ = "lead_status_change"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    lead: Mapped[str] = mapped_column(_fk("lead", "fk_lead_status_change_lead"))
    from_status: Mapped[str | None] = mapped_column(String(limits.CODE))
    to_status: Mapped[str] = mapped_column(String(limits.CODE))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    changed_by: Mapped[str] = mapped_column(String(limits.NAME))
    changed_by_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_lead_status_change_lead", "lead", "changed_at"),)


class Contract(_Synced, Base):
    __tablename__ = "contract"
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID), primary_key=True)
    customer: Mapped[str] = mapped_column(_fk("customer", "fk_contract_customer"))
    number: Mapped[str] = mapped_column(String(EXTERNAL_ID))
    currency: Mapped[str] = mapped_column(String(CURRENCY))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_contract_customer", "customer"),)


class Invoice(_Synced, Base):
    __tablename__ = "invoice"
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID), primary_key=True)
    number: Mapped[str] = mapped_column(String(EXTERNAL_ID))
    customer: Mapped[str] = mapped_column(_fk("customer", "fk_invoice_customer"))
    contract: Mapped[str | None] = mapped_column(_fk("contract", "fk_invoice_contract"))
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    total: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(CURRENCY))
    # [{"description", "quantity", "unit_price", "amount"}], amounts as decimal strings
    lines: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")

    __table_args__ = (Index("ix_invoice_customer", "customer"), Index("ix_invoice_contract", "contract"))


class LeadTransaction(Base):
    """Append-only: a fee or commission posted on a lead, or the reversal of one (a new row with
    the opposite amount, `reverses` naming the row it reverses; at most one per row)."""

    __tablename__ = "lead_transaction"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lead: Mapped[str] = mapped_column(_fk("lead", "fk_lead_transaction_lead"))
    partner: Mapped[str] = mapped_column(_fk("partner", "fk_lead_transaction_partner"))
    kind: Mapped[str] = mapped_column(String(limits.CODE))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(CURRENCY))
    note: Mapped[str | None] = mapped_column(Text)
    reverses: Mapped[str | None] = mapped_column(
        ForeignKey("lead_transaction.id", name="fk_lead_transaction_reverses"), unique=True)
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    posted_by: Mapped[str] = mapped_column(String(limits.NAME))
    posted_by_id: Mapped[int | None] = mapped_column(Integer)
    # The poster's Idempotency-Key: a retried post finds its row instead of adding another.
    idempotency_key: Mapped[str | None] = mapped_column(String(limits.IDEMPOTENCY_KEY))

    __table_args__ = (
        Index("ix_lead_transaction_lead", "lead", "posted_at"),
        Index("uq_lead_transaction_idempotency", "lead", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
        CheckConstraint("amount <> 0", name="ck_lead_transaction_amount"),
    )


class CaseParty(Base):
    """A record a case is about (CaseCore.parties, written by the projection): by its type and
    external id, not a foreign key, so any kind of case can name any kind of record."""

    __tablename__ = "case_party"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str] = mapped_column(ForeignKey("case_record.reference"), index=True)
    party_type: Mapped[str] = mapped_column(String(limits.CODE))  # customer | lead | ...
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID))
    role: Mapped[str] = mapped_column(String(limits.CODE))

    __table_args__ = (Index("ix_case_party_party", "party_type", "external_id"),)


class PartnerMember(Base):
    """A user who belongs to a partner organisation: they see only that partner's leads and what
    hangs off them (casework.parties.access.partner_leads)."""

    __tablename__ = "partner_member"
    partner: Mapped[str] = mapped_column(_fk("partner", "fk_partner_member_partner"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True, index=True)
