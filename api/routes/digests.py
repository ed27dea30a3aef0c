"""Digest subscriptions: each one a Temporal Schedule that mails a team's statistics and case list.

The database row and its schedule change together: the row is written, the schedule created or
updated (idempotently, by the schedule id derived from the subscription id), and only then is the
transaction committed. If Temporal refuses, nothing is stored; a retried request with the same
Idempotency-Key finds its row and brings the schedule in line.
"""

from __future__ import annotations

import html
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.service import RPCError, RPCStatusCode

from api import errors
from api.deps import CurrentUser, IdempotencyKey, SessionDep, SettingsDep, TemporalDep, ViewerDep, require_permission
from api.schemas.digests import (
    DigestCreate,
    DigestPreview,
    DigestRead,
    DigestScheduleIn,
    DigestScheduleRead,
    DigestUpdate,
)
from casework.cases.jobs import DigestRequest
from casework.cases.roles import Role
from casework.cases.visibility import Viewer, viewer_for
from casework.digests.subscriptions import (
    DigestUnavailable,
    Recipient,
    build_digest,
    describe_subscription,
    schedule_id,
    spec_of,
    verify_unsubscribe_token,
)
from casework.people.permissions import declare
from casework.platform.config import Settings
from casework.platform.db import AppUser, CaseType, DigestSubscription, Team
from workflows.digest import DigestWorkflow

router = APIRouter(prefix="/digests", tags=["digests"])

# Subscribing a team's shared mailbox is a decision for whoever runs the team.
TEAM_MAILBOX = declare("digests.team_mailbox", "send a digest to a team's mailbox",
                       {Role.COORDINATOR, Role.MANAGER})
ADMINISTER_DIGESTS = declare("digests.administer", "see and change anyone's digest subscriptions", {Role.ADMIN})
SUBSCRIPTION_NAMESPACE = uuid.UUID("b8e0f3d2-5c1a-4f8e-9a77-3d2c1b0a9e64")
# A digest missed while Temporal was down is still sent if it comes back within the hour.
CATCHUP_WINDOW = timedelta(hours=1)


# ---- schedules --------------------------------------------------------------------------------


def _schedule(sub: DigestSubscription, settings: Settings, team: Team, owner: AppUser) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DigestWorkflow.run,
            DigestRequest(subscription_id=sub.id),
            id=schedule_id(sub.id),
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=12),
            static_summary=f"Digest of {team.name} for {owner.display_name}",
        ),
        spec=spec_of(sub),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
        state=ScheduleState(paused=not sub.active, note=_note(sub, team, owner)),
    )


def _note(sub: DigestSubscription, team: Team, owner: AppUser) -> str:
    to = "the team mailbox" if sub.recipient == Recipient.TEAM else owner.display_name
    state = "active" if sub.active else "paused"
    return f"{team.code} digest to {to}, {describe_subscription(sub)} ({state})"


async def sync_schedule(client: Client, sub: DigestSubscription, settings: Settings, team: Team,
                        owner: AppUser) -> None:
    """Make the subscription's schedule match it: create it, or replace its spec and state."""
    schedule = _schedule(sub, settings, team, owner)
    try:
        await client.create_schedule(schedule_id(sub.id), schedule,
                                     memo={"subscription_id": sub.id, "team": team.code,
                                           "owner": owner.username})
        return
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id(sub.id))
    await handle.update(lambda _: ScheduleUpdate(schedule=schedule))
    # An update does not change whether a schedule is paused; these do.
    note = _note(sub, team, owner)
    await (handle.unpause(note=note) if sub.active else handle.pause(note=note))


async def delete_schedule(client: Client, subscription_id: str) -> None:
    try:
        await client.get_schedule_handle(schedule_id(subscription_id)).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


def temporal_unavailable(exc: RPCError) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                         detail=f"the scheduler (Temporal) did not accept the change: {exc.message}")


# ---- reads --------------------------------------------------------------------------------------


def _read(sub: DigestSubscription, owner: AppUser, team: Team, settings: Settings) -> DigestRead:
    ui = None
    if settings.temporal_ui_port:
        ui = (f"http://localhost:{settings.temporal_ui_port}/namespaces/"
              f"{settings.temporal_namespace}/schedules/{quote(schedule_id(sub.id), safe='')}")
    return DigestRead(
        id=sub.id, owner=owner.username, team=sub.team, recipient=sub.recipient,
        recipient_address=owner.email if sub.recipient == Recipient.ME else team.email,
        case_type=sub.case_type,
        schedule=DigestScheduleRead(frequency=sub.frequency, time=sub.time_of_day.strftime("%H:%M"),
                                    time_zone=sub.time_zone, day_of_week=sub.day_of_week,
                                    description=describe_subscription(sub)),
        active=sub.active, schedule_id=schedule_id(sub.id), temporal_ui_url=ui,
        created_at=sub.created_at, updated_at=sub.updated_at,
    )


