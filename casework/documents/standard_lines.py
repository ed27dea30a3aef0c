"""Standard lines: reusable response paragraphs per category and topic, each with an expiry date.

A topic has at most one line that is not retired. Adding a line for a topic retires the one
before it (it stays readable, and says what replaced it), so the text a drafter can choose is
always the current wording. A line can be chosen while it is live: not retired and not past its
expiry date. Text is never edited in place; new wording is a new line, which keeps what earlier
drafts used traceable. Callers own the transaction; functions here only execute and flush.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from casework.platform.db import StandardLine

LIVE, EXPIRED, RETIRED = "live", "expired", "retired"


def status_of(line: StandardLine, today: date) -> str:
    if line.retired_at is not None:
        return RETIRED
    return EXPIRED if line.expires_on < today else LIVE


@dataclass(frozen=True)
class LineRefused(Exception):
    """A chosen line cannot be used; ``field`` is the request field to name."""

    field: str
    message: str

    def __str__(self) -> str:
        return self.message


def _same_topic(category: str, topic: str):
    return (func.lower(StandardLine.category) == category.lower(),
            func.lower(StandardLine.topic) == topic.lower())


async def add_line(session: AsyncSession, *, category: str, topic: str, text_: str, expires_on: date,
                   created_by: str, now: datetime) -> tuple[StandardLine, StandardLine | None]:
    """Add a line; the topic's previous (not yet retired) line is retired. Returns (new, retired)."""
    key = f"standard_line:{category.lower()}:{topic.lower()}"
    # Two admins adding a line for one topic at once: the second waits and retires the first's.
    await session.execute(text("select pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    previous = await session.scalar(
        select(StandardLine).where(*_same_topic(category, topic), StandardLine.retired_at.is_(None))
    )
    line = StandardLine(id=str(uuid.uuid4()), category=category, topic=topic, text=text_,
                        expires_on=expires_on, created_by=created_by, created_at=now)
    if previous is not None:
        previous.retired_at, previous.retired_by, previous.replaced_by = now, created_by, line.id
        await session.flush()  # the unique index allows one unretired line per topic
    session.add(line)
    await session.flush()
    return line, previous


async def retire(session: AsyncSession, line: StandardLine, *, by: str, now: datetime) -> None:
    if line.retired_at is None:
        line.retired_at, line.retired_by = now, by
        await session.flush()


def query(*, category: str | None, topic: str | None, status: str, today: date) -> Select:
    stmt = select(StandardLine).order_by(StandardLine.category, StandardLine.topic,
                                         StandardLine.created_at.desc())
    if category:
        stmt = stmt.where(func.lower(StandardLine.category) == category.lower())
    if topic:
        stmt = stmt.where(func.lower(StandardLine.topic) == topic.lower())
    if status == LIVE:
        stmt = stmt.where(StandardLine.retired_at.is_(None), StandardLine.expires_on >= today)
    elif status == EXPIRED:
        stmt = stmt.where(StandardLine.retired_at.is_(None), StandardLine.expires_on < today)
    elif status == RETIRED:
        stmt = stmt.where(StandardLine.retired_at.is_not(None))
    return stmt


async def choose(session: AsyncSession, ids: list[str], today: date,
                 field: str = "standard_line_ids") -> list[StandardLine]:
    """The chosen lines in the order given; refused if any is unknown, repeated, retired or expired."""
    if len(set(ids)) != len(ids):
        raise LineRefused(field, "a standard line is chosen more than once")
    rows = (await session.scalars(select(StandardLine).where(StandardLine.id.in_(ids)))).all()
    found = {row.id: row for row in rows}
    chosen = []
    for line_id in ids:
        line = found.get(line_id)
        if line is None:
            raise LineRefused(field, f"no standard line with id {line_id}")
        status = status_of(line, today)
        if status == RETIRED:
            raise LineRefused(field, f"standard line '{line.topic}' ({line.id}) was retired"
                                     + (f"; use {line.replaced_by}" if line.replaced_by else ""))
        if status == EXPIRED:
            raise LineRefused(field, f"standard line '{line.topic}' ({line.id}) expired on "
                                     f"{line.expires_on.isoformat()}")
        chosen.append(line)
    return chosen
