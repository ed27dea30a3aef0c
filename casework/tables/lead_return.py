"""Lead returns' own tables: the return settings (global and per lead group) and the acceptances
counted against a partner's monthly cap. A return itself is a case (case_record, kind
'lead_return'), its fields in the row's `details`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Index, Integer, Numeric, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from casework.cases import limits
from casework.cases.collections import register_collections
from casework.kinds.lead_return.settings import FIELDS, EffectiveSettings, effective
from casework.platform.db import Base
from casework.reference_lists import declare_list

GLOBAL = "*"  # the scope of the global settings; any other scope is a lead group's external id
# The global list of return reasons, kept by an administrator; a lead group may narrow it.
REASONS = declare_list("lead_return_reasons", "lead return reasons")


class LeadReturnSettings(Base):
    """One scope's return settings. A NULL column is not set here: a lead group's falls back to
    the global row's, the global row's to the built-in default."""

    __tablename__ = "lead_return_settings"
    scope: Mapped[str] = mapped_column(String(limits.EXTERNAL_REFERENCE), primary_key=True)
    enabled: Mapped[bool | None] = mapped_column(Boolean)
    partners_may_start: Mapped[bool | None] = mapped_column(Boolean)
    reasons: Mapped[list[Any] | None] = mapped_column(JSONB)  # codes of the return reasons list
    allow_other: Mapped[bool | None] = mapped_column(Boolean)
    notify_user: Mapped[str | None] = mapped_column(String(limits.NAME))  # a username
    email_introducer: Mapped[bool | None] = mapped_column(Boolean)
    email_partner: Mapped[bool | None] = mapped_column(Boolean)
    window_days: Mapped[int | None] = mapped_column(Integer)  # 0: unlimited
    cap_count: Mapped[int | None] = mapped_column(Integer)  # 0: no cap
    cap_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))  # 0: no cap
    auto_accept_reasons: Mapped[list[Any] | None] = mapped_column(JSONB)
    auto_accept_hours: Mapped[int | None] = mapped_column(Integer)  # 0: never
    updated_by: Mapped[str] = mapped_column(String(limits.NAME))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LeadReturnAcceptance(Base):
    """A return accepted, counted against its partner's cap for the month (written under a
    per-partner lock, so two acceptances at once cannot both slip under it)."""

    __tablename__ = "lead_return_acceptance"
    reference: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner: Mapped[str] = mapped_column(String(limits.EXTERNAL_REFERENCE))
    lead: Mapped[str] = mapped_column(String(limits.EXTERNAL_REFERENCE))
    month: Mapped[date] = mapped_column(Date)
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_lead_return_acceptance_partner", "partner", "month"),)

register_collections("lead_return", {})  # no child collections beyond the engine's


async def scope_row(session: AsyncSession, scope: str) -> dict[str, Any] | None:
    row = await session.get(LeadReturnSettings, scope)
    return None if row is None else {c.name: getattr(row, c.name) for c in LeadReturnSettings.__table__.columns}


async def effective_for(session: AsyncSession, lead_group: str | None) -> EffectiveSettings:
    """The settings a lead of `lead_group` gets: the group's where set, else the global ones."""
    group_row = await scope_row(session, lead_group) if lead_group else None
    return effective(await scope_row(session, GLOBAL), lead_group, group_row)


async def save(session: AsyncSession, scope: str, values: dict[str, Any], who: str) -> None:
    """Replace a scope's settings (one statement: concurrent writes never make two rows)."""
    row = {"scope": scope, **{name: values.get(name) for name in FIELDS}, "updated_by": who}
    stmt = pg_insert(LeadReturnSettings).values(**row)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["scope"],
        set_={**{k: stmt.excluded[k] for k in row if k != "scope"}, "updated_at": func.now()}))
