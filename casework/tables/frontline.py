"""Frontline complaints' tables. Their contacts and follow-ups are few and read with the case, so
they live in the core row's `details` (FrontlineState.kind_details); service improvement ideas
and their review are records of their own, beside the cases (api/routes/frontline/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from casework.cases import limits
from casework.platform.db import Base


class ServiceImprovement(Base):
    """An improvement idea, from a complaint or on its own, on its way through the fortnightly
    senior-management review: proposed → discussed → out_for_comment → agreed → implemented, or
    rejected with a reason."""

    __tablename__ = "service_improvement"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str | None] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(limits.NAME))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ServiceImprovementStep(Base):
    """Append-only: each review outcome, status change and comment, with who and why."""

    __tablename__ = "service_improvement_step"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    improvement_id: Mapped[str] = mapped_column(ForeignKey("service_improvement.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # status | comment
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
