"""Lead returns' own tables: the return settings (global and per lead group) and the acceptances
counted against a partner's monthly cap. A return itself is a case (case_record, kind
'lead_return'), its fields in the row's `details`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Date, DateTime, Index, Integer, Numeric, String, func, select
from sqlalchemy.dialects.postgresql import JSONB, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from casework.cases import limits
from casework.cases.collections import register_collections
from casework.kinds.lead_return.settings import FIELDS, EffectiveSettings, effective
from casework.parties.models import Lead
from casework.platform.db import Base, CaseRecord
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
    replacements: Mapped[bool | None] = mapped_column(Boolean)  # replacement leads offered
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

class LeadReturnReplacement(Base):
    """The replacement lead sent for an accepted return: one per return, and a lead replaces one
    return only (the unique `lead`), however many ask at once."""

    __tablename__ = "lead_return_replacement"
    reference: Mapped[str] = mapped_column(String(40), primary_key=True)
    lead: Mapped[str] = mapped_column(String(limits.EXTERNAL_REFERENCE), unique=True)
    returned_lead: Mapped[str] = mapped_column(String(limits.EXTERNAL_REFERENCE))
    partner: Mapped[str] = mapped_column(String(limits.EXTERNAL_REFERENCE))
    linked_by: Mapped[str] = mapped_column(String(limits.NAME))
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


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


# ---- a lead's return status, for the lead search ---------------------------------------------

NO_RETURN = "none"  # the lead search's return_status of a lead never returned


@dataclass(frozen=True)
class LeadReturnFilter:
    """The lead search's return filters. All but `none` apply to the lead's latest return (the
    one its return status shows); dates are the return's request date and its decision date."""

    status: str | None = None  # open | declined | accepted | none
    returned_from: date | None = None
    returned_to: date | None = None
    decided_from: date | None = None
    decided_to: date | None = None

    def dated(self) -> bool:
        return any(d is not None for d in (self.returned_from, self.returned_to, self.decided_from, self.decided_to))

    def where(self) -> list[ColumnElement[bool]]:
        """Conditions on `lead` (none when no return filter is given)."""
        lead_id = CaseRecord.details["lead_id"].astext
        if self.status == NO_RETURN:
            # ix_case_record_lead_return: the leads that have any return
            return [Lead.external_id.not_in(select(lead_id).where(CaseRecord.kind == "lead_return"))]
        if self.status is None and not self.dated():
            return []
        latest = latest_returns()
        conditions: list[ColumnElement[bool]] = []
        if self.status is not None:
            conditions.append(latest.c.return_status == self.status)
        # ISO dates in the details compare as text in date order (and keep the index usable).
        for column, low, high in ((latest.c.requested_on, self.returned_from, self.returned_to),
                                  (latest.c.decided_on, self.decided_from, self.decided_to)):
            if low is not None:
                conditions.append(column >= low.isoformat())
            if high is not None:
                conditions.append(column <= high.isoformat())
        return [Lead.external_id.in_(select(latest.c.lead_id).where(*conditions))]


def latest_returns() -> Any:
    """Each lead's latest return: lead_id, return_status, requested_on and decided_on (ISO
    text), read along ix_case_record_lead_return_latest."""
    d = CaseRecord.details
    lead_id = d["lead_id"].astext
    return (select(lead_id.label("lead_id"), d["return_status"].astext.label("return_status"),
                   d["requested_on"].astext.label("requested_on"), d["decided_on"].astext.label("decided_on"))
            .where(CaseRecord.kind == "lead_return").ext(distinct_on(lead_id))
            .order_by(lead_id, CaseRecord.registered_at.desc(), CaseRecord.reference.desc())
            .subquery("latest_return"))
