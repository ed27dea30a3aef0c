"""The clients of `make chaos` (devtools/chaos.py): how a client takes a case of each kind from
registration to closed, registered with `@walk(kind, emails=..., requests=...)`, and `CaseClient`,
which sends each request with an Idempotency-Key and repeats what did not get through (after a
503/504, waiting its Retry-After, or a dropped connection), as a real client would.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import httpx

from casework.calendar.deadlines import case_today
from casework.platform.config import PROJECT_ROOT
from devtools import demo

if TYPE_CHECKING:
    from devtools.chaos import Sink

# A dropped connection or a 5xx that names no Retry-After is repeated after this long.
DEFAULT_RETRY_SECONDS = 2.0
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# A shipped template stands in for the drafter's document, as in the README's walk.
SHIPPED_RESPONSE = PROJECT_ROOT / "templates" / "letters" / "response.docx"


WalkRun = Callable[["CaseClient"], Awaitable[None]]


@dataclass(frozen=True)
class Walk:
    """How a client takes a case of `kind` from registration to closed.

    `emails` is how many emails of each purpose each case of the walk sends, in the order the walk
    makes them (a stage-2 case after its first); each must arrive exactly once. `requests` is about
    how many requests it makes, to spread the faults over the run."""

    kind: str
    run: WalkRun
    emails: tuple[dict[str, int], ...]
    requests: int


WALKS: dict[str, Walk] = {}


def walk(kind: str, *, emails: tuple[dict[str, int], ...], requests: int) -> Callable[[WalkRun], WalkRun]:
    """Register the walk of a kind of case (one per kind)."""

    def register(run: WalkRun) -> WalkRun:
        if kind in WALKS:
            raise ValueError(f"kind {kind!r} already has a chaos walk")
        WALKS[kind] = Walk(kind, run, emails, requests)
        return run

    return register


@walk("complaint", emails=({"acknowledgement": 1, "response": 1}, {}), requests=11)
async def complaint_walk(case: CaseClient) -> None:
    today = case_today(datetime.now(timezone.utc))
    tag = uuid.uuid4().hex[:8]
    await case.register("handler", {
        "case_type": "COMP", "channel": "email", "category": "Billing", "severity": "medium",
        "description": "Charged twice for March.", "date_received": (today - timedelta(days=1)).isoformat(),
        "correspondents": [{"name": f"Chaos Citizen {tag}", "email": f"chaos.{tag}@example.net",
                            "address_lines": ["1 High Street", "Anytown"], "postcode": "AB1 2CD"}],
    })
    await case.step("allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    await case.step("acknowledge", "drafter", {"channel": "email"})
    await case.upload_draft("drafter", "response.docx", SHIPPED_RESPONSE.read_bytes())
    await case.step("submit-draft", "drafter")
    await case.step("qa/approve", "qa")
    await case.step("send", "drafter", {"channel": "email"})
    await case.step("outcome", "drafter", {"outcome": "not upheld", "detail": "No fault found"})
    await case.step("close", "drafter", {"reason": "response sent"})
    await case.escalate("manager", {"reason": "The complainant is not satisfied"})
    await case.step("close", "manager", {"reason": "withdrawn", "note": "Withdrawn by phone"})


@walk("customer_complaint", emails=({"task_assigned": 1},), requests=9)
async def customer_complaint_walk(case: CaseClient) -> None:
    """A demo customer's complaint with a sales adjustment (no invoice: walks run side by side, and
    one invoice's claims are capped at its total), planned, decided, fulfilled and posted."""
    await case.register("handler", {
        "customer": "CUST-1001", "working_name": "Chaos chairs", "description": "Two chairs broken.",
        "reason": "damaged_goods", "sales_adjustment_required": True, "company": "Casework Ltd",
        "counterparty": "CUST-1001", "contract": "CON-2001", "amount": "10.00", "currency": "GBP",
    }, path="/customer-complaints")
    await case.step("allocate", "coordinator", {"team": "SERVICE", "assignee": "handler"})
    due = (case_today(datetime.now(timezone.utc)) + timedelta(days=3)).isoformat()
    planned = await case.step("tasks", "handler", {"title": "Inspect the chairs", "assignee": "handler",
                                                   "team": "SERVICE", "due_date": due})
    await case.step("plan", "handler", {"comment": "Inspect, then refund"})
    await case.step(f"tasks/{planned['tasks'][0]['id']}/complete", "handler", {"result": "Two broken"})
    await case.step("review-results", "handler", {"text": "Inspected: two chairs broken in transit."})
    await case.step("decide-claim", "manager", {"outcome": "accepted"})
    await case.step("fulfil", "handler", {})
    await case.step("post", "manager")


