"""Customer complaints' (F3) tables: the review results (a collection of the case), the amount
claimed against an invoice (one row per complaint, capped by the invoice's total in PostgreSQL)
and the sales adjustments posting makes (one posted per complaint)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from casework.cases import limits
from casework.cases.collections import Collection, register_collections
from casework.parties.models import CURRENCY, EXTERNAL_ID, MONEY
from casework.platform.db import Base, table_of
from casework.reference_lists import declare_list

# The reasons a complaint picks from, maintained by administrators (GET /lists/customer_complaint_reasons).
REASONS = declare_list("customer_complaint_reasons", "customer complaint reasons")


class ComplaintReview(Base):
    """One version of a customer complaint's review results (CustomerComplaintState.reviews)."""

    __tablename__ = "customer_complaint_review"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str] = mapped_column(ForeignKey("case_record.reference"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_by_id: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InvoiceClaim(Base):
    """The amount a complaint claims against an invoice. A trigger (migration 0018) locks the
    invoice's row and refuses a claim that would take the claims on it past its total, so two
    complaints filed at the same moment cannot both fit."""

    __tablename__ = "customer_complaint_claim"
    case_reference: Mapped[str] = mapped_column(String(limits.REFERENCE), primary_key=True)
    invoice: Mapped[str] = mapped_column(ForeignKey("invoice.external_id", name="fk_claim_invoice"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(CURRENCY))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_customer_complaint_claim_invoice", "invoice"),)


class SalesAdjustment(Base):
    """A credit-note-like record posting a complaint's accepted adjustment: drafted, then posted,
    or voided when a later step of posting fails. At most one posted per complaint."""

    __tablename__ = "sales_adjustment"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    business_key: Mapped[str] = mapped_column(String(200), unique=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    case_reference: Mapped[str] = mapped_column(String(limits.REFERENCE), index=True)
    customer: Mapped[str] = mapped_column(String(EXTERNAL_ID))
    contract: Mapped[str] = mapped_column(String(EXTERNAL_ID))
    invoice: Mapped[str | None] = mapped_column(String(EXTERNAL_ID))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(CURRENCY))
    status: Mapped[str] = mapped_column(String(10))  # draft | posted | voided
    drafted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    posted_by: Mapped[str] = mapped_column(String(200))
    void_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("uq_sales_adjustment_posted", "case_reference", unique=True,
              postgresql_where=text("status = 'posted'")),
    )


register_collections("customer_complaint", {"reviews": Collection(table_of(ComplaintReview), "version")})
