"""Exactly one delivery: a worker that fails right after the SMTP server accepted an email.

The fault hook (worker.build_worker(after_smtp_send=...)) is off in production; here it raises on
the first send, which is the worst moment to crash: the message is out, nothing is recorded yet.
Temporal retries the activity; the retry must not send again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from temporalio import activity

from api.main import create_app
from casework.platform.db import Team, dispose_engine, make_engine, make_sessionmaker, reading
from devtools.embedded import free_port
from tests.casefixtures import auth, case_path, register, step
from tests.conftest import Mailbox
from worker import build_worker


def crash_after_each_first(what: str) -> tuple[list[str], Callable[[Any], None]]:
    """A worker fault hook: each business key's first attempt dies right after `what` (the keys it
    killed are listed)."""
    crashed: list[str] = []

    def hook(job: Any) -> None:
        if job.business_key not in crashed:
            crashed.append(job.business_key)
            raise RuntimeError(f"injected: the worker died after {what}")

    return crashed, hook


@asynccontextmanager
async def own_stack(settings, temporal, engine, **worker_options):
    """The API and a worker of our own (own task queue), so a fault hook touches only this test."""
    app = create_app(settings, temporal=temporal, engine=engine)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver", timeout=120) as api:
            async with build_worker(temporal, settings, make_sessionmaker(engine), **worker_options):
                yield api


async def test_activity_failing_after_the_smtp_send_delivers_one_email_and_moves_the_case_once(
    settings, temporal, engine, mailbox,
):
    attempts: list[int] = []

    def crash_after_first_send(job) -> None:
        attempts.append(activity.info().attempt)
        if len(attempts) == 1:
            raise RuntimeError("injected: the worker died after the SMTP server took the message")

    own = settings.model_copy(update={"task_queue": f"delivery-{uuid.uuid4().hex[:8]}"})
    async with own_stack(own, temporal, engine, after_smtp_send=crash_after_first_send) as api:
        case = await register(api)
        ref = case["reference"]
        await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
        key = {"Idempotency-Key": f"ack-{ref}"}
        acknowledged = await step(api, ref, "acknowledge", "drafter", {"channel": "email"}, **key)
        # The client, tired of waiting, retries the same request: still one email.
        again = await step(api, ref, "acknowledge", "drafter", {"channel": "email"}, **key)
        timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
        event = next(e for e in timeline if e["kind"] == "acknowledged")
        eml = await api.get(f"/documents/{event['data']['document_id']}", headers=auth("drafter"))

    assert attempts == [1], "the hook runs only after a send; the retry did not send"
    received = mailbox.to(case["correspondents"][0]["email"])
    assert len(received) == 1
    assert acknowledged["stage"] == again["stage"] == "clarification"
    assert [e["kind"] for e in timeline].count("acknowledged") == 1
    assert [e["data"]["to"] for e in timeline if e["kind"] == "stage_changed"].count("clarification") == 1
    # The retry cannot know whether the crash came before or after the server took the message.
    assert event["data"]["delivery_confirmed"] is False
    assert "not sent again" in event["summary"]
    assert event["data"]["message_id"] == received[0]["Message-ID"]
    assert eml.status_code == 200 and received[0]["Message-ID"].encode() in eml.content


class BusyOnce(Mailbox):
    """An SMTP server that answers the first message with "451 try again later"."""

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        if not getattr(self, "refused", False):
            self.refused = True
            return "451 Busy, try again later"
        return await super().handle_DATA(server, session, envelope)


async def test_email_refused_for_now_is_sent_by_the_retry_exactly_once(settings, temporal, engine):
    server = BusyOnce()
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    own = settings.model_copy(update={"task_queue": f"delivery-{uuid.uuid4().hex[:8]}",
                                      "smtp_port": controller.port})
    try:
        async with own_stack(own, temporal, engine) as api:
            case = await register(api)
            ref = case["reference"]
            await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL"})
            acknowledged = await step(api, ref, "acknowledge", "drafter", {"channel": "email"})
            timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    finally:
        controller.stop()

    assert server.refused and len(server.messages) == 1
    assert acknowledged["stage"] == "clarification"
    event = next(e for e in timeline if e["kind"] == "acknowledged")
    assert event["data"]["delivery_confirmed"] is True
    assert event["data"]["message_id"] == server.messages[0]["Message-ID"]


async def test_mail_server_down_after_the_local_attempts_carries_on_as_a_visible_activity_and_sends_once(
    settings, temporal, engine,
):
    """An email goes out as a local activity; if the mail server is still down after its few
    attempts, it is retried as a regular activity, which operations see pending in the Temporal UI
    with its last failure. When the server comes back the step finishes, once."""
    port = free_port()  # nothing listens here yet: every attempt finds the connection refused
    own = settings.model_copy(update={"task_queue": f"delivery-{uuid.uuid4().hex[:8]}", "smtp_port": port})
    server = Mailbox()
    async with own_stack(own, temporal, engine) as api:
        case = await register(api)
        ref = case["reference"]
        await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL"})
        pending = asyncio.create_task(step(api, ref, "acknowledge", "drafter", {"channel": "email"}))
        handle = temporal.get_workflow_handle(ref)
        waiting: list = []
        for _ in range(120):  # the local attempts take about 7 s, then the activity's first
            await asyncio.sleep(0.5)
            waiting = list((await handle.describe()).raw_description.pending_activities)
            if waiting and waiting[0].last_failure.message:
                break
        assert not pending.done()
        controller = Controller(server, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            acknowledged = await pending
        finally:
            controller.stop()
        history = await handle.fetch_history()

    assert [a.activity_type.name for a in waiting] == ["dispatch_correspondence"]
    assert "refused" in waiting[0].last_failure.message.lower()
    assert acknowledged["stage"] == "clarification"
    assert len(server.messages) == 1
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled == ["dispatch_correspondence"]


class RefusesGone(Mailbox):
    """An SMTP server with no mailbox for gone@...: "550 No such user"."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        if address.startswith("gone@"):
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_address_the_mail_server_refuses_fails_the_step_and_leaves_the_case_as_it_was(
    settings, temporal, engine,
):
    server = RefusesGone()
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    own = settings.model_copy(update={"task_queue": f"delivery-{uuid.uuid4().hex[:8]}",
                                      "smtp_port": controller.port})
    try:
        async with own_stack(own, temporal, engine) as api:
            case = await register(api, correspondents=[{"name": "Gone Away", "email": "gone@example.net",
                                                        "address_lines": ["2 Low Road"]}])
            ref = case["reference"]
            await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL"})
            refused = await step(api, ref, "acknowledge", "drafter", {"channel": "email"}, expect=422)
            unchanged = (await api.get(case_path(ref), headers=auth("drafter"))).json()
            by_post = await step(api, ref, "acknowledge", "drafter", {"channel": "letter"})
            timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    finally:
        controller.stop()

    assert refused["detail"][0]["loc"][-1] == "channel" and "550" in refused["detail"][0]["msg"]
    assert unchanged["stage"] == "acknowledgement" and unchanged["documents"] == []
    assert server.messages == []
    assert by_post["stage"] == "clarification"
    assert [e["kind"] for e in timeline].count("acknowledged") == 1
    assert "post room" in next(e for e in timeline if e["kind"] == "acknowledged")["summary"]


