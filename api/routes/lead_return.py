"""Lead returns (F5): settings, asking to return a lead (staff, or a partner on its own lead),
the decision, and reading returns. A return is a case of kind lead_return; its decision is the
workflow's `decide` Update (docs/lead-returns.md)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import Date, Select, cast, func, select
from temporalio.client import WorkflowUpdateFailedError

from api import errors
from api.casesteps import (
    CaseStep,
    apply_update,
    authorised_step,
    case_from_state,
    case_json,
    case_type_config,
    read_case,
)
from api.deps import (
    CASE_PATH,
    CurrentUser,
    IdempotencyKey,
    SessionDep,
    SettingsDep,
    TemporalDep,
    ViewerDep,
    actor_of,
    require_permission,
)
from api.partner_view import shown_to
from api.routes.cases import release_reference, reserve_reference, start_case
from api.routes.parties import LeadReader, found, permitted, seen_by
from api.routes.search import Headings, attachment
from api.schemas.base import IsoDate
from api.schemas.cases import CaseRead
from api.schemas.lead_return import (
    DecideRequest,
    EffectiveSettingsRead,
    ReplacementRequest,
    ReturnRequest,
    ReturnSettingsRead,
    ReturnSettingsWrite,
    ReturnStatistics,
    ReturnSummary,
    UnreferRequest,
)
from casework.calendar.deadlines import case_today
from casework.cases import limits, repository
from casework.cases.contracts import CaseCore, Correspondent
from casework.cases.roles import Role
from casework.kinds.lead_return.contracts import (
    OTHER,
    UNREFER,
    DecideInput,
    LeadReturnStart,
    ReplacementInput,
    ReturnCap,
    ReturnStatus,
)
from casework.kinds.lead_return.rules import DECIDE_PERMISSION
from casework.kinds.lead_return.settings import EffectiveSettings
from casework.parties import records
from casework.parties.access import LEADS_READ, RECORDS_READ, STAFF
from casework.parties.models import Lead, Partner
from casework.parties.records import RECORD_TYPES
from casework.people.permissions import declare
from casework.platform.db import AppUser, CaseRecord, TeamMember
from casework.reference_lists import require_value
from casework.reporting.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, csv_stream, xlsx_stream
from casework.reporting.search import Column
from casework.tables import lead_return as return_settings
from casework.tables.lead_return import GLOBAL, REASONS, LeadReturnSettings
from workflows.lead_return import LeadReturnWorkflow

router = APIRouter(tags=["lead returns"])
CASE = CASE_PATH
RETURN_TYPE = "RETURN"
OPEN_RETURN_INDEX = "uq_lead_return_open"
CONFIGURE = declare("lead_returns.configure", "set the lead return settings, global and per lead group",
                    {Role.MANAGER})
REQUEST = declare("lead_returns.request", "ask to return a lead (a partner's users: their own leads, "
                  "where the settings let partners start returns)", STAFF - {Role.OPERATIONS} | {Role.PARTNER})
Requester = Annotated[AppUser, permitted(REQUEST)]
Decider = Annotated[AppUser, permitted(DECIDE_PERMISSION)]
LEADS = RECORD_TYPES["leads"]
LeadId = Annotated[str, Path(max_length=limits.EXTERNAL_REFERENCE, pattern=r"^[^/\s]+$")]


# ---- settings -------------------------------------------------------------------------------


def _scope(scope: str) -> str:
    return GLOBAL if scope == "global" else scope


def _settings_read(row: LeadReturnSettings) -> dict[str, Any]:
    values = {c.name: getattr(row, c.name) for c in LeadReturnSettings.__table__.columns}
    values["scope"] = "global" if row.scope == GLOBAL else row.scope
    return values


@router.get("/lead-returns/settings", response_model=list[ReturnSettingsRead])
async def list_settings(session: SessionDep, user: CurrentUser) -> Any:
    """The global settings and every lead group's overrides."""
    require_permission(user, CONFIGURE, "reading the lead return settings")
    rows = (await session.scalars(select(LeadReturnSettings).order_by(LeadReturnSettings.scope))).all()
    return [_settings_read(r) for r in rows]


