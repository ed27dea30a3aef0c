"""Case search: filters, sort orders and keyset pagination over the PostgreSQL projection.

One statement builder serves the JSON search, both exports and the digest case list, so a search
and its spreadsheet always hold the same rows, columns and order. Every filter is served by an
index (see the migrations): trigram GIN for partial names, btree for exact values and ranges, and
a (sort column, reference) btree per sort order so that a page deep into the results costs the
same as the first.

Pagination is by keyset: the cursor carries the last row's sort value and reference (the
tie-break), so "the next page" is a range condition, not an OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Label,
    Row,
    Select,
    SQLColumnExpression,
    and_,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from casework.cases.postcodes import is_outward_code, normalise_postcode
from casework.platform.db import CaseContribution, CaseCorrespondent, CaseRecord, CorrespondentName

DEFAULT_SORT = "-date_received"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# A literal, not a bound parameter, so the planner can match the partial index on open cases
# even for a prepared statement.
_OPEN: ColumnElement[str] = literal_column("'open'")
_STATUS: dict[str, ColumnElement[str]] = {"open": _OPEN, "closed": literal_column("'closed'")}


class FilterError(ValueError):
    """A search parameter the search cannot use; `field` names it for the 422."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ContributionStatus(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: str  # text | date | bool
    expression: Callable[[date], SQLColumnExpression[Any]]  # a mapped column or an expression
    nullable: bool = False


def overdue_cases(today: date) -> ColumnElement[bool]:
    """The one meaning of overdue (the case read's, search's, the exports', statistics' and
    digests'): flagged by the deadline timer, or open, its deadline passed and no response sent yet
    (a case whose response has been sent is never overdue; `deadline_met` false keeps the record)."""
    case = CaseRecord
    return or_(case.overdue,
               and_(case.status == _OPEN, case.deadline < today, case.deadline_met.is_(None)))


def overdue_ways(today: date) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """`overdue_cases` as the two ways a case is overdue, which never overlap: flagged by the
    deadline timer; or not flagged, open, its deadline passed and no response sent yet."""
    case = CaseRecord
    return (and_(case.overdue),
            and_(not_(case.overdue), case.status == _OPEN, case.deadline < today,
                 case.deadline_met.is_(None)))


def not_overdue_cases(today: date) -> ColumnElement[bool]:
    case = CaseRecord
    return and_(not_(case.overdue),
                or_(case.status != _OPEN, case.deadline.is_(None), case.deadline >= today,
                    case.deadline_met.is_not(None)))


def warned_cases(today: date) -> ColumnElement[bool]:
    """In warning: open, not answered and not yet overdue, and warned by the deadline timer or on
    or past its clock's warning day (the queue's and statistics' meaning, like overdue's: the
    timer's flag, or the date)."""
    case = CaseRecord
    return and_(case.status == _OPEN, case.deadline_met.is_(None), not_overdue_cases(today),
                or_(case.deadline_warned, case.deadline_warning_on <= today))


# The columns of a search result, in the order the exports show them.
COLUMNS: dict[str, Column] = {
    c.key: c
    for c in (
        Column("reference", "Reference", "text", lambda _: CaseRecord.reference),
        Column("complainant_name", "Complainant", "text", lambda _: CaseRecord.complainant_name),
        Column("case_type", "Case type", "text", lambda _: CaseRecord.case_type),
        Column("stage", "Stage code", "text", lambda _: CaseRecord.stage),
        Column("stage_label", "Stage", "text", lambda _: CaseRecord.stage_label),
        Column("team", "Team", "text", lambda _: CaseRecord.team, nullable=True),
        Column("assignee_name", "Assignee", "text", lambda _: CaseRecord.assignee_name,
               nullable=True),
        Column("date_received", "Date received", "date", lambda _: CaseRecord.date_received),
        Column("deadline", "Deadline", "date", lambda _: CaseRecord.deadline, nullable=True),
        Column("overdue", "Overdue", "bool",
               lambda today: func.coalesce(overdue_cases(today), false())),
        Column("status", "Status", "text", lambda _: CaseRecord.status),
    )
}