async def _own_subscription(session: SessionDep, user: AppUser, subscription_id: str,
                            lock: bool = False) -> DigestSubscription:
    """The user's subscription (an admin's: anyone's); someone else's is 404 like a missing one.
    With `lock`, the row is held until the transaction ends: a concurrent delete waits for the
    change, or the change, coming after the delete, finds nothing (404)."""
    sub = await session.get(DigestSubscription, subscription_id, with_for_update=lock)
    if sub is None or (sub.owner_id != user.id and ADMINISTER_DIGESTS not in user.permissions):
        raise errors.not_found(f"digest subscription {subscription_id}")
    return sub


async def _owner_and_team(session: SessionDep, sub: DigestSubscription) -> tuple[AppUser, Team]:
    owner = await session.get(AppUser, sub.owner_id)
    team = await session.get(Team, sub.team)
    assert owner is not None and team is not None  # foreign keys
    return owner, team


async def _validate(session: SessionDep, user: AppUser, viewer: Viewer, team_code: str,
                    recipient: Recipient, case_type: str | None) -> Team:
    team = await session.get(Team, team_code)
    if team is None:
        raise errors.unprocessable("team", f"unknown team '{team_code}'")
    if not viewer.may_see_team(team.code):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail=f"you may only subscribe to digests of teams you belong to; "
                                   f"not to {team.code}")
    if case_type is not None and await session.get(CaseType, case_type) is None:
        raise errors.unprocessable("case_type", f"unknown case type '{case_type}'")
    if recipient is Recipient.TEAM:
        require_permission(user, TEAM_MAILBOX, "sending a digest to a team mailbox")
        if not team.email:
            raise errors.unprocessable("recipient", f"team {team.code} has no mailbox address")
    elif not user.email:
        raise errors.unprocessable("recipient", "you have no email address to send the digest to")
    return team


# ---- unsubscribe (signed link, no login) -----------------------------------------------------
# Declared before /{subscription_id} so "unsubscribe" is never taken for an id.

_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: Arial, sans-serif; max-width: 560px; margin: 40px auto;">{body}</body></html>"""


def _subscription_of_token(token: str, settings: Settings) -> str:
    subscription_id = verify_unsubscribe_token(token, settings.link_signing_key)
    if subscription_id is None:
        raise errors.unprocessable("token", "this unsubscribe link is not valid", location="query")
    return subscription_id


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(settings: SettingsDep, session: SessionDep,
                           token: Annotated[str, Query(max_length=200)]) -> HTMLResponse:
    """The page an unsubscribe link opens: a button, because mail scanners follow links."""
    subscription_id = _subscription_of_token(token, settings)
    sub = await session.get(DigestSubscription, subscription_id)
    if sub is None:
        return HTMLResponse(_PAGE.format(title="Unsubscribed",
                                         body="<p>You are not subscribed to this digest.</p>"))
    body = (f"<p>Stop the {html.escape(sub.team)} digest, sent {html.escape(describe_subscription(sub))}?</p>"
            f'<form method="post" action="?token={quote(token)}"><button type="submit">Unsubscribe</button></form>')
    return HTMLResponse(_PAGE.format(title="Unsubscribe", body=body))


@router.post("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe(settings: SettingsDep, session: SessionDep, client: TemporalDep,
                      token: Annotated[str, Query(max_length=200)]) -> HTMLResponse:
    """Unsubscribe through a signed link (also RFC 8058 one-click from the mail client)."""
    subscription_id = _subscription_of_token(token, settings)
    await _delete(session, client, subscription_id)
    return HTMLResponse(_PAGE.format(title="Unsubscribed",
                                     body="<p>You are unsubscribed. No more of these digests will be sent.</p>"))


async def _delete(session: SessionDep, client: TemporalDep, subscription_id: str) -> None:
    sub = await session.get(DigestSubscription, subscription_id)
    if sub is not None:
        await session.delete(sub)
        await session.flush()
    try:
        await delete_schedule(client, subscription_id)
    except RPCError as exc:
        raise temporal_unavailable(exc) from exc
    await session.commit()