@router.put("/lead-returns/settings/{scope}", response_model=ReturnSettingsRead)
async def put_settings(scope: Annotated[str, Path(max_length=limits.EXTERNAL_REFERENCE, pattern=r"^[^/\s*]+$")],
                       body: ReturnSettingsWrite, session: SessionDep, user: CurrentUser) -> Any:
    """Set the global settings (`global`) or a lead group's (its external id). Fields left out
    are not set at that scope."""
    require_permission(user, CONFIGURE, "changing the lead return settings")
    if scope != "global" and not await records.exists(session, RECORD_TYPES["lead-groups"], scope):
        raise errors.not_found(f"lead group {scope}")
    if body.notify_user is not None and await _user(session, body.notify_user) is None:
        raise errors.unprocessable("notify_user", f"no active user '{body.notify_user}'")
    for field in ("reasons", "auto_accept_reasons"):
        for code in getattr(body, field) or []:
            if code != OTHER:
                await require_value(session, REASONS, code, field=field)
    await return_settings.save(session, _scope(scope), body.model_dump(), user.display_name)
    await session.commit()
    row = await session.get(LeadReturnSettings, _scope(scope), populate_existing=True)
    assert row is not None
    return _settings_read(row)


@router.get("/leads/{external_id}/return-settings", response_model=EffectiveSettingsRead)
async def effective_settings(external_id: LeadId, session: SessionDep, user: Requester,
                             viewer: ViewerDep) -> Any:
    """The settings that apply to returns of this lead, with where each value came from."""
    lead = await found(session, LEADS, external_id, viewer)
    settings = await return_settings.effective_for(session, lead.lead_group)
    values = settings.model_dump(mode="json", exclude={"sources"})
    return {"lead": lead.external_id, "lead_group": lead.lead_group, "settings": values,
            "sources": settings.sources}


async def _user(session: SessionDep, username: str) -> AppUser | None:
    return await session.scalar(select(AppUser).where(AppUser.username == username, AppUser.active))


# ---- asking to return a lead ----------------------------------------------------------------


@router.post("/leads/{external_id}/returns", status_code=status.HTTP_201_CREATED, response_model=CaseRead)
async def request_return(external_id: LeadId, body: ReturnRequest, request: Request, session: SessionDep,
                         client: TemporalDep, settings: SettingsDep, user: Requester, viewer: ViewerDep,
                         idempotency_key: IdempotencyKey = None) -> Any:
    """Ask to return a lead: a member of staff, or a partner's user on a lead referred to their
    partner (where the settings let partners start returns). Opens the decider's task."""
    lead: Lead = await found(session, LEADS, external_id, viewer)
    by_partner = viewer.partners is not None
    if by_partner and lead.referral_partner not in (viewer.partners or frozenset()):
        raise errors.not_found(f"lead {external_id}")  # introduced by them, but not theirs to return
    if lead.referral_partner is None:
        raise errors.stage_conflict(f"lead {external_id} is not referred to a partner: there is nothing to return",
                                    lead.status)
    rules = await return_settings.effective_for(session, lead.lead_group)
    now = datetime.now(timezone.utc)
    if not rules.enabled:
        raise errors.stage_conflict(f"returns are not enabled for lead {external_id}'s lead group", lead.status)
    if by_partner and not rules.partners_may_start:
        raise errors.forbidden(f"partners may not start returns of lead {external_id}; ask your account manager")
    too_late = rules.window_refusal(lead.referred_at, now)
    if too_late:
        raise errors.stage_conflict(f"lead {external_id} cannot be returned: {too_late}", lead.status)
    reason_text = await _reason(session, body, rules.reasons, rules.allow_other)
    state, reference = await _open_return(
        request, session, client, settings, user, lead, rules, idempotency_key, reason=body.reason,
        reason_text=reason_text, by_partner=by_partner, cap=rules.cap(),
        auto_accept_at=rules.auto_accept_at(body.reason, now))
    read = await read_case(request, session, reference) if state is None else case_from_state(request, state)
    read = await shown_to(session, viewer, read)  # a partner's user: the narrow view
    return read if state is None else case_json(read, status.HTTP_201_CREATED)


