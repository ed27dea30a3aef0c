"""Case search and its spreadsheet exports.

`GET /search/cases` returns one page of results with an opaque `next_cursor`;
`GET /search/cases.csv` and `GET /search/cases.xlsx` take the same parameters and stream every
matching row, in the same order with the same columns (`cursor` and `limit` are ignored there, so
a search URL can be turned into an export by changing the path).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Select, select

from api import errors
from api.deps import SessionDep, ViewerDep
from api.schemas.base import IsoDate
from casework.calendar.deadlines import case_today
from casework.cases.stages import StagePlan
from casework.cases.visibility import Viewer, visible_cases
from casework.platform.db import AppUser, CaseType, Team
from casework.reporting import search
from casework.reporting.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, csv_stream, xlsx_stream
from casework.reporting.search import (
    COLUMNS,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CaseSearch,
    ContributionStatus,
    Cursor,
    FilterError,
    Sort,
)

router = APIRouter(prefix="/search", tags=["search"])


def _today() -> date:
    """Today for "overdue" and "due within": the cases' own (UK) today, not the server's."""
    return case_today(datetime.now(timezone.utc))

PAGING = frozenset({"cursor", "limit"})
EXPORT_ONLY = frozenset({"headings"})  # the exports' own parameters (the JSON search refuses them)


@dataclass(frozen=True)
class SearchRequest:
    search: CaseSearch
    sort: Sort
    columns: list[str]
    viewer: Viewer

    def statement(self, today: date, **kwargs: Any) -> Select:
        return search.search_statement(self.search, visible_cases(self.viewer), self.sort, today,
                                       **kwargs)


def filter_error(exc: FilterError) -> Exception:
    return errors.unprocessable(exc.field, exc.message, location="query")


Names = Annotated[list[str] | None, Query(description="repeat for any of several values")]
STAFF_COLUMNS = frozenset({"team", "assignee_name"})  # left out for a partner's user (api/partner_view.py)


async def search_request(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    reference: Annotated[str | None, Query(max_length=40, description="exact reference")] = None,
    reference_prefix: Annotated[str | None, Query(max_length=40, description="e.g. COMP/0001")] = None,
    complainant: Annotated[str | None, Query(min_length=2, max_length=200,
                                             description="part of the complainant's name, any case")] = None,
    correspondent: Annotated[str | None, Query(min_length=2, max_length=200,
                                               description="part of any correspondent's name")] = None,
    postcode: Annotated[str | None, Query(min_length=2, max_length=12,
                                          description="full postcode, or its outward code (AB1)")] = None,
    email: Annotated[str | None, Query(max_length=320, description="exact, any case")] = None,
    phone: Annotated[str | None, Query(max_length=40, description="digits compared, spacing ignored")] = None,
    external_reference: Annotated[str | None, Query(max_length=100)] = None,
    received_from: IsoDate | None = None,
    received_to: IsoDate | None = None,
    case_type: Names = None,
    stage: Names = None,
    team: Names = None,
    assignee: Annotated[list[str] | None, Query(description="username, or 'me'")] = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    overdue: bool | None = None,
    unconfirmed_delivery: Annotated[bool | None, Query(
        description="cases with an email whose delivery was not confirmed (true) or none (false)")] = None,
    deadline_from: IsoDate | None = None,
    deadline_to: IsoDate | None = None,
    contribution_status: ContributionStatus | None = None,
    sort: Annotated[str | None, Query(description=f"a column, '-' first for descending; "
                                                  f"default {search.DEFAULT_SORT}")] = None,
    columns: Annotated[list[str] | None, Query(description="result columns (all by default): "
                                                           + ", ".join(COLUMNS))] = None,
) -> SearchRequest:
    for name in request.query_params:
        exporting = request.url.path.endswith((".csv", ".xlsx"))
        if name not in SEARCH_PARAMETERS and name not in PAGING and not (exporting and name in EXPORT_ONLY):
            raise errors.unprocessable(name, f"unknown search parameter '{name}'", location="query")
    try:
        case_search = CaseSearch(
            reference=reference, reference_prefix=reference_prefix, complainant=complainant,
            correspondent=correspondent, postcode=postcode, email=email, phone=phone,
            external_reference=external_reference, received_from=received_from,
            received_to=received_to,
            case_types=await _known(session, "case_type", case_type, select(CaseType.code)),
            stages=await _known_stages(session, stage),
            teams=await _known(session, "team", team, select(Team.code)),
            assignee_ids=await _assignee_ids(session, viewer, assignee),
            status=status, overdue=overdue, unconfirmed_delivery=unconfirmed_delivery,
            deadline_from=deadline_from, deadline_to=deadline_to,
            contribution_status=contribution_status,
        )
        chosen = search.parse_columns(columns)
        if viewer.partners is not None:  # a partner's user is not told who on the staff side has a case
            chosen = [c for c in chosen if c not in STAFF_COLUMNS]
        return SearchRequest(case_search, Sort.parse(sort), chosen, viewer)
    except FilterError as exc:
        raise filter_error(exc) from exc


SearchDep = Annotated[SearchRequest, Depends(search_request)]
SEARCH_PARAMETERS = frozenset(inspect.signature(search_request).parameters) - {
    "request", "session", "viewer"}


async def _known(session: SessionDep, field: str, values: list[str] | None, known: Select) -> list[str]:
    if not values:
        return []
    existing = set((await session.scalars(known)).all())
    unknown = [v for v in values if v not in existing]
    if unknown:
        raise FilterError(field, f"unknown {field.replace('_', ' ')} {', '.join(unknown)}")
    return values


async def _known_stages(session: SessionDep, values: list[str] | None) -> list[str]:
    if not values:
        return []
    plans = (await session.scalars(select(CaseType.stages))).all()
    keys = {stage.key for plan in plans for stage in StagePlan.from_data(plan).stages}
    unknown = [v for v in values if v not in keys]
    if unknown:
        raise FilterError("stage", f"unknown stage {', '.join(unknown)}; stages are: "
                          f"{', '.join(sorted(keys))}")
    return values


async def _assignee_ids(session: SessionDep, viewer: Viewer, values: list[str] | None) -> list[int]:
    if not values:
        return []
    names = [v for v in values if v != "me"]
    found = dict((await session.execute(
        select(AppUser.username, AppUser.id).where(AppUser.username.in_(names)))).all())
    unknown = [n for n in names if n not in found]
    if unknown:
        raise FilterError("assignee", f"unknown user {', '.join(unknown)}")
    return [viewer.user_id if v == "me" else found[v] for v in values]


class CaseSearchPage(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="one object per case with the requested columns: " + ", ".join(COLUMNS))
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")
    sort: str
    limit: int


@router.get("/cases", response_model=CaseSearchPage)
async def search_cases(
    params: SearchDep,
    session: SessionDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = DEFAULT_PAGE_SIZE,
) -> Any:
    """Search the cases you may see. Filters combine with AND; repeated values with OR."""
    try:
        after = Cursor.decode(cursor, params.sort) if cursor else None
    except FilterError as exc:
        raise filter_error(exc) from exc
    stmt = params.statement(_today(), after=after, limit=limit + 1)
    rows = await search.fetch_page(session, stmt)
    more = len(rows) > limit
    rows = rows[:limit]
    return CaseSearchPage(
        items=[{key: row._mapping[key] for key in params.columns} for row in rows],
        next_cursor=search.cursor_after(rows[-1], params.sort).encode() if more else None,
        sort=str(params.sort),
        limit=limit,
    )


# The header row of an export: the columns' titles for people, or the API's field names for machines.
Headings = Annotated[Literal["titles", "fields"], Query(
    description="`titles` (\"Date received\"), or `fields`: the search's JSON field names (`date_received`)")]


def attachment(name: str, extension: str) -> dict[str, str]:
    """An export's Content-Disposition: `<name>-<UTC minute>.<extension>`."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H%MZ")
    return {"Content-Disposition": f'attachment; filename="{name}-{stamp}.{extension}"'}


@router.get("/cases.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
async def export_csv(params: SearchDep, request: Request, headings: Headings = "titles") -> StreamingResponse:
    """The same search as CSV, every matching row, streamed."""
    columns = [COLUMNS[key] for key in params.columns]
    body = csv_stream(request.app.state.sessionmaker, params.statement(_today()), columns,
                      field_names=headings == "fields")
    return StreamingResponse(body, media_type=CSV_MEDIA_TYPE, headers=attachment("cases", "csv"))


@router.get("/cases.xlsx", response_class=StreamingResponse,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
async def export_xlsx(params: SearchDep, request: Request, headings: Headings = "titles") -> StreamingResponse:
    """The same search as an Excel workbook: typed dates, header row with filters, frozen header."""
    columns = [COLUMNS[key] for key in params.columns]
    body = xlsx_stream(request.app.state.sessionmaker, params.statement(_today()), columns,
                       field_names=headings == "fields")
    return StreamingResponse(body, media_type=XLSX_MEDIA_TYPE, headers=attachment("cases", "xlsx"))