@dataclass(frozen=True)
class Sort:
    key: str
    descending: bool

    @classmethod
    def parse(cls, value: str | None) -> "Sort":
        value = (value or DEFAULT_SORT).strip()
        descending = value.startswith("-")
        key = value.lstrip("+-")
        if key not in COLUMNS:
            raise FilterError("sort", f"cannot sort by '{key}'; sort by one of: "
                              f"{', '.join(COLUMNS)} (prefix '-' for descending)")
        return cls(key, descending)

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.key


def parse_columns(values: list[str] | None) -> list[str]:
    """Result columns, from repeated or comma-separated `columns`; all of them when absent."""
    if not values:
        return list(COLUMNS)
    keys = [k.strip() for v in values for k in v.split(",") if k.strip()]
    unknown = [k for k in keys if k not in COLUMNS]
    if unknown:
        raise FilterError("columns", f"unknown column(s) {', '.join(unknown)}; choose from: "
                          f"{', '.join(COLUMNS)}")
    if not keys:
        raise FilterError("columns", "name at least one column")
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last row's sort value and reference."""

    sort: Sort
    value: Any
    reference: str

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, date) else self.value
        raw = json.dumps([str(self.sort), value, self.reference], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, sort: Sort) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            sort_text, value, reference = json.loads(raw)
        except (binascii.Error, ValueError, TypeError):
            raise FilterError("cursor", "not a cursor from this search") from None
        if sort_text != str(sort) or not isinstance(reference, str):
            raise FilterError("cursor", "the cursor belongs to a search with another sort order")
        column = COLUMNS[sort.key]
        try:
            if value is None:
                if not column.nullable:
                    raise ValueError
            elif column.kind == "date":
                value = date.fromisoformat(value)
            elif column.kind == "bool" and not isinstance(value, bool):
                raise ValueError
            elif column.kind == "text" and not isinstance(value, str):
                raise ValueError
        except (ValueError, TypeError):
            raise FilterError("cursor", "not a cursor from this search") from None
        return cls(sort, value, reference)