async def _open_return(request: Request, session: SessionDep, client: TemporalDep, settings: SettingsDep,
                       user: AppUser, lead: Lead, rules: EffectiveSettings, idempotency_key: str | None, *,
                       reason: str, reason_text: str, by_partner: bool, cap: ReturnCap | None,
                       auto_accept_at: datetime | None) -> tuple[CaseCore | None, str]:
    """Start the return's workflow (once per Idempotency-Key): its state (None for a late retry)
    and reference. 409 when a return of the lead is already open."""
    external_id = lead.external_id
    case_type = await repository.get_case_type(session, RETURN_TYPE)
    if case_type is None or not case_type.active:
        raise errors.stage_conflict("lead returns are not set up: the RETURN case type is missing", None)
    notified = await _user(session, rules.notify_user) if rules.notify_user else None
    team = None
    if notified is not None:
        team = await session.scalar(select(TeamMember.team_code).where(TeamMember.user_id == notified.id)
                                    .order_by(TeamMember.team_code))
    key, reference = await reserve_reference(request, "return", user, idempotency_key, case_type.reference_prefix)
    now = datetime.now(timezone.utc)
    already = await session.scalar(select(CaseRecord.reference).where(
        CaseRecord.kind == "lead_return", CaseRecord.status == "open",
        CaseRecord.details["lead_id"].astext == external_id))
    if already == reference:
        return None, reference  # this request's return, asked for again with its Idempotency-Key
    if already:
        await release_reference(request, key, reference)
        raise errors.stage_conflict(f"a return of lead {external_id} is already open: {already}", "open")
    start = LeadReturnStart(
        reference=reference, case_type=case_type_config(case_type), actor=actor_of(user),
        correspondents=await _correspondents(session, lead),
        parties=records.party_links(reference, {"lead": external_id}),
        lead_id=external_id, lead_name=lead.name, lead_group=lead.lead_group,
        partner=lead.referral_partner, introducer=lead.introducer, reason=reason, reason_text=reason_text,
        requested_on=case_today(now), requested_by_partner=by_partner,
        email_introducer_default=rules.email_introducer, email_partner_default=rules.email_partner,
        auto_accept_at=auto_accept_at, cap=cap, team=team, assignee_id=notified.id if notified else None,
        assignee_name=notified.display_name if notified else None)
    try:
        state = await start_case(client, request.app.state.engine, settings.task_queue, start, LeadReturnWorkflow)
    except WorkflowUpdateFailedError as exc:
        await release_reference(request, key, reference)
        if OPEN_RETURN_INDEX in str(exc.cause):  # another request opened one a moment before
            raise errors.stage_conflict(f"a return of lead {external_id} is already open", "open") from exc
        raise errors.from_update_failure(exc) from exc
    return state, reference


# ---- unreferring: taking a lead back without a return request -------------------------------


@router.post("/leads/{external_id}/unrefer", response_model=CaseRead)
async def unrefer(external_id: LeadId, body: UnreferRequest, request: Request, session: SessionDep,
                  client: TemporalDep, settings: SettingsDep, user: Decider,
                  idempotency_key: IdempotencyKey = None) -> Any:
    """Take a lead back from its partner without a return request (lead_return.decide): a return
    opened and accepted at once, by the same saga (reversals, billing point, status, emails), not
    counted against the partner's cap."""
    lead: Lead = await found(session, LEADS, external_id, None)
    if lead.referral_partner is None:
        raise errors.stage_conflict(f"lead {external_id} is not referred to a partner", lead.status)
    rules = await return_settings.effective_for(session, lead.lead_group)
    _, reference = await _open_return(
        request, session, client, settings, user, lead, rules, idempotency_key, reason=UNREFER,
        reason_text="Unreferred: taken back from the partner", by_partner=False, cap=None, auto_accept_at=None)
    payload = DecideInput(actor=actor_of(user), accept=True, notes=body.notes, lead_status=body.lead_status,
                          email_introducer=body.email_introducer, email_partner=body.email_partner,
                          reverse_transactions=body.reverse_transactions)
    decided = await apply_update(client, reference, LeadReturnWorkflow.decide, payload,
                                 f"unrefer:{idempotency_key}" if idempotency_key else None)
    if decided.return_status is ReturnStatus.OPEN:
        raise errors.stage_conflict(f"lead {external_id} was not unreferred: {decided.saga_log[-1]}", "decision")
    return case_json(case_from_state(request, decided))


