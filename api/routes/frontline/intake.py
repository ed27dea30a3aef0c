"""Taking a frontline complaint (F4) by phone, live chat or email (raw RFC 5322 from a mail gateway),
and routing a repeat contact to the complainant's earlier case and its owner.

Repeat matching holds under concurrency: intake takes a PostgreSQL advisory lock on each of the
complainant's normalised identities (sorted, so two intakes never deadlock) and keeps it until the
new case is registered (visible in case_record) or the contact is recorded on the matched case. A
second contact from the same complainant waits, then finds the first's case. The lock is the
connection's (not a transaction's): the reservation commits at once, so nothing cut short after
the workflow started can take it back and give its number to another complaint.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api import errors
from api.casesteps import apply_update, case_from_state, case_type_config, team_and_person
from api.deps import CurrentUser, IdempotencyKey, SettingsDep, TemporalDep, actor_of, cached_lookup, require_permission
from api.routes.cases import on_list, registration_key, start_case
from api.schemas.frontline import ContactCreate, ContactOutcome
from casework.calendar.deadlines import case_today
from casework.cases import limits, repository
from casework.cases.contracts import Correspondent
from casework.documents import call_scripts
from casework.documents.rendering import TemplateError
from casework.kinds.frontline.contracts import (
    CallScript,
    ContactChannel,
    ContactInput,
    FrontlineStart,
    FrontlineState,
    Person,
)
from casework.kinds.frontline.identity import identity_keys
from casework.kinds.frontline.rules import RULES, TAKE_CONTACT
from casework.parties import records
from casework.platform.db import AppUser, driver_connection
from casework.reference_lists import declare_list
from workflows.frontline import FrontlineWorkflow

router = APIRouter(tags=["frontline"])
TAKE = RULES.permission(TAKE_CONTACT)
Outcome = Literal["new_case", "resolved_first_contact", "repeat_contact", "repeat_of_closed_case"]
ISSUES = declare_list("frontline_issues", "frontline complaint issues (what a complaint is about)")

@dataclass
class Intake:
    """One contact, however it came in."""

    channel: ContactChannel
    issue: str
    summary: str
    name: str
    email: str | None
    phone: str | None
    customer: str | None
    department: str
    owner: Person | None
    resolution: str | None = None
    improvement_idea: str | None = None
    new_case_reason: str | None = None
    message_id: str | None = None


_MATCH = (
    "SELECT reference, status, details->>'owner_id', details->>'owner_name', date_received FROM case_record"
    " WHERE kind = 'frontline' AND details @> jsonb_build_object('issue_key', %(issue)s::text)"
    " AND (details->'identities') ?| %(keys)s::text[]"
    " AND (status = 'open' OR closed_at >= now() - make_interval(days => %(window)s))"
    " ORDER BY status = 'open' DESC, registered_at DESC LIMIT 1")


@asynccontextmanager
async def _complainant_locked(conn: psycopg.AsyncConnection, keys: list[str]) -> AsyncIterator[None]:
    """Serialise intakes for this complainant (sorted: no deadlock) while the block runs. The
    locks are the connection's: released here, or by PostgreSQL if the connection is lost."""
    try:
        for key in keys:
            await conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"frontline:{key}"])
        yield
    finally:
        with contextlib.suppress(psycopg.Error):  # a lost connection took its locks with it
            await conn.execute("SELECT pg_advisory_unlock_all()")


