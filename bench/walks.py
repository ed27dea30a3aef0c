"""One typical walk per kind of case, through the real HTTP API, as the benchmarks drive them.

Each walk is a registration (the request that opens the case) and the steps after it; every one of
those requests is one Update of the case's workflow, so the bare workflow's walk with `updates`
Updates is its baseline. What a case needs that is not a step of it (a lead to return, say) is made
by `prepare`, outside the timing; what an administrator sets up once is in `set_up`.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from docx import Document

from bench.loadgen import LeanClient
from casework.calendar.deadlines import case_today

AUTH = {u: {"Authorization": f"Bearer demo-{u}-token"}
        for u in ("handler", "coordinator", "drafter", "qa", "agent", "compliance", "admin", "manager",
                  "integration", "partner-cedar")}
LEAD_GROUP = "LG-BENCH"


class Caller:
    """Requests to the API, each timed into `latencies` unless `timed` is False."""

    def __init__(self, api: LeanClient, latencies: list[float] | None = None) -> None:
        self.api, self.latencies = api, latencies

    async def __call__(self, url: str, user: str, body: dict | None = None, *, method: str = "POST",
                       timed: bool = True, **kwargs: Any) -> dict:
        started = time.perf_counter()
        response = await self.api.request(method, url, headers=AUTH[user],
                                          json=body if "files" not in kwargs else None, **kwargs)
        if timed and self.latencies is not None:
            self.latencies.append(time.perf_counter() - started)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.text}")
        return response.json()


Register = Callable[[Caller, Any], Awaitable[str]]  # (caller, what prepare made) -> the case's reference
Steps = Callable[[Caller, str], Awaitable[None]]


@dataclass(frozen=True)
class Walk:
    kind: str
    describes: str
    updates: int  # requests to the case, registration included: the bare walk's Updates
    register: Register
    steps: Steps
    prepare: Callable[[Caller], Awaitable[Any]] | None = None

    async def walk(self, api: LeanClient, latencies: list[float] | None = None, prepared: Any = None) -> None:
        call = Caller(api, latencies)
        if self.prepare is not None and prepared is None:
            prepared = await self.prepare(Caller(api))
        await self.steps(call, await self.register(call, prepared))

    async def open(self, api: LeanClient) -> str:
        """Only the registration: an open case (its preparation untimed)."""
        call = Caller(api)
        return await self.register(call, await self.prepare(call) if self.prepare else None)


def _draft() -> bytes:
    document = Document()
    document.add_paragraph("We have investigated your complaint and uphold it.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


DRAFT = _draft()


def _today():
    return case_today(datetime.now(timezone.utc))


def _tag() -> str:
    return uuid.uuid4().hex[:8]


# ---- complaint (F1): registration to closure, 9 requests ----------------------------------------

async def complaint_register(call: Caller, _: Any) -> str:
    tag = _tag()
    case = await call("/cases", "handler", {
        "channel": "email", "category": "Billing", "severity": "low",
        "description": "Charged twice", "date_received": _today().isoformat(),
        "correspondents": [{"name": f"Bench {tag}", "email": f"bench.{tag}@example.net",
                            "address_lines": ["1 High St"], "postcode": "AB1 2CD"}]})
    return case["reference"]


async def complaint_steps(call: Caller, reference: str) -> None:
    path = f"/cases/{reference}"
    await call(f"{path}/allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    await call(f"{path}/acknowledge", "drafter", {"channel": "email"})
    await call(f"{path}/documents", "drafter", data={"kind": "draft"}, files={"file": ("draft.docx", DRAFT)})
    await call(f"{path}/submit-draft", "drafter", {})
    await call(f"{path}/qa/approve", "qa", {})
    await call(f"{path}/send", "drafter", {"channel": "email"})
    await call(f"{path}/outcome", "drafter", {"outcome": "upheld", "detail": "Refunded"})
    await call(f"{path}/close", "drafter", {"reason": "response sent"})


# ---- lead complaint (F2): filed → commented → resolved ----------------------------------------

LEAD_LISTS = (("lead_complaint_types", "service_issue", {"label": "Service Issue"}),
              ("lead_resolution_types", "rejected", {"label": "Rejected"}),
              ("lead_resolutions", "incomplete_profile", {"label": "Incomplete Profile", "parent": "rejected"}),
              ("lead_return_reasons", "duplicate", {"label": "Duplicate lead"}))


async def lead_complaint_register(call: Caller, _: Any) -> str:
    case = await call("/lead-complaints", "agent", {"lead": "L-5001", "complaint_type": "service_issue",
                                                    "description": f"Bench {_tag()}"})
    return case["reference"]


async def lead_complaint_steps(call: Caller, reference: str) -> None:
    path = f"/cases/{reference}"
    await call(f"{path}/notes", "agent", {"text": "More details from the lead."})
    await call(f"{path}/resolve", "compliance", {"resolution_type": "rejected", "resolution": "incomplete_profile"})


# ---- lead return (F5): requested → accepted, the lead's fee and commission reversed ----------

async def lead_return_prepare(call: Caller) -> str:
    """A fresh lead with a referral fee and an introducer's commission: one return per lead."""
    lead = f"L-BENCH-{_tag()}"
    await call(f"/leads/{lead}", "integration", {
        "name": f"Bench lead {lead}", "lead_group": LEAD_GROUP, "introducer": "P-ACME",
        "referral_partner": "P-CEDAR", "status": "referred", "billing_point": "referral",
        "referred_at": datetime.now(timezone.utc).isoformat()}, method="PUT", timed=False)
    for partner, kind, amount in (("P-CEDAR", "referral_fee", "150.00"), ("P-ACME", "introducer_commission", "-40.00")):
        await call(f"/leads/{lead}/transactions", "integration",
                   {"partner": partner, "kind": kind, "currency": "GBP", "amount": amount}, timed=False)
    return lead