async def _reason(session: SessionDep, body: ReturnRequest, allowed: list[str] | None, allow_other: bool) -> str:
    """The reason's words: its label in the return reasons list, or the requester's own."""
    if body.reason == OTHER:
        if not allow_other:
            raise errors.unprocessable("reason", "'other' reasons are not allowed here: choose a listed reason")
        if not body.other_reason:
            raise errors.unprocessable("other_reason", "say why the lead is returned (reason 'other')")
        return body.other_reason
    if body.other_reason is not None:
        raise errors.unprocessable("other_reason", "only a reason 'other' takes words of its own")
    value = await require_value(session, REASONS, body.reason, field="reason")
    if allowed is not None and body.reason not in allowed:
        raise errors.unprocessable("reason", f"'{body.reason}' is not a return reason for this lead's group "
                                   f"(one of: {', '.join(allowed) or 'none'})")
    return value.label


async def _correspondents(session: SessionDep, lead: Lead) -> list[Correspondent]:
    people = []
    for relationship, partner_id in (("referral_partner", lead.referral_partner), ("introducer", lead.introducer)):
        partner = await session.get(Partner, partner_id) if partner_id else None
        if partner is not None:
            people.append(Correspondent(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{lead.external_id}/{relationship}")),
                                        relationship=relationship, is_primary=relationship == "referral_partner",
                                        name=partner.name, email=partner.email,
                                        external_reference=partner.external_id))
    return people


# ---- the decision ---------------------------------------------------------------------------


@router.post("/cases" + CASE + "/decide", response_model=CaseRead)
async def decide(case: Annotated[CaseStep, authorised_step(LeadReturnWorkflow.decide)], body: DecideRequest,
                 session: SessionDep) -> Any:
    """Accept or decline the return (the permission lead_return.decide). Accepting reverses the
    lead's transactions (unless reverse_transactions is false), resets its billing point, sets
    its status if asked, emails the partner and introducer (defaults from the settings), and with
    `replacement` owes the partner a replacement lead (where its lead group offers them)."""
    accept = body.decision == "accept"
    if accept and body.replacement:
        group = await session.scalar(select(CaseRecord.details["lead_group"].astext)
                                     .where(CaseRecord.reference == case.reference))
        if not (await return_settings.effective_for(session, group)).replacements:
            raise errors.unprocessable("replacement", f"replacement leads are not offered for lead group "
                                       f"{group or '(none)'}: accept with a refund")
    payload = DecideInput(actor=case.actor(), accept=accept, notes=body.notes,
                          email_introducer=body.email_introducer, email_partner=body.email_partner,
                          reverse_transactions=body.reverse_transactions, lead_status=body.lead_status,
                          replacement=body.replacement)
    answer: Response = await case.take(payload)
    details = json.loads(bytes(answer.body))["details"]
    if accept and details["return_status"] == ReturnStatus.OPEN:
        why = (details["saga_log"] or ["not accepted"])[-1]
        raise errors.stage_conflict(f"return {case.reference} was not accepted: {why}", "decision")
    return answer


@router.post("/cases" + CASE + "/replacement", response_model=CaseRead)
async def send_replacement(case: Annotated[CaseStep, authorised_step(LeadReturnWorkflow.send_replacement)],
                           body: ReplacementRequest) -> Any:
    """Link the replacement lead an accepted return owes its partner (lead_return.send_replacement):
    a lead of the returned lead's group, referred to the same partner (its fee posted on its own
    ledger as any lead's), replacing no other return. Closes the return. 409 when the return owes
    no replacement (any more); 422 naming `lead_id` when the lead will not do."""
    return await case.take(ReplacementInput(actor=case.actor(), lead_id=body.lead_id))