async def _take_contact(request: Request, client: TemporalDep, settings: SettingsDep, user: Any,
                        intake: Intake, idempotency_key: str | None) -> JSONResponse:
    require_permission(user, TAKE, "taking a frontline complaint")
    keys = identity_keys(intake.email, intake.phone, intake.customer)
    if not keys:
        raise errors.unprocessable("complainant", "give the complainant's email or phone (or the customer's "
                                   "id) so a repeat contact finds their case")
    async with request.app.state.sessionmaker() as session:
        await on_list(request, session, ISSUES, intake.issue, "issue")
    code = settings.frontline_case_type
    case_type = await cached_lookup(request, ("case_type", code), lambda s: repository.get_case_type(s, code))
    if case_type is None or not case_type.active or case_type.kind != "frontline":
        raise errors.unprocessable("case_type", f"the frontline case type '{code}' is not set up "
                                   "(FRONTLINE_CASE_TYPE)")
    team, _ = await team_and_person(request, intake.department, None, "department_")
    if intake.owner is not None and not await _is_member(request, team.code, intake.owner.id):
        raise errors.unprocessable("department", f"you are not a member of team '{team.code}'")
    lead = None
    if team.manager_id is not None:
        manager_id = team.manager_id
        manager = await cached_lookup(request, ("user-id", manager_id), lambda s: s.get(AppUser, manager_id))
        lead = Person(id=manager.id, name=manager.display_name) if manager else None
    about = {"customer": intake.customer}
    async with request.app.state.sessionmaker() as session:
        unknown = await records.unknown_party(session, about)
        script = await call_scripts.in_use(session, settings.templates_dir, settings.frontline_brand, code)
    if unknown is not None:
        raise errors.unprocessable(unknown.field, unknown.message)
    key = registration_key("frontline", user, idempotency_key)
    today = case_today(datetime.now(timezone.utc))
    engine = request.app.state.engine
    async with driver_connection(engine) as conn, _complainant_locked(conn, keys):
        done = await (await conn.execute(repository._REGISTERED, {"key": key})).fetchone()
        reserved = done[0] if done is not None else None
        if reserved is not None:  # a retry of an intake that reserved a case: that case, if it started
            try:
                return await _answer(request, client, reserved, "new_case", "The complaint was registered",
                                     status.HTTP_201_CREATED)
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
        match = None
        if intake.new_case_reason is None:
            match = await (await conn.execute(_MATCH, {"issue": intake.issue.casefold(), "keys": keys,
                                                       "window": settings.frontline_repeat_window_days})).fetchone()
        actor = actor_of(user)
        if match is not None and match[1] == "open":
            reference = match[0]
            if reserved is not None:  # reserved before a case for them opened: not needed after all
                await repository.release_registration(conn, key, reserved)
            said, _ = _script(script, intake, user, reference, match[3], None, match[4])
            contact = ContactInput(actor=actor, channel=intake.channel, summary=intake.summary,
                                   message_id=intake.message_id, script=said)
            state = await _record_contact(client, reference, contact, idempotency_key)
            owned_by = state.owner.name if state.owner else f"team {state.department}"
            return _outcome(request, state, "repeat_contact",
                            f"Repeat contact: added to {reference}, owned by {owned_by}, who has been told",
                            status.HTTP_200_OK, said)
        repeat_of = match[0] if match is not None else None
        owner: Person | None = intake.owner
        if match is not None and match[2] is not None:
            owner = Person(id=int(match[2]), name=match[3])  # the earlier case's owner, not a new one
        if reserved is not None:
            reference = reserved
        else:
            reference = await repository.reserve_registration(conn, key, case_type.reference_prefix, today)
        resolution = None if repeat_of else intake.resolution
        said, rendered = _script(script, intake, user, reference, owner.name if owner else None, resolution, today)
        contact = ContactInput(actor=actor, channel=intake.channel, summary=intake.summary,
                               message_id=intake.message_id, script=said)
        start = FrontlineStart(
            reference=reference, case_type=case_type_config(case_type), actor=actor,
            correspondents=[Correspondent(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference}/complainant")),
                                          name=intake.name, email=intake.email, phone=intake.phone,
                                          is_primary=True)],
            parties=records.party_links(reference, about),
            channel=intake.channel, issue=intake.issue, summary=intake.summary, received_on=today,
            owner=owner, department=team.code, team_lead=lead, brand=rendered.brand, script=rendered.follow_up,
            call_script=said, identities=keys, repeat_of=repeat_of, new_case_reason=intake.new_case_reason,
            message_id=intake.message_id, resolution=resolution, improvement_idea=intake.improvement_idea,
            fca=(case_type.deadline_policy or {}).get("name", "").upper().startswith("FCA"))
        try:
            # The calendar read on the connection this intake holds: at 20 intakes at once, each
            # waiting for a second connection from the pool of 20 would wait until its timeout.
            registered = await start_case(client, engine, settings.task_queue, start,
                                          workflow_class=FrontlineWorkflow, conn=conn)
        except WorkflowUpdateFailedError as exc:
            raise errors.from_update_failure(exc) from exc
        if repeat_of is not None:
            # The earlier case is closed (its workflow has ended): this one carries the contact,
            # owned by the earlier owner, who is told as on any repeat contact.
            state = await _record_contact(client, reference, contact, idempotency_key)
            return _outcome(request, state, "repeat_of_closed_case",
                            f"Repeat contact about {repeat_of} (closed): new case {reference} for its owner "
                            f"{owner.name if owner else 'team ' + team.code}, who has been told",
                            status.HTTP_201_CREATED, said)
    if registered is None:
        return await _answer(request, client, reference, "new_case", "The complaint was registered",
                             status.HTTP_201_CREATED)
    assert isinstance(registered, FrontlineState)
    if registered.resolved_first_contact:
        return _outcome(request, registered, "resolved_first_contact",
                        f"Resolved at first contact and closed: {reference}", status.HTTP_201_CREATED)
    return _outcome(request, registered, "new_case", f"New complaint {reference}, owned by "
                    f"{owner.name if owner else 'nobody yet (claim it)'}", status.HTTP_201_CREATED)


def _script(script: call_scripts.ScriptTemplate, intake: Intake, user: Any, reference: str, owner: str | None,
            resolution: str | None, received_on: date) -> tuple[CallScript, call_scripts.RenderedScript]:
    """What the agent says on this contact, from the call script template in use, filled in."""
    try:
        rendered = call_scripts.render(script, intake.channel.value, agent=user.display_name, complainant=intake.name,
                                       reference=reference, issue=intake.issue, received_on=received_on,
                                       owner=owner, resolution=resolution)
    except TemplateError as exc:  # checked with samples on upload; a real value may still refuse
        raise errors.template_refused("call_script", exc) from exc
    return CallScript(channel=intake.channel, acknowledgement=rendered.acknowledgement, apology=rendered.apology,
                      next_steps=rendered.next_steps, template=script.describe(),
                      template_version_id=script.version_id), rendered


