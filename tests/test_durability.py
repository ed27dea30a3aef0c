"""Kill the worker mid-case: the case carries on with a new worker, nothing lost or sent twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

import httpx
from sqlalchemy import select

from api.main import create_app
from api.uploads import keyed_document_id
from casework.platform.db import AppUser, make_sessionmaker
from tests.casefixtures import DOCX, auth, docx_bytes, register, step, upload_draft, walk_to_draft
from worker import build_worker


async def test_case_finishes_after_worker_restart_with_request_in_flight(settings, temporal, engine,
                                                                         mailbox):
    own = settings.model_copy(update={"task_queue": f"durable-{uuid.uuid4().hex[:8]}"})
    app = create_app(own, temporal=temporal, engine=engine)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver", timeout=120) as api:
            first = build_worker(temporal, own, make_sessionmaker(engine))
            async with first:
                case = await register(api)
                ref = case["reference"]
                await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
            # No worker now: the acknowledgement waits, durably, for one to come back.
            pending = asyncio.create_task(
                api.post(f"/cases/{ref}/acknowledge", json={"channel": "email"},
                         headers=auth("drafter", **{"Idempotency-Key": "ack-during-outage"})))
            await asyncio.sleep(1.0)
            assert not pending.done()
            # The new worker replays every task from history, and with the other runner: the first
            # ran the default (Temporal's sandbox), this one the opt-in lean-unsandboxed, so changing
            # WORKFLOW_RUNNER on a deployment with open cases is safe.
            other = own.model_copy(update={"workflow_runner": "lean-unsandboxed"})
            assert own.workflow_runner != other.workflow_runner
            second = build_worker(temporal, other, make_sessionmaker(engine), max_cached_workflows=0)
            async with second:
                acknowledged = await pending
                assert acknowledged.status_code == 200, acknowledged.text
                assert acknowledged.json()["stage"] == "clarification"
                # The client retries after the outage: still one acknowledgement.
                await step(api, ref, "acknowledge", "drafter", {"channel": "email"},
                           **{"Idempotency-Key": "ack-during-outage"})
                await upload_draft(api, ref)
                await step(api, ref, "submit-draft", "drafter")
                await step(api, ref, "qa/approve", "qa")
                await step(api, ref, "send", "drafter", {"channel": "email"})
                await step(api, ref, "outcome", "drafter", {"outcome": "not upheld", "detail": "No fault"})
                closed = await step(api, ref, "close", "drafter", {"reason": "response sent"})
    assert closed["status"] == "closed"
    received = mailbox.to(case["correspondents"][0]["email"])
    assert len(received) == 2  # one acknowledgement, one response: nothing sent twice
    assert sum("received" in m["Subject"].lower() for m in received) == 1


async def test_a_retried_upload_adds_the_document_its_first_attempt_named(api, sessionmaker):
    """A draft sent again with its Idempotency-Key is the same document, id and all: the retry may be
    the attempt that reaches the workflow while PostgreSQL holds the first one's projection (its
    workflow task lost to a Temporal restart; found by make chaos)."""
    ref = (await walk_to_draft(api))["reference"]

    def upload(key: str) -> Awaitable[httpx.Response]:
        files = {"file": ("response.docx", docx_bytes("Dear complainant"), DOCX)}
        return api.post(f"/cases/{ref}/documents", files=files, data={"kind": "draft"},
                        headers=auth("drafter", **{"Idempotency-Key": key}))

    first, again, other = await upload("draft-1"), await upload("draft-1"), await upload("draft-2")
    drafts = [[d["id"] for d in answer.json()["documents"] if d["kind"] == "draft"]
              for answer in (first, again, other)]
    assert drafts[0] == drafts[1] and len(drafts[0]) == 1
    assert len(drafts[2]) == 2 and drafts[2][0] == drafts[0][0]
    async with sessionmaker() as session:
        drafter = await session.scalar(select(AppUser.id).where(AppUser.username == "drafter"))
    assert drafts[0][0] == keyed_document_id(ref, drafter, "draft-1")  # not a new id per attempt
