"""The audit trail of people administration: every change, who made it, when, and the fields it
changed as they were before and after. Written in the transaction of the change; never updated."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from casework.people.models import AuditEntry
from casework.platform.db import AppUser


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose value differs, as they were and as they are."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


async def record(session: AsyncSession, actor: AppUser, action: str, subject_type: str, subject: str,
                 before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    await session.execute(insert(AuditEntry).values(
        actor_id=actor.id, actor=actor.username, action=action, subject_type=subject_type,
        subject=subject, before=to_jsonable_python(before), after=to_jsonable_python(after)))


async def entries(session: AsyncSession, *, actor: str | None = None, action: str | None = None,
                  subject_type: str | None = None, subject: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int = 100, offset: int = 0) -> list[AuditEntry]:
    """Entries matching every filter given, newest first."""
    stmt = select(AuditEntry)
    for column, value in ((AuditEntry.actor, actor), (AuditEntry.action, action),
                          (AuditEntry.subject_type, subject_type), (AuditEntry.subject, subject)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(AuditEntry.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.occurred_at < until)
    stmt = stmt.order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(stmt)).all())
