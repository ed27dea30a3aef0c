"""Standard lines: anyone signed in reads them (drafters choose from them); admins manage them."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from api import errors
from api.deps import CurrentUser, SessionDep, require_permission
from api.schemas.standard_lines import StandardLineCreate, StandardLineRead, StandardLineUpdate
from casework.calendar.deadlines import case_today
from casework.cases.roles import Role
from casework.documents import standard_lines
from casework.people.permissions import declare
from casework.platform.db import StandardLine

router = APIRouter(prefix="/standard-lines", tags=["standard lines"])
MANAGE_STANDARD_LINES = declare("standard_lines.manage", "add, change and retire standard lines", {Role.ADMIN})


def _today() -> date:
    """Today as cases count it (a line expires at the end of its UK day, not the server's)."""
    return case_today(datetime.now(timezone.utc))


def read(line: StandardLine, today: date | None = None) -> StandardLineRead:
    return StandardLineRead.model_validate(
        {**{c.key: getattr(line, c.key) for c in line.__table__.columns},
         "status": standard_lines.status_of(line, today or _today())})


async def _line(session: SessionDep, line_id: str) -> StandardLine:
    line = await session.get(StandardLine, line_id)
    if line is None:
        raise errors.not_found(f"standard line {line_id}")
    return line


@router.get("", response_model=list[StandardLineRead])
async def list_lines(
    session: SessionDep, user: CurrentUser, category: str | None = None, topic: str | None = None,
    status_: Annotated[str, Query(alias="status", pattern="^(live|expired|retired|all)$")] = "live",
) -> Any:
    """Lines to choose from when drafting (live ones by default), by category and topic."""
    today = _today()
    stmt = standard_lines.query(category=category, topic=topic, status=status_, today=today)
    return [read(line, today) for line in (await session.scalars(stmt)).all()]


@router.get("/{line_id}", response_model=StandardLineRead)
async def get_line(line_id: str, session: SessionDep, user: CurrentUser) -> Any:
    return read(await _line(session, line_id))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StandardLineRead)
async def add_line(body: StandardLineCreate, session: SessionDep, user: CurrentUser) -> Any:
    """Add a line for a category and topic; the topic's current line (if any) is retired."""
    require_permission(user, MANAGE_STANDARD_LINES, "managing standard lines")
    if body.expires_on < _today():
        raise errors.unprocessable("expires_on", "expires_on must not be in the past")
    line, _ = await standard_lines.add_line(
        session, category=body.category, topic=body.topic, text_=body.text,
        expires_on=body.expires_on, created_by=user.display_name, now=datetime.now(timezone.utc))
    await session.commit()
    return read(line)


@router.patch("/{line_id}", response_model=StandardLineRead)
async def change_expiry(line_id: str, body: StandardLineUpdate, session: SessionDep,
                        user: CurrentUser) -> Any:
    """Move a line's expiry date. The text never changes: new wording is a new line."""
    require_permission(user, MANAGE_STANDARD_LINES, "managing standard lines")
    line = await _line(session, line_id)
    if line.retired_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail={"message": f"standard line {line_id} is retired", "status": "retired"})
    if body.expires_on < _today():
        raise errors.unprocessable("expires_on", "expires_on must not be in the past")
    line.expires_on = body.expires_on
    await session.commit()
    return read(line)


@router.delete("/{line_id}", response_model=StandardLineRead)
async def retire_line(line_id: str, session: SessionDep, user: CurrentUser) -> Any:
    """Retire a line now (it stays readable but can no longer be chosen). Retiring twice is a no-op."""
    require_permission(user, MANAGE_STANDARD_LINES, "managing standard lines")
    line = await _line(session, line_id)
    await standard_lines.retire(session, line, by=user.display_name, now=datetime.now(timezone.utc))
    await session.commit()
    return read(line)
