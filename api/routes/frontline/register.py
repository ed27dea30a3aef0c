"""The frontline register: one row per complaint with the seed's columns, listed, filtered and
exported as CSV and XLSX. The Y/N is derived from the case's steps, never typed in."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Date, cast, select

from api import errors
from api.deps import CurrentUser, SessionDep, ViewerDep, require_permission
from api.schemas.base import IsoDate
from api.schemas.frontline import RegisterRow
from casework.calendar.deadlines import case_today
from casework.cases import limits
from casework.cases.visibility import visible_cases
from casework.kinds.frontline.rules import REGISTER_READ, RULES
from casework.platform.db import CaseRecord
from casework.reporting.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, CsvEncoder, write_xlsx
from casework.reporting.search import Column, stream_batches

router = APIRouter(tags=["frontline"])
READ_REGISTER = RULES.permission(REGISTER_READ)


def _text(name: str) -> Any:
    return lambda today: CaseRecord.details[name].astext


REGISTER_COLUMNS = [
    Column("case_owner", "Case Owner", "text", _text("owner_name"), nullable=True),
    Column("department", "Department", "text", _text("department"), nullable=True),
    Column("date_received", "Date received", "date", lambda today: CaseRecord.date_received),
    Column("date_followed_up", "Date followed-up with customer", "date",
           lambda today: cast(CaseRecord.details["followed_up_on"].astext, Date), nullable=True),
    Column("resolved_and_followed_up", "Resolved and followed up (Y/N)", "text",
           _text("resolved_and_followed_up")),
    Column("customer_name", "Customer Name", "text", lambda today: CaseRecord.complainant_name),
    Column("issue", "Issue", "text", _text("issue"), nullable=True),
    Column("resolution", "Resolution", "text", _text("resolution"), nullable=True),
    Column("proposed_improvement_idea", "Proposed Improvement Idea", "text", _text("improvement_idea"),
           nullable=True),
]


@dataclass
class RegisterFilter:
    owner: str | None = None
    department: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    resolved: Literal["Y", "N"] | None = None


def _register_statement(viewer: Any, f: RegisterFilter, with_reference: bool = False) -> Any:
    today = case_today(datetime.now(timezone.utc))
    columns: list[Any] = [c.expression(today).label(c.key) for c in REGISTER_COLUMNS]
    if with_reference:
        columns.insert(0, CaseRecord.reference.label("reference"))
    stmt = select(*columns).where(CaseRecord.kind == "frontline", visible_cases(viewer))
    if f.owner:
        stmt = stmt.where(CaseRecord.details["owner_name"].astext.ilike(f.owner))
    if f.department:
        stmt = stmt.where(CaseRecord.details.contains({"department": f.department}))
    if f.received_from:
        stmt = stmt.where(CaseRecord.date_received >= f.received_from)
    if f.received_to:
        stmt = stmt.where(CaseRecord.date_received <= f.received_to)
    if f.resolved:
        stmt = stmt.where(CaseRecord.details.contains({"resolved_and_followed_up": f.resolved}))
    return stmt.order_by(CaseRecord.date_received, CaseRecord.reference)


def register_filter(owner: Annotated[str | None, Query(max_length=limits.NAME,
                                                     description="the case owner's name")] = None,
                     department: Annotated[str | None, Query(max_length=limits.CODE)] = None,
                     received_from: IsoDate | None = None, received_to: IsoDate | None = None,
                     resolved: Literal["Y", "N"] | None = None) -> RegisterFilter:
    if received_from and received_to and received_to < received_from:
        raise errors.unprocessable("received_to", "received_to is before received_from", "query")
    return RegisterFilter(owner, department, received_from, received_to, resolved)


RegisterQuery = Annotated[RegisterFilter, Depends(register_filter)]


def _register_attachment(extension: str) -> dict[str, str]:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H%MZ")
    return {"Content-Disposition": f'attachment; filename="frontline-register-{stamp}.{extension}"'}


@router.get("/frontline/register", response_model=list[RegisterRow])
async def register(user: CurrentUser, viewer: ViewerDep, session: SessionDep, f: RegisterQuery) -> Any:
    """Every frontline complaint, one row each, with the seed's columns (and the reference)."""
    require_permission(user, READ_REGISTER, "reading the frontline register")
    rows = (await session.execute(_register_statement(viewer, f, with_reference=True))).all()
    return [RegisterRow(**{**row._asdict(), "date_received": row.date_received.isoformat(),
                           "date_followed_up": row.date_followed_up.isoformat() if row.date_followed_up else None})
            for row in rows]


@router.get("/frontline/register.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
async def register_csv(user: CurrentUser, viewer: ViewerDep, request: Request, f: RegisterQuery) -> Any:
    """The register as CSV, headed with the seed's column names."""
    require_permission(user, READ_REGISTER, "exporting the frontline register")
    stmt = _register_statement(viewer, f)
    sessionmaker = request.app.state.sessionmaker

    async def body() -> AsyncIterator[bytes]:
        encoder = CsvEncoder(REGISTER_COLUMNS)
        yield encoder.header()
        async with sessionmaker() as session:
            async for batch in stream_batches(session, stmt):
                yield encoder.rows(batch)

    return StreamingResponse(body(), media_type=CSV_MEDIA_TYPE, headers=_register_attachment("csv"))


@router.get("/frontline/register.xlsx", response_class=StreamingResponse,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
async def register_xlsx(user: CurrentUser, viewer: ViewerDep, request: Request, f: RegisterQuery) -> Any:
    """The register as an Excel workbook, headed with the seed's column names."""
    require_permission(user, READ_REGISTER, "exporting the frontline register")
    stmt = _register_statement(viewer, f)
    sessionmaker = request.app.state.sessionmaker

    async def body() -> AsyncIterator[bytes]:
        with tempfile.TemporaryDirectory(prefix="frontline-register-") as directory:
            path = Path(directory) / "register.xlsx"
            async with sessionmaker() as session:
                await write_xlsx(path, REGISTER_COLUMNS, stream_batches(session, stmt))
            with path.open("rb") as file:
                while chunk := await asyncio.to_thread(file.read, 1 << 16):
                    yield chunk

    return StreamingResponse(body(), media_type=XLSX_MEDIA_TYPE, headers=_register_attachment("xlsx"))