@dataclass
class CaseSearch:
    """Validated search filters. Lists mean "any of"; None means "no filter"."""

    reference: str | None = None
    reference_prefix: str | None = None
    complainant: str | None = None
    correspondent: str | None = None
    postcode: str | None = None
    email: str | None = None
    phone: str | None = None
    external_reference: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    case_types: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    assignee_ids: list[int] = field(default_factory=list)
    status: str | None = None
    overdue: bool | None = None
    unconfirmed_delivery: bool | None = None  # an email awaiting confirmation or a resend
    deadline_from: date | None = None
    deadline_to: date | None = None
    contribution_status: ContributionStatus | None = None

    def __post_init__(self) -> None:
        for start, end in (("received_from", "received_to"), ("deadline_from", "deadline_to")):
            low, high = getattr(self, start), getattr(self, end)
            if low and high and low > high:
                raise FilterError(end, f"{end} ({high}) is before {start} ({low})")
        if self.status is not None and self.status not in _STATUS:
            raise FilterError("status", "status is 'open' or 'closed'")
        if self.contribution_status is not None:
            try:
                self.contribution_status = ContributionStatus(self.contribution_status)
            except ValueError:
                raise FilterError("contribution_status", "contribution_status is one of: "
                                  + ", ".join(ContributionStatus)) from None
        if self.phone is not None:
            digits = "".join(ch for ch in self.phone if ch.isdigit())
            if not digits:
                raise FilterError("phone", "a phone number needs digits")
            self.phone = digits
        if self.postcode is not None:
            self.postcode = normalise_postcode(self.postcode)
        if self.reference is not None:
            self.reference = self.reference.strip().upper()
        if self.reference_prefix is not None:
            self.reference_prefix = self.reference_prefix.strip().upper()
        if self.email is not None:
            self.email = self.email.strip().lower()


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _correspondent_matches(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(CaseCorrespondent.case_reference == CaseRecord.reference, *conditions)


def filter_conditions(search: CaseSearch, today: date, *, overdue: bool = True) -> list[ColumnElement[bool]]:
    """The search's conditions (without `overdue=True`: all but the overdue filter)."""
    case = CaseRecord
    where: list[ColumnElement[bool]] = []
    if search.reference:
        where.append(case.reference == search.reference)
    if search.reference_prefix:
        where.append(case.reference.like(_like_escape(search.reference_prefix) + "%"))
    if search.complainant:
        where.append(case.complainant_name.ilike(f"%{_like_escape(search.complainant)}%"))
    if search.correspondent:
        # The names matching, then their correspondents by exact name (CorrespondentName).
        names = select(CorrespondentName.name).where(
            CorrespondentName.name.ilike(f"%{_like_escape(search.correspondent)}%"))
        where.append(_correspondent_matches(CaseCorrespondent.name.in_(names)))
    if search.postcode:
        # A full postcode in any spacing, or an outward code alone ("AB1" finds "AB1 2CD" but not
        # "AB12 3EF"). Both sides are in the same written form (casework.cases.postcodes).
        postcode = CaseCorrespondent.postcode
        match = postcode == search.postcode
        if is_outward_code(search.postcode):
            match = or_(match, postcode.like(_like_escape(search.postcode) + " %"))
        where.append(_correspondent_matches(match))
    if search.email:
        where.append(_correspondent_matches(func.lower(CaseCorrespondent.email) == search.email))
    if search.phone:
        digits = func.regexp_replace(CaseCorrespondent.phone, "[^0-9]", "", "g")
        where.append(_correspondent_matches(digits == search.phone))
    if search.external_reference:
        where.append(_correspondent_matches(
            CaseCorrespondent.external_reference == search.external_reference))
    if search.received_from:
        where.append(case.date_received >= search.received_from)
    if search.received_to:
        where.append(case.date_received <= search.received_to)
    if search.case_types:
        where.append(case.case_type.in_(search.case_types))
    if search.stages:
        where.append(case.stage.in_(search.stages))
    if search.teams:
        where.append(case.team.in_(search.teams))
    if search.assignee_ids:
        where.append(case.assignee_id.in_(search.assignee_ids))
    if search.status:
        where.append(case.status == _STATUS[search.status])
    if search.overdue is True and overdue:
        where.append(overdue_cases(today))
    elif search.overdue is False:
        where.append(not_overdue_cases(today))
    if search.unconfirmed_delivery is not None:
        unconfirmed = case.unconfirmed_deliveries != text("'[]'::jsonb")
        where.append(unconfirmed if search.unconfirmed_delivery else not_(unconfirmed))
    if search.deadline_from:
        where.append(case.deadline >= search.deadline_from)
    if search.deadline_to:
        where.append(case.deadline <= search.deadline_to)
    if search.contribution_status:
        status = search.contribution_status
        conditions = [CaseContribution.case_reference == case.reference]
        if status is ContributionStatus.OVERDUE:
            conditions += [CaseContribution.status == _OPEN, CaseContribution.due_date < today]
        else:
            conditions.append(CaseContribution.status == status.value)
        where.append(exists().where(*conditions))
    return where


def _after(cursor: Cursor, today: date) -> ColumnElement[bool]:
    """Rows after the cursor in (sort column, reference) order, NULLs last ascending and first
    descending (PostgreSQL's defaults, which a backward index scan gives)."""
    column = COLUMNS[cursor.sort.key]
    ref = CaseRecord.reference
    if column.key == "reference":
        return ref < cursor.reference if cursor.sort.descending else ref > cursor.reference
    expr = column.expression(today)
    value = cursor.value
    if not cursor.sort.descending:
        if value is None:
            return and_(expr.is_(None), ref > cursor.reference)
        later = tuple_(expr, ref) > tuple_(value, cursor.reference)
        return or_(later, expr.is_(None)) if column.nullable else later
    if value is None:
        return or_(and_(expr.is_(None), ref < cursor.reference), expr.is_not(None))
    return tuple_(expr, ref) < tuple_(value, cursor.reference)


def search_statement(
    search: CaseSearch,
    visible: ColumnElement[bool],
    sort: Sort,
    today: date,
    *,
    after: Cursor | None = None,
    limit: int | None = None,
) -> Select:
    """Every result column, labelled by its key, for the cases `visible` lets through.

    Overdue cases in date-received order are found each way of being overdue apart
    (`overdue_ways`), each in the page's order and up to the page's length, then merged: each way
    walks its own index in that order (migration 0030, by team or not) and stops when the page is
    full. As one OR, PostgreSQL reads every overdue case the other filters let through before it
    can sort them (1.4 s for a team's newest at 10M cases; docs/performance.md, "Ten million").
    Other orders keep the OR: without an index in their order, a way cut at the page's length may
    be walked along another index to its end when PostgreSQL expects it to hold many cases (the
    second way is nearly always empty: the deadline timer flags a case when it passes)."""
    selected: list[Label[Any]] = [column.expression(today).label(key) for key, column in COLUMNS.items()]
    split = search.overdue is True and sort.key == "date_received"
    where = [visible, *filter_conditions(search, today, overdue=not split)]
    if after is not None:
        where.append(_after(after, today))
    ordered = _ordered(sort, COLUMNS[sort.key].expression(today), CaseRecord.reference)
    if not split:
        stmt = select(*selected).where(*where).order_by(*ordered)
        return stmt if limit is None else stmt.limit(limit)
    ways = [select(*selected).where(*where, way).order_by(*ordered) for way in overdue_ways(today)]
    found = union_all(*(way if limit is None else way.limit(limit) for way in ways)).subquery("found")
    stmt = select(*found.c).order_by(*_ordered(sort, found.c[sort.key], found.c.reference))
    return stmt if limit is None else stmt.limit(limit)


def _ordered(sort: Sort, expr: SQLColumnExpression[Any], ref: SQLColumnExpression[Any]) -> list[Any]:
    """ORDER BY the sort column then the reference, NULLs as `_after` expects them."""
    if sort.key == "reference":
        return [ref.desc() if sort.descending else ref.asc()]
    if sort.descending:
        return [expr.desc().nulls_first(), ref.desc()]
    return [expr.asc().nulls_last(), ref.asc()]


def cursor_after(row: Any, sort: Sort) -> Cursor:
    mapping = row._mapping
    return Cursor(sort, mapping[sort.key], mapping["reference"])


# A search is planned for its own values. psycopg prepares a statement it has run five times on a
# connection, and PostgreSQL may then switch to a generic plan, made without the values: for an
# ILIKE pattern it cannot know that the trigram index finds a few rows, and scans the cases in sort
# order instead (4.4 s against 10 ms at 1M cases, `make bench`, 2026-11-24). A custom plan can
# make the same mistake from coarse statistics; migration 0006 keeps them fine on the columns
# searched by fragment or prefix.
_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


async def fetch_page(db: AsyncSession | AsyncConnection, stmt: Select) -> Sequence[Row]:
    """The rows of one page of a search, in the caller's transaction."""
    await db.execute(_CUSTOM_PLANS)
    return (await db.execute(stmt)).all()


async def stream_batches(session: AsyncSession, stmt: Select,
                         batch_size: int = 1000) -> AsyncIterator[Sequence[Row]]:
    """The statement's rows in batches from a server-side cursor: memory holds one batch,
    however many rows match."""
    result = await session.stream(stmt.execution_options(yield_per=batch_size))
    async for batch in result.partitions():
        yield batch