# ---- subscriptions ---------------------------------------------------------------------------


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DigestRead)
async def subscribe(body: DigestCreate, session: SessionDep, client: TemporalDep, user: CurrentUser,
                    viewer: ViewerDep, settings: SettingsDep,
                    idempotency_key: IdempotencyKey = None) -> Any:
    """Subscribe yourself (or, as coordinator or manager, a team's mailbox) to a team's digest.
    Creates the Temporal Schedule `digest-<id>`."""
    team = await _validate(session, user, viewer, body.team, body.recipient, body.case_type)
    subscription_id = str(uuid.uuid5(SUBSCRIPTION_NAMESPACE, f"{user.id}:{idempotency_key}")
                          if idempotency_key else uuid.uuid4())
    sub = await session.get(DigestSubscription, subscription_id)
    if sub is None:
        now = datetime.now(timezone.utc)
        sub = DigestSubscription(
            id=subscription_id, owner_id=user.id, team=team.code, recipient=body.recipient.value,
            case_type=body.case_type, active=body.active, created_at=now, updated_at=now)
        _set_schedule(sub, body.schedule)
        session.add(sub)
        await session.flush()
    try:
        await sync_schedule(client, sub, settings, team, user)
    except RPCError as exc:
        raise temporal_unavailable(exc) from exc
    await session.commit()
    return _read(sub, user, team, settings)


def _set_schedule(sub: DigestSubscription, schedule: DigestScheduleIn) -> None:
    sub.frequency = schedule.frequency.value
    sub.time_of_day = schedule.time
    sub.time_zone = schedule.time_zone
    sub.day_of_week = schedule.day_of_week.value if schedule.day_of_week else None


@router.get("", response_model=list[DigestRead])
async def my_subscriptions(session: SessionDep, user: CurrentUser, settings: SettingsDep) -> Any:
    rows = (await session.scalars(select(DigestSubscription)
                                  .where(DigestSubscription.owner_id == user.id)
                                  .order_by(DigestSubscription.created_at))).all()
    teams = {t.code: t for t in (await session.scalars(select(Team))).all()}
    return [_read(sub, user, teams[sub.team], settings) for sub in rows]


@router.get("/{subscription_id}", response_model=DigestRead)
async def get_subscription(subscription_id: str, session: SessionDep, user: CurrentUser,
                           settings: SettingsDep) -> Any:
    sub = await _own_subscription(session, user, subscription_id)
    owner, team = await _owner_and_team(session, sub)
    return _read(sub, owner, team, settings)


@router.patch("/{subscription_id}", response_model=DigestRead)
async def change_subscription(subscription_id: str, body: DigestUpdate, session: SessionDep,
                              client: TemporalDep, user: CurrentUser, viewer: ViewerDep,
                              settings: SettingsDep) -> Any:
    """Change the schedule, recipient or case type, or pause (`active: false`) and resume.
    The Temporal Schedule is updated to match."""
    sub = await _own_subscription(session, user, subscription_id, lock=True)
    owner = user if sub.owner_id == user.id else (await _owner_and_team(session, sub))[0]
    owner_viewer = viewer if owner is user else await viewer_for(session, owner)
    changes = body.model_dump(exclude_unset=True)
    recipient = Recipient(changes.get("recipient") or sub.recipient)
    case_type = changes["case_type"] if "case_type" in changes else sub.case_type
    team = await _validate(session, owner, owner_viewer, sub.team, recipient, case_type)
    sub.recipient, sub.case_type = recipient.value, case_type
    if body.schedule is not None:
        _set_schedule(sub, body.schedule)
    if body.active is not None:
        sub.active = body.active
    sub.updated_at = datetime.now(timezone.utc)
    await session.flush()
    try:
        await sync_schedule(client, sub, settings, team, owner)
    except RPCError as exc:
        raise temporal_unavailable(exc) from exc
    await session.commit()
    return _read(sub, owner, team, settings)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_subscription(subscription_id: str, session: SessionDep, client: TemporalDep,
                              user: CurrentUser) -> Response:
    """Unsubscribe: the subscription and its schedule are deleted."""
    await _own_subscription(session, user, subscription_id)
    await _delete(session, client, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{subscription_id}/trigger", status_code=status.HTTP_202_ACCEPTED)
async def send_now(subscription_id: str, session: SessionDep, client: TemporalDep,
                   user: CurrentUser) -> dict[str, str]:
    """Send the digest now, through its schedule (the run shows in the Temporal UI)."""
    sub = await _own_subscription(session, user, subscription_id)
    try:
        await client.get_schedule_handle(schedule_id(sub.id)).trigger(
            overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    except RPCError as exc:
        raise temporal_unavailable(exc) from exc
    return {"schedule_id": schedule_id(sub.id),
            "message": "the digest is on its way; its run appears under the schedule in the Temporal UI"}


@router.get("/{subscription_id}/preview", response_model=DigestPreview)
async def preview(subscription_id: str, session: SessionDep, user: CurrentUser,
                  settings: SettingsDep) -> Any:
    """The digest as it would be mailed now (without its spreadsheet), sending nothing."""
    sub = await _own_subscription(session, user, subscription_id)
    try:
        digest = await build_digest(session, sub, settings, attach=False)
    except DigestUnavailable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return DigestPreview(recipient=digest.recipient, subject=digest.subject, text=digest.text,
                         html=digest.html, case_count=digest.case_count)
