"""Sync and read records. Callers own the transaction; functions here only execute.

An upsert is one statement (INSERT ... ON CONFLICT (external_id) DO UPDATE), so concurrent syncs
of the same record never make two rows: the second waits for the first and updates it. A lead's
upsert also appends its status change to the history in that same statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, Table, func, literal, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import Label

from casework.cases.contracts import PartyLink
from casework.parties.models import (
    Contract,
    Customer,
    Invoice,
    Lead,
    LeadGroup,
    LeadStatusChange,
    LeadTransaction,
    Partner,
)
from casework.platform.db import Base, table_of


@dataclass(frozen=True)
class RecordType:
    path: str  # the plural in URLs: /leads, /imports/leads
    label: str  # "lead group"
    model: type[Base]
    searched: tuple[str, ...]  # columns `q` matches (partly, any case), besides the external id


RECORD_TYPES = {t.path: t for t in (
    RecordType("customers", "customer", Customer, ("name", "email")),
    RecordType("partners", "partner", Partner, ("name", "email")),
    RecordType("lead-groups", "lead group", LeadGroup, ("name",)),
    RecordType("leads", "lead", Lead, ("name", "email", "phone")),
    RecordType("contracts", "contract", Contract, ("number",)),
    RecordType("invoices", "invoice", Invoice, ("number",)),
)}
_LABELS = {table_of(t.model).name: t.label for t in RECORD_TYPES.values()}


@dataclass(frozen=True)
class Who:
    """Who synced or posted: kept on the row and in the history."""

    name: str
    user_id: int | None


class UnknownReference(Exception):
    """A reference to a record that does not exist: `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _references() -> dict[str, tuple[str, str]]:
    """Each foreign key's name -> (the field holding the reference, the label of what it names)."""
    found = {}
    models: list[type[Base]] = [kind.model for kind in RECORD_TYPES.values()] + [LeadTransaction]
    for model in models:
        for fk in table_of(model).foreign_keys:
            found[str(fk.name)] = (fk.parent.name, _LABELS.get(fk.column.table.name, fk.column.table.name))
    return found


_REFERENCES = _references()


def unknown_reference(exc: IntegrityError, values: dict[str, Any]) -> UnknownReference | None:
    """The reference an INSERT named that does not exist (a foreign key refused), or None when
    the statement failed for another reason."""
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    named = _REFERENCES.get(str(constraint)) if constraint else None
    if named is None:
        return None
    field, label = named
    return UnknownReference(field, f"no {label} with external_id '{values.get(field)}'")


_CREATED: Label[bool] = literal_column("(xmax = 0)").label("created")  # a row the statement inserted, not updated


async def upsert(session: AsyncSession, kind: RecordType, external_id: str, values: dict[str, Any],
                 who: Who) -> bool:
    """Create or update the record in one statement. True when it was created. Raises
    UnknownReference (nothing written) when a reference names no record."""
    table = table_of(kind.model)
    row = {"external_id": external_id, **values, "synced_by": who.name}
    stmt = insert(table).values(**row)
    changes: dict[str, Any] = {name: stmt.excluded[name] for name in row if name != "external_id"}
    changes["updated_at"] = func.now()
    if kind.model is Lead:
        changes["prior_status"] = table.c.status  # the status the row had before this sync
    stmt = stmt.on_conflict_do_update(index_elements=["external_id"], set_=changes)
    if kind.model is Lead:
        statement = _with_status_history(table, stmt, who)
    else:
        statement = stmt.returning(_CREATED)
    try:
        async with session.begin_nested():
            return bool((await session.execute(statement)).scalar_one())
    except IntegrityError as exc:
        refused = unknown_reference(exc, row)
        if refused is None:
            raise
        raise refused from exc


def _with_status_history(table: Table, upsert_stmt: Any, who: Who) -> Any:
    """The lead's upsert, and in the same statement a status-history row when its status changed
    (or it was created): from the status it had (prior_status, set by the upsert) to the new one."""
    up = upsert_stmt.returning(table.c.external_id, table.c.status, table.c.prior_status, _CREATED).cte("up")
    history = table_of(LeadStatusChange)
    appended = insert(history).from_select(
        ["lead", "from_status", "to_status", "changed_at", "changed_by", "changed_by_id"],
        # The time of the change itself, under the row's lock (now() is when the transaction began).
        select(up.c.external_id, up.c.prior_status, up.c.status, func.clock_timestamp(), literal(who.name, String),
               literal(who.user_id, Integer)).where(up.c.prior_status.is_distinct_from(up.c.status)),
    ).cte("appended")
    return select(up.c.created).add_cte(appended)


async def get(session: AsyncSession, kind: RecordType, external_id: str,
              where: list[ColumnElement[bool]] | None = None) -> Any:
    """The record, or None when it does not exist or fails `where` (what the reader may see)."""
    model: Any = kind.model
    return await session.scalar(select(model).where(model.external_id == external_id, *(where or [])))


async def exists(session: AsyncSession, kind: RecordType, external_id: str) -> bool:
    model: Any = kind.model
    return await session.scalar(select(model.external_id).where(model.external_id == external_id)) is not None


def matching(kind: RecordType, q: str) -> ColumnElement[bool]:
    """Records whose external id is `q`, or whose searched columns contain it (any case)."""
    model: Any = kind.model
    return or_(model.external_id == q, *(getattr(model, c).icontains(q, autoescape=True) for c in kind.searched))


async def search(session: AsyncSession, kind: RecordType, *, q: str | None, where: list[ColumnElement[bool]],
                 limit: int, offset: int) -> list[Any]:
    """A page of records, most recently synced first."""
    model: Any = kind.model
    stmt = select(model).where(*where).order_by(model.updated_at.desc(), model.external_id)
    if q:
        stmt = stmt.where(matching(kind, q))
    return list((await session.scalars(stmt.limit(limit).offset(offset))).all())


async def status_history(session: AsyncSession, lead: str) -> list[LeadStatusChange]:
    stmt = (select(LeadStatusChange).where(LeadStatusChange.lead == lead)
            .order_by(LeadStatusChange.id.desc()))  # the order they were written in, under the row's lock
    return list((await session.scalars(stmt)).all())


# The record types a case can name, by the field that names them (the party type is the field).
CASE_PARTY_TYPES = {"customer": RECORD_TYPES["customers"], "lead": RECORD_TYPES["leads"]}


async def unknown_party(session: AsyncSession, named: dict[str, str | None]) -> UnknownReference | None:
    """The first of the records a case names ({"customer": id, "lead": id}) that does not exist."""
    for field, external_id in named.items():
        if external_id is not None and not await exists(session, CASE_PARTY_TYPES[field], external_id):
            return UnknownReference(field, f"no {CASE_PARTY_TYPES[field].label} with external_id '{external_id}'")
    return None


def party_links(reference: str, named: dict[str, str | None], role: str = "subject") -> list[PartyLink]:
    """The case's links to the records it names; ids derived from the case and the record, so a
    retried registration makes the same ones."""
    return [PartyLink(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference}/{field}/{external_id}")),
                      party_type=field, external_id=external_id, role=role)
            for field, external_id in named.items() if external_id is not None]