async def lead_return_register(call: Caller, lead: str) -> str:
    case = await call(f"/leads/{lead}/returns", "partner-cedar", {"reason": "other", "other_reason": "Never answered"})
    return case["reference"]


async def lead_return_steps(call: Caller, reference: str) -> None:
    await call(f"/cases/{reference}/decide", "manager", {"decision": "accept", "notes": "Agreed",
                                                         "lead_status": "returned"})


# ---- customer complaint (F3): registered → planned → fulfilled → posted ------------------------

async def customer_complaint_register(call: Caller, _: Any) -> str:
    case = await call("/customer-complaints", "handler", {
        "customer": "CUST-1001", "working_name": "Bench chairs", "description": "Two chairs broken.",
        "reason": "damaged_goods", "sales_adjustment_required": True, "company": "Casework Ltd",
        "counterparty": "CUST-1001", "contract": "CON-2001", "amount": "10.00", "currency": "GBP"})
    return case["reference"]


async def customer_complaint_steps(call: Caller, reference: str) -> None:
    path = f"/cases/{reference}"
    await call(f"{path}/allocate", "coordinator", {"team": "SERVICE", "assignee": "handler"})
    due = (_today() + timedelta(days=3)).isoformat()
    planned = await call(f"{path}/tasks", "handler", {"title": "Inspect the chairs", "assignee": "handler",
                                                      "team": "SERVICE", "due_date": due})
    await call(f"{path}/plan", "handler", {"comment": "Inspect, then refund"})
    await call(f"{path}/tasks/{planned['tasks'][0]['id']}/complete", "handler", {"result": "Two broken"})
    await call(f"{path}/review-results", "handler", {"text": "Inspected: two chairs broken in transit."})
    await call(f"{path}/decide-claim", "manager", {"outcome": "accepted"})
    await call(f"{path}/fulfil", "handler", {})
    await call(f"{path}/post", "manager", {})


# ---- frontline (F4): resolved at first contact; followed up ------------------------------------

def _contact(**extra: Any) -> dict:
    tag = _tag()
    return {"channel": "phone", "issue": "Broadband", "summary": "The line keeps dropping.", "department": "SERVICE",
            "complainant": {"name": f"Bench Caller {tag}", "email": f"caller.{tag}@example.net"}, **extra}


async def frontline_open(call: Caller, _: Any) -> str:
    return (await call("/frontline/contacts", "handler", _contact()))["reference"]


async def frontline_resolved(call: Caller, _: Any) -> str:
    return (await call("/frontline/contacts", "handler",
                       _contact(resolution="Reset the router remotely; working now.")))["reference"]


async def no_steps(call: Caller, reference: str) -> None:
    return None


async def frontline_follow_up(call: Caller, reference: str) -> None:
    path = f"/cases/{reference}"
    await call(f"{path}/investigate", "handler", {"note": "Needs the network team"})
    await call(f"{path}/follow-up", "handler",
               {"satisfied": True, "note": "Working now", "resolution": "Line fault fixed"})


WALKS: dict[str, Walk] = {w.kind: w for w in (
    Walk("complaint", "registered → allocated → acknowledged → drafted → QA → sent → outcome → closed", 9,
         complaint_register, complaint_steps),
    Walk("lead_complaint", "filed → commented → resolved", 3, lead_complaint_register, lead_complaint_steps),
    Walk("lead_return", "requested → accepted with reversal", 2, lead_return_register, lead_return_steps,
         prepare=lead_return_prepare),
    Walk("customer_complaint", "registered → planned → fulfilled → posted", 9,
         customer_complaint_register, customer_complaint_steps),
    Walk("frontline_first_contact", "contact resolved at first contact", 1, frontline_resolved, no_steps),
    Walk("frontline_follow_up", "contact → investigated → followed up", 3, frontline_open, frontline_follow_up),
)}
# An open case of each kind, for the memory scenario: its registration only.
OPENS: dict[str, Walk] = {"complaint": WALKS["complaint"], "lead_complaint": WALKS["lead_complaint"],
                          "lead_return": WALKS["lead_return"], "customer_complaint": WALKS["customer_complaint"],
                          "frontline": WALKS["frontline_follow_up"]}


async def set_up(api: LeanClient) -> None:
    """What an administrator does once: the lists the walks pick from, a lead group allowing returns."""
    call = Caller(api)
    for name, code, body in LEAD_LISTS:
        await call(f"/admin/lists/{name}/{code}", "admin", body, method="PUT")
    await call(f"/lead-groups/{LEAD_GROUP}", "integration", {"name": "Bench leads"}, method="PUT")
    await call(f"/lead-returns/settings/{LEAD_GROUP}", "manager", {
        "enabled": True, "partners_may_start": True, "allow_other": True, "notify_user": "manager"}, method="PUT")