LEAD_LISTS = (("lead_complaint_types", "service_issue", {"label": "Service Issue"}),
              ("lead_resolution_types", "upheld", {"label": "Upheld"}),
              ("lead_resolutions", "apology", {"label": "Apology given", "parent": "upheld"}))


@walk("lead_complaint", emails=({"task_assigned": 1},), requests=10)
async def lead_complaint_walk(case: CaseClient) -> None:
    for name, code, body in LEAD_LISTS:  # what an administrator sets up first (idempotent)
        await case.put(f"/admin/lists/{name}/{code}", "admin", body)
    await case.register("agent", {"lead": "L-5001", "complaint_type": "service_issue",
                                  "description": "Called five times in one day."}, path="/lead-complaints")
    await case.step("notes", "agent", {"text": "The lead called back."})
    await case.step("take", "compliance", {})
    await case.step("dispute", "compliance", {"reason": "Needs a manager's decision."})
    await case.step("dispute/take", "manager")
    await case.step("dispute/change", "manager", {"resolution_type": "upheld", "resolution": "apology"})
    await case.step("close", "compliance", {"reason": "resolved"})


SYNCED = (200, 201)  # created, or (a retry) found as it was


@walk("lead_return", emails=({"return_decision": 2},), requests=7)
async def lead_return_walk(case: CaseClient) -> None:
    """A partner returns a fresh lead of a fresh group with a reason of its own; a manager accepts."""
    tag = uuid.uuid4().hex[:8]
    group, lead = f"LG-CHAOS-{tag}", f"L-CHAOS-{tag}"
    await case.send("PUT", "/admin/lists/lead_return_reasons/duplicate", "admin", json={"label": "Duplicate lead"},
                     expect=SYNCED)
    await case.send("PUT", f"/lead-groups/{group}", "integration", json={"name": f"Chaos {tag}"}, expect=SYNCED)
    await case.send("PUT", f"/lead-returns/settings/{group}", "manager", json={
        "enabled": True, "partners_may_start": True, "allow_other": True, "notify_user": "manager"})
    await case.send("PUT", f"/leads/{lead}", "integration", expect=SYNCED, json={
        "name": f"Chaos Lead {tag}", "lead_group": group, "introducer": "P-ACME", "referral_partner": "P-CEDAR",
        "status": "referred", "referred_at": datetime.now(timezone.utc).isoformat(), "billing_point": "referral"})
    await case.send("POST", f"/leads/{lead}/transactions", "integration", expect=SYNCED, json={
        "partner": "P-CEDAR", "kind": "referral_fee", "currency": "GBP", "amount": "150.00"})
    await case.register("partner-cedar", {"reason": "other", "other_reason": "Never answered"},
                        path=f"/leads/{lead}/returns")
    await case.step("decide", "manager", {"decision": "accept", "notes": "Agreed", "lead_status": "returned"})


@walk("frontline", emails=({"task_assigned": 2},), requests=4)  # the follow-up and repeat tasks
async def frontline_walk(case: CaseClient) -> None:
    tag = uuid.uuid4().hex[:8]
    contact = {"channel": "phone", "issue": "Broadband", "summary": "The line keeps dropping.", "department": "SERVICE",
               "complainant": {"name": f"Chaos Caller {tag}", "email": f"caller.{tag}@example.net"}}
    first = await case.send("POST", "/frontline/contacts", "handler", json=contact, expect=201)
    case.references.append(first["reference"])
    await case.step("investigate", "handler", {"note": "Needs the network team"})
    # The customer rings again and reaches another agent: the contact goes to the owner's case.
    await case.send("POST", "/frontline/contacts", "manager", json={**contact, "channel": "live_chat"})
    await case.step("follow-up", "handler", {"satisfied": True, "note": "Working now",
                                             "resolution": "Line fault fixed"})


# ---- the client ---------------------------------------------------------------------------------


class WalkFailed(Exception):
    """The API gave an answer a retry cannot change (a 4xx): the case is left where it is."""