async def test_a_reading_session_hands_its_connection_back_transactional(settings):
    """The activity reads outside a transaction (casework.platform.db.reading); the outbox claim and record
    that follow, on the same pooled connection, must still be all or nothing."""
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)  # one connection
    sessionmaker = make_sessionmaker(engine)
    code = f"T{uuid.uuid4().hex[:8]}"
    try:
        async with reading(sessionmaker) as session:
            assert await session.scalar(select(Team.name).where(Team.code == code)) is None
        with pytest.raises(RuntimeError):
            async with sessionmaker() as session, session.begin():
                session.add(Team(code=code, name="Never"))
                await session.flush()
                raise RuntimeError("a failure after the write")
        async with reading(sessionmaker) as session:
            assert await session.scalar(select(Team.name).where(Team.code == code)) is None
    finally:
        await dispose_engine(engine)


async def test_an_unconfirmed_email_is_visible_until_confirmed_or_resent(settings, temporal, engine, mailbox):
    """An email whose send was interrupted is never sent again on its own: the case shows it
    awaiting confirmation (the case, search), offers confirm or resend, and records either."""
    _, crash_after_each_first_send = crash_after_each_first("the SMTP server took the message")
    own = settings.model_copy(update={"task_queue": f"delivery-{uuid.uuid4().hex[:8]}"})
    async with own_stack(own, temporal, engine, after_smtp_send=crash_after_each_first_send) as api:
        case = await register(api)
        ref = case["reference"]
        await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
        acknowledged = await step(api, ref, "acknowledge", "drafter", {"channel": "email"})
        [pending] = acknowledged["unconfirmed_deliveries"]
        assert pending["purpose"] == "acknowledgement" and pending["recipient"] == case["correspondents"][0]["email"]
        assert {"confirm_delivery", "resend_delivery"} <= set(acknowledged["allowed_actions"])
        assert "confirm_delivery" not in case["allowed_actions"]  # nothing awaited then

        found = await api.get("/search/cases", params={"unconfirmed_delivery": "true", "reference": ref},
                              headers=auth("coordinator"))
        assert [c["reference"] for c in found.json()["items"]] == [ref]

        stats = (await api.get("/statistics/teams", params={"team": "CENTRAL"}, headers=auth("coordinator"))).json()
        assert stats["teams"][0]["unconfirmed_deliveries"] >= 1

        deliveries = f"{case_path(ref)}/deliveries/{pending['id']}"
        # The case does not close with what became of an email unsettled: it could not be settled after.
        closing = await api.post(f"{case_path(ref)}/close", json={"reason": "withdrawn", "note": "Withdrawn"},
                                 headers=auth("coordinator"))
        assert closing.status_code == 409 and "awaits confirmation" in closing.text
        refused = await api.post(f"{deliveries}/confirm", json={"note": "  "}, headers=auth("drafter"))
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "note"
        resent = await api.post(f"{deliveries}/resend", json={"reason": "the complainant says nothing came"},
                                headers=auth("drafter"))
        assert resent.status_code == 200, resent.text
        # The resend was interrupted too (the hook crashes each email's first send): awaiting again.
        [again] = resent.json()["unconfirmed_deliveries"]
        assert again["id"] != pending["id"]
        confirmed = await api.post(f"{case_path(ref)}/deliveries/{again['id']}/confirm",
                                   json={"note": "the complainant confirmed by phone"}, headers=auth("drafter"))
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["unconfirmed_deliveries"] == []
        assert "confirm_delivery" not in confirmed.json()["allowed_actions"]
        gone = await api.post(f"{deliveries}/confirm", json={"note": "again"}, headers=auth("drafter"))
        assert gone.status_code == 422 and gone.json()["detail"][0]["loc"][-1] == "delivery_id"
        timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
        found = await api.get("/search/cases", params={"unconfirmed_delivery": "true", "reference": ref},
                              headers=auth("coordinator"))

    kinds = [e["kind"] for e in timeline]
    assert kinds.count("delivery_resent") == 1 and kinds.count("delivery_confirmed") == 1
    resend_event = next(e for e in timeline if e["kind"] == "delivery_resent")
    assert resend_event["reason"] == "the complainant says nothing came"
    assert resend_event["data"]["resent_document_id"] == pending["id"]
    assert len(mailbox.to(case["correspondents"][0]["email"])) == 2  # the first, and the resend
    assert found.json()["items"] == []
