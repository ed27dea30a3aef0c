"""The values of every reference list, one table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from casework.cases import limits
from casework.platform.db import Base


class ReferenceValue(Base):
    __tablename__ = "reference_value"
    list_name: Mapped[str] = mapped_column(String(60), primary_key=True)
    code: Mapped[str] = mapped_column(String(limits.CATEGORY), primary_key=True)  # a category is a code
    label: Mapped[str] = mapped_column(String(limits.CATEGORY))
    parent_code: Mapped[str | None] = mapped_column(String(limits.CATEGORY))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A list whose values carry a target (ListSpec.targets): cases filed with this value are due
    # within this many working days; None: the case type's deadline policy applies.
    target_working_days: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_reference_value_list_active", "list_name", "active", "position"),)