async def _is_member(request: Request, team: str, user_id: int) -> bool:
    async def member(session: Any) -> bool | None:  # only a membership is cached
        return True if await repository.is_team_member(session, team, user_id) else None
    return bool(await cached_lookup(request, ("member", team, user_id), member))


async def _record_contact(client: TemporalDep, reference: str, contact: ContactInput,
                          idempotency_key: str | None) -> FrontlineState:
    return await apply_update(client, reference, FrontlineWorkflow.record_contact, contact,
                              f"record_contact:{idempotency_key}" if idempotency_key else None)


def _outcome(request: Request, state: FrontlineState, outcome: Outcome, message: str, code: int,
             script: CallScript | None = None) -> JSONResponse:
    """The answer to a contact, with what the agent says (this contact's script, else the case's)."""
    body = ContactOutcome(outcome=outcome, reference=state.reference,
                          owner_name=state.owner.name if state.owner else None, message=message,
                          script=script or state.call_script, case=case_from_state(request, state))
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


async def _answer(request: Request, client: TemporalDep, reference: str, outcome: Outcome, message: str,
                  code: int) -> JSONResponse:
    state = await client.get_workflow_handle(reference).query(FrontlineWorkflow.current_state)
    return _outcome(request, FrontlineState.model_validate(state.model_dump()), outcome, message, code)


@router.post("/frontline/contacts", status_code=status.HTTP_201_CREATED, response_model=ContactOutcome,
             responses={200: {"model": ContactOutcome, "description": "a repeat contact, added to the open case"}})
async def take_contact(body: ContactCreate, request: Request, client: TemporalDep, settings: SettingsDep,
                       user: CurrentUser, idempotency_key: IdempotencyKey = None) -> Any:
    """Take a complaint by phone, live chat or email. The agent becomes its owner, unless it is a
    repeat: the same complainant (email, phone or customer id) with an open case on the same issue
    (200: the contact is added there and its owner told), or one closed within the repeat window (a
    new case for that owner). `resolution` resolves it at first contact; `new_case_reason`
    overrides the matching."""
    person = body.complainant
    intake = Intake(channel=ContactChannel(body.channel), issue=body.issue, summary=body.summary,
                    name=person.name, email=person.email, phone=person.phone, customer=body.customer,
                    department=body.department, owner=Person(id=user.id, name=user.display_name),
                    resolution=body.resolution, improvement_idea=body.improvement_idea,
                    new_case_reason=body.new_case_reason)
    return await _take_contact(request, client, settings, user, intake, idempotency_key)


@router.post("/frontline/inbound-email", status_code=status.HTTP_201_CREATED, response_model=ContactOutcome,
             openapi_extra={"requestBody": {"content": {"message/rfc822": {"schema": {"type": "string"}}},
                                            "required": True}})
async def inbound_email(request: Request, client: TemporalDep, settings: SettingsDep, user: CurrentUser,
                        department: Annotated[str, Query(min_length=1, max_length=limits.CODE,
                                                         description="the team whose mailbox received it")],
                        issue: Annotated[str, Query(min_length=1, max_length=limits.CATEGORY,
                                                    description="the issue the mailbox is for")] = "General") -> Any:
    """A complaint by email, posted by a mail gateway as the raw RFC 5322 message. The sender is
    the complainant; the case waits in the department's queue for an agent to claim it (or, from
    the same sender on the same issue, is a repeat contact). The Message-ID makes a re-post one
    contact."""
    raw = await request.body()
    if not raw.strip():
        raise errors.unprocessable("message", "the request body must be the raw email message")
    if len(raw) > settings.max_upload_bytes:
        raise errors.unprocessable("message", "the message is larger than MAX_UPLOAD_BYTES")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    name, address = parseaddr(str(message.get("From", "")))
    if "@" not in address:
        raise errors.unprocessable("From", "the message has no sender address")
    subject = str(message.get("Subject", "")).strip()
    part = message.get_body(preferencelist=("plain", "html"))
    text = part.get_content().strip() if part is not None else ""
    summary = "\n\n".join(p for p in (subject, text) if p)[:limits.TEXT] or "(empty message)"
    message_id = str(message.get("Message-ID", "")).strip() or None
    key = f"email:{hashlib.sha256(message_id.encode()).hexdigest()}" if message_id else None
    intake = Intake(channel=ContactChannel.EMAIL, issue=issue.strip(), summary=summary,
                    name=(name or address)[:limits.NAME], email=address, phone=None, customer=None,
                    department=department, owner=None, message_id=message_id)
    return await _take_contact(request, client, settings, user, intake, key)