# ---- reading returns ------------------------------------------------------------------------


def _summary(row: CaseRecord) -> dict[str, Any]:
    d = row.details
    return {"reference": row.reference, "lead": d["lead_id"], "partner": d["partner"], "reason": d["reason"],
            "reason_text": d["reason_text"], "return_status": d["return_status"], "colour": d["colour"],
            "requested_on": d["requested_on"], "decided_on": d.get("decided_on"),
            "decision_notes": d.get("decision_notes"), "remedy": d.get("remedy"),
            "replacement_lead": (d.get("replacement") or {}).get("lead_id")}


@router.get("/leads/{external_id}/returns", response_model=list[ReturnSummary])
async def lead_returns(external_id: LeadId, session: SessionDep, user: LeadReader, viewer: ViewerDep) -> Any:
    """The returns of a lead, newest first, with their status and colour (orange open, red
    declined, green accepted): what a partner sees on its lead's summary."""
    await found(session, LEADS, external_id, viewer)
    rows = (await session.scalars(select(CaseRecord).where(
        CaseRecord.kind == "lead_return", CaseRecord.details["lead_id"].astext == external_id)
        .order_by(CaseRecord.registered_at.desc()))).all()
    return [_summary(r) for r in rows]


@dataclass(frozen=True)
class ReturnQuery:
    """The returns list's filters, shared by the list and its exports."""

    where: list[Any]
    partner_view: bool  # a partner's user: no staff names in what it is shown


def _return_query(
    session: SessionDep, user: CurrentUser, viewer: ViewerDep,
    return_status: Annotated[ReturnStatus | None, Query(alias="status")] = None,
    partner: Annotated[str | None, Query(max_length=limits.EXTERNAL_REFERENCE)] = None,
    requested_from: IsoDate | None = None, requested_to: IsoDate | None = None,
    decided_from: IsoDate | None = None, decided_to: IsoDate | None = None,
) -> ReturnQuery:
    require_permission(user, LEADS_READ, "reading leads")
    details = CaseRecord.details
    where: list[Any] = [CaseRecord.kind == "lead_return"]
    if return_status is not None:
        where.append(details.contains({"return_status": return_status.value}))
    if partner:
        where.append(details.contains({"partner": partner}))
    for column, low, high in ((_REQUESTED, requested_from, requested_to), (_DECIDED, decided_from, decided_to)):
        if low is not None:
            where.append(column >= low)
        if high is not None:
            where.append(column <= high)
    if viewer.partners is not None:
        theirs = select(Lead.external_id).where(*seen_by(LEADS, viewer))
        where.append(details["lead_id"].astext.in_(theirs))
    return ReturnQuery(where, viewer.partners is not None)


Returns = Annotated[ReturnQuery, Depends(_return_query)]
_REQUESTED = cast(CaseRecord.details["requested_on"].astext, Date)
_DECIDED = cast(CaseRecord.details["decided_on"].astext, Date)
_NEWEST_FIRST = (CaseRecord.registered_at.desc(), CaseRecord.reference)


@router.get("/lead-returns", response_model=list[ReturnSummary])
async def search_returns(
    session: SessionDep, query: Returns,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=limits.MAX_OFFSET)] = 0,
) -> Any:
    """Returns by status, return date and decision date (a partner's users: their own leads')."""
    rows = (await session.scalars(select(CaseRecord).where(*query.where).order_by(*_NEWEST_FIRST)
                                  .limit(limit).offset(offset))).all()
    return [_summary(r) for r in rows]


def _text(key: str, title: str, *path: str) -> Column:
    return Column(key, title, "text", lambda today: CaseRecord.details[path or (key,)].astext)