@dataclass
class Tally:
    """What every client saw, and the faults as they happened."""

    answered: int = 0
    progressed: asyncio.Event = field(default_factory=asyncio.Event)  # set on every answer
    retried: Counter[str] = field(default_factory=Counter)  # "503", "504", "connection"
    dropped: Counter[str] = field(default_factory=Counter)  # httpx's error, for each dropped connection
    bare_5xx: list[str] = field(default_factory=list)  # a 5xx without Retry-After: what and where
    failures: list[str] = field(default_factory=list)
    deliveries_confirmed: int = 0
    deliveries_resent: int = 0
    faults: list[str] = field(default_factory=list)


class CaseClient:
    """One walk's client: drives its case (and any case it leads to, such as a stage-2 case) through
    the API, and repeats what did not get through."""

    def __init__(self, walk: Walk, http: httpx.AsyncClient, tally: Tally, sink: Sink, think: float) -> None:
        self.walk = walk
        self.http = http
        self.tally = tally
        self.sink = sink
        self.think = think
        self.references: list[str] = []  # the walk's cases, the one it is on last
        self.closed = False

    @property
    def reference(self) -> str | None:
        return self.references[-1] if self.references else None

    async def register(self, user: str, body: dict[str, Any], path: str = "/cases") -> dict[str, Any]:
        """Register a case (`path`: the kind's registration route, /cases for a complaint)."""
        case = await self.send("POST", path, user, json=body, expect=201)
        self.references.append(case["reference"])
        return case

    async def escalate(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        """Escalate the (closed) case; the walk goes on with the stage-2 case."""
        case = await self.send("POST", f"/cases/{self.reference}/escalate", user, json=body, expect=201)
        self.references.append(case["reference"])
        self.closed = False
        return case

    async def step(self, action: str, user: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        case = await self.send("POST", f"/cases/{self.reference}/{action}", user, json=body or {})
        await self._settle_deliveries(case, user)
        self.closed = case.get("status") == "closed"
        return case

    async def put(self, path: str, user: str, body: dict[str, Any]) -> dict[str, Any]:
        """A PUT that creates or replaces (an administrator's setting): 200 or 201 both do."""
        return await self.send("PUT", path, user, json=body, expect=(200, 201))

    async def upload_draft(self, user: str, filename: str, content: bytes) -> dict[str, Any]:
        files = {"file": (filename, content, DOCX)}
        return await self.send("POST", f"/cases/{self.reference}/documents", user, files=files,
                                data={"kind": "draft"})

    async def _settle_deliveries(self, case: dict[str, Any], user: str) -> None:
        """An email whose send was cut short is confirmed or sent again, as the operations manual
        says: the mail server's log (here, the sink) tells which."""
        for delivery in case.get("unconfirmed_deliveries", []):
            path = f"/cases/{self.reference}/deliveries/{delivery['id']}"
            if self.sink.received(delivery["message_id"]):
                await self.send("POST", f"{path}/confirm", user, json={"note": "in the mail server's log"})
                self.tally.deliveries_confirmed += 1
            else:
                resent = await self.send("POST", f"{path}/resend", user,
                                          json={"reason": "not in the mail server's log"})
                self.tally.deliveries_resent += 1
                await self._settle_deliveries(resent, user)  # the resend may have been cut short too

    async def send(self, method: str, path: str, user: str, *, expect: int | tuple[int, ...] = 200,
                    **kwargs: Any) -> dict[str, Any]:
        expected = (expect,) if isinstance(expect, int) else expect
        await asyncio.sleep(random.uniform(0, self.think))
        headers = {"Authorization": f"Bearer {demo.demo_token(user)}", "Idempotency-Key": str(uuid.uuid4())}
        while True:
            try:
                answer = await self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                self.tally.retried["connection"] += 1
                self.tally.dropped[type(exc).__name__] += 1
                await asyncio.sleep(DEFAULT_RETRY_SECONDS)
                continue
            if answer.status_code in expected:
                self.tally.answered += 1
                self.tally.progressed.set()
                return answer.json()
            if answer.status_code >= 500:
                retry_after = answer.headers.get("Retry-After")
                if retry_after is None:
                    self.tally.bare_5xx.append(f"{answer.status_code} {method} {path}: {answer.text[:200]}")
                self.tally.retried[str(answer.status_code)] += 1
                await asyncio.sleep(float(retry_after) if retry_after else DEFAULT_RETRY_SECONDS)
                continue
            raise WalkFailed(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