# The exports' columns: the list's, and who decided (staff only).
EXPORT_COLUMNS = [
    Column("reference", "Reference", "text", lambda today: CaseRecord.reference),
    _text("lead", "Lead", "lead_id"), _text("lead_group", "Lead group"), _text("partner", "Referral partner"),
    _text("introducer", "Introducer"), _text("reason", "Reason code", "reason"), _text("reason_text", "Reason"),
    _text("return_status", "Return status"), _text("colour", "Colour"),
    Column("requested_on", "Requested on", "date", lambda today: _REQUESTED),
    Column("decided_on", "Decided on", "date", lambda today: _DECIDED),
    _text("decision_notes", "Decision notes"),
    _text("remedy", "Remedy"), _text("replacement_lead", "Replacement lead", "replacement", "lead_id"),
    _text("decided_by", "Decided by"),
]
STAFF_ONLY_COLUMNS = frozenset({"decided_by"})


def _export(query: ReturnQuery) -> tuple[list[Column], Select]:
    columns = [c for c in EXPORT_COLUMNS if not (query.partner_view and c.key in STAFF_ONLY_COLUMNS)]
    today = case_today(datetime.now(timezone.utc))
    stmt: Select = select(*(c.expression(today).label(c.key) for c in columns))
    return columns, stmt.where(*query.where).order_by(*_NEWEST_FIRST)


@router.get("/lead-returns.csv", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
async def export_returns_csv(query: Returns, request: Request, headings: Headings = "titles") -> StreamingResponse:
    """The returns list (the same filters, every matching return) as CSV, streamed."""
    columns, stmt = _export(query)
    body = csv_stream(request.app.state.sessionmaker, stmt, columns, field_names=headings == "fields")
    return StreamingResponse(body, media_type=CSV_MEDIA_TYPE, headers=attachment("lead-returns", "csv"))


@router.get("/lead-returns.xlsx", response_class=StreamingResponse,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
async def export_returns_xlsx(query: Returns, request: Request, headings: Headings = "titles") -> StreamingResponse:
    """The returns list as an Excel workbook: dates typed, a header row with filters."""
    columns, stmt = _export(query)
    body = xlsx_stream(request.app.state.sessionmaker, stmt, columns, field_names=headings == "fields")
    return StreamingResponse(body, media_type=XLSX_MEDIA_TYPE, headers=attachment("lead-returns", "xlsx"))


# ---- statistics ------------------------------------------------------------------------------


@router.get("/lead-returns/statistics", response_model=ReturnStatistics)
async def return_statistics(session: SessionDep, user: CurrentUser, since: IsoDate, until: IsoDate) -> Any:
    """Returns asked for from `since` to `until` (inclusive): by referral partner, with the return
    rate (returns accepted per lead referred to them in those dates), and by reason."""
    require_permission(user, RECORDS_READ, "reading return statistics")
    if until < since:
        raise errors.unprocessable("until", "must not be before since", location="query")
    details = CaseRecord.details
    requested = cast(details["requested_on"].astext, Date)
    status_of = details["return_status"].astext

    def counted(*group: Any) -> Any:
        return (select(*group, func.count().label("returns"),
                       *(func.count().filter(status_of == s.value).label(s.value) for s in ReturnStatus))
                .where(CaseRecord.kind == "lead_return", requested >= since, requested <= until)
                .group_by(*group).order_by(*group))

    partner, reason = details["partner"].astext.label("partner"), details["reason"].astext.label("reason")
    referred = dict((await session.execute(
        select(Lead.referral_partner, func.count()).where(
            Lead.referral_partner.is_not(None), cast(Lead.referred_at, Date) >= since,
            cast(Lead.referred_at, Date) <= until).group_by(Lead.referral_partner))).all())
    by_partner = []
    for row in (await session.execute(counted(partner))).mappings():
        leads = referred.get(row["partner"], 0)
        rate = (Decimal(row["accepted"] * 100) / leads).quantize(Decimal("0.1")) if leads else None
        by_partner.append({**row, "leads_referred": leads, "return_rate_percent": rate})
    by_reason = [dict(row) for row in (await session.execute(counted(partner, reason))).mappings()]
    return {"since": since, "until": until, "by_partner": by_partner, "by_partner_and_reason": by_reason}
