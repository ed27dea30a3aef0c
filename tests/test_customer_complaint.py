"""Customer complaints (F3) through the HTTP API on the real services: the walk from an invoice to
a posted adjustment, the required adjustment fields, the over-claim race, reasons picked or
created, the fulfilment refused while a task is open, and a refused posting compensated."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
from sqlalchemy import func, select
from temporalio import activity
from temporalio.worker import Worker

from activities import build_activities
from activities.customer_complaint import AdjustmentActivities
from api.main import create_app
from casework.calendar.deadlines import case_today
from casework.cases.stages import EngineAction, Rejection, Route, destination, route_action
from casework.kinds.customer_complaint.rules import CUSTOMER_COMPLAINT_PLAN, RULES, Action
from casework.platform.db import make_sessionmaker
from casework.platform.workflow_runner import build_workflow_runner
from casework.tables.customer_complaint import InvoiceClaim, SalesAdjustment
from tests.casefixtures import auth, case_path, keep_history, step
from worker import build_worker
from workflows.registry import WORKFLOWS

SYNC = auth("integration")


def tag() -> str:
    return uuid.uuid4().hex[:8]


def today() -> str:
    return case_today(datetime.now(timezone.utc)).isoformat()


def tomorrow() -> str:
    return (case_today(datetime.now(timezone.utc)) + timedelta(days=3)).isoformat()


async def put(api, path: str, body: dict) -> None:
    response = await api.put(path, json=body, headers=SYNC)
    assert response.status_code in (200, 201), response.text


async def records(api, total: str = "100.00", currency: str = "GBP") -> dict:
    """A customer with a contact, a contract and an invoice on it; and another customer's contract."""
    t = tag()
    ids = {"customer": f"C-{t}", "other": f"C-{t}-o", "contract": f"K-{t}", "other_contract": f"K-{t}-o",
           "invoice": f"I-{t}"}
    await put(api, f"/customers/{ids['customer']}", {"kind": "organisation", "name": f"Northwind {t}",
                                                      "email": f"northwind.{t}@example.net",
                                                      "contacts": [{"name": "Nadia North", "role": "finance"}]})
    await put(api, f"/customers/{ids['other']}", {"kind": "organisation", "name": f"Other {t}"})
    await put(api, f"/contracts/{ids['contract']}", {"customer": ids["customer"], "number": f"N-{t}",
                                                     "currency": currency, "starts_on": "2026-01-01"})
    await put(api, f"/contracts/{ids['other_contract']}", {"customer": ids["other"], "number": f"O-{t}",
                                                           "currency": currency, "starts_on": "2026-01-01"})
    await put(api, f"/invoices/{ids['invoice']}", {"number": f"INV-{t}", "customer": ids["customer"],
                                                   "contract": ids["contract"], "issued_on": "2026-11-01",
                                                   "currency": currency, "total": total})
    return ids


def from_invoice(**overrides) -> dict:
    return {"description": "Two of the ten chairs arrived broken.", "reason": "damaged_goods",
            "company": "Casework Ltd", **overrides}


async def file_from_invoice(api, invoice: str, user: str = "handler", expect: int = 201, **body) -> dict:
    response = await api.post(f"/customer-complaints/from-invoice/{invoice}", json=from_invoice(**body),
                              headers=auth(user))
    assert response.status_code == expect, response.text
    return response.json()


def fields(answer: dict) -> set[str]:
    return {d["loc"][-1] for d in answer["detail"]}


async def timeline(api, ref: str) -> list[dict]:
    return (await api.get(f"{case_path(ref)}/timeline", headers=auth("manager"))).json()


async def add_task(api, ref: str, title: str = "Inspect the returned chairs") -> dict:
    case = await step(api, ref, "tasks", "handler", {"title": title, "team": "SERVICE", "assignee": "handler",
                                                      "due_date": tomorrow()})
    return next(t for t in case["tasks"] if t["title"] == title)


async def test_from_an_invoice_to_a_posted_adjustment_exactly_once(api, sessionmaker, temporal):
    ids = await records(api)
    case = await file_from_invoice(api, ids["invoice"])
    ref, details = case["reference"], case["details"]
    assert ref.startswith("CUST/") and case["stage_label"] == "Registered"
    assert details["customer"] == ids["customer"] and details["invoice"] == ids["invoice"]
    assert details["claim"] == {"company": "Casework Ltd", "counterparty": ids["customer"],
                                "contract": ids["contract"], "amount": "100.00", "currency": "GBP",
                                "invoice": ids["invoice"]}
    assert details["sales_adjustment_required"] is True
    assert {p["external_id"] for p in case["parties"]} == {ids["customer"]}

    # Assign the unit and employee in charge (the employee must belong to the unit), and re-assign.
    refused = await step(api, ref, "allocate", "coordinator", {"team": "SERVICE", "assignee": "drafter"}, expect=422)
    assert "not a member" in refused["detail"][0]["msg"]
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "coordinator"})
    case = await step(api, ref, "allocate", "manager", {"team": "SERVICE", "assignee": "handler"})
    assert case["team"] == "SERVICE" and case["assignee_name"] == "Hana Handler" and case["stage"] == "registered"

    # Planned only once an action plan exists.
    refused = await step(api, ref, "plan", "handler", {"comment": "Inspect, then refund"}, expect=409)
    assert "add a task first" in refused["detail"]["message"]
    task = await add_task(api, ref)
    mine = (await api.get("/tasks", headers=auth("handler"))).json()
    assert any(t["id"] == task["id"] for t in mine)  # on the employee in charge's task list
    case = await step(api, ref, "plan", "handler", {"comment": "Inspect, then refund"})
    assert case["stage_label"] == "Planned" and case["details"]["plan_comment"] == "Inspect, then refund"

    await step(api, ref, "review-results", "handler", {"text": "Chairs inspected: two broken in transit."})
    case = await step(api, ref, "review-results", "handler", {"text": "Customer accepts a partial refund."})
    assert [(r["version"], r["recorded_by"]) for r in case["details"]["reviews"]] == [
        (1, "Hana Handler"), (2, "Hana Handler")]

    # Fulfilment waits for every task, and for the decision on the claim.
    refused = await step(api, ref, "fulfil", "handler", {}, expect=409)
    assert "still open" in refused["detail"]["message"]
    await step(api, ref, f"tasks/{task['id']}/complete", "handler", {"result": "Two chairs broken"})
    refused = await step(api, ref, "fulfil", "handler", {}, expect=409)
    assert "decide" in refused["detail"]["message"]
    refused = await step(api, ref, "decide-claim", "manager", {"outcome": "partly_accepted", "amount": "100.00"},
                         expect=422)
    assert fields(refused) == {"amount"}
    case = await step(api, ref, "decide-claim", "manager", {"outcome": "partly_accepted", "amount": "20.00"})
    assert case["details"]["decision"]["amount"] == "20.00"
    case = await step(api, ref, "fulfil", "handler", {"end_date": today()})
    assert case["stage_label"] == "Fulfilled" and case["details"]["end_date"] == today()

    key = {"Idempotency-Key": f"post-{tag()}"}
    posted = await step(api, ref, "post", "manager", {}, **key)
    again = await step(api, ref, "post", "manager", {}, **key)  # a retried request: one effect
    assert posted["status"] == "closed" and posted["close_reason"] == "posted"
    assert again["details"]["adjustment"] == posted["details"]["adjustment"]
    adjustment = posted["details"]["adjustment"]
    assert adjustment["status"] == "posted" and adjustment["amount"] == "20.00"
    await step(api, ref, "post", "manager", {}, expect=409)  # closed

    async with sessionmaker() as session:
        rows = (await session.scalars(select(SalesAdjustment).where(SalesAdjustment.case_reference == ref))).all()
    assert [(r.status, r.amount, r.currency, r.invoice) for r in rows] == [
        ("posted", Decimal("20.0000"), "GBP", ids["invoice"])]
    listed = (await api.get("/sales-adjustments", params={"customer": ids["customer"]},
                            headers=auth("manager"))).json()
    assert [(a["number"], a["amount"], a["currency"]) for a in listed] == [(adjustment["number"], "20.00", "GBP")]
    export = await api.get("/sales-adjustments/export", params={"customer": ids["customer"]}, headers=auth("manager"))
    assert export.status_code == 200
    exported = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [(r["number"], r["case_reference"], r["amount"]) for r in exported] == [(adjustment["number"], ref, "20.00")]
    xlsx = await api.get("/sales-adjustments/export", params={"format": "xlsx", "customer": ids["customer"]},
                         headers=auth("manager"))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert (await api.get("/sales-adjustments", headers=auth("handler"))).status_code == 403

    kinds = [e["kind"] for e in await timeline(api, ref)]
    for kind in ("registered", "allocated", "reallocated", "task_added", "planned", "review_recorded",
                 "task_completed", "decided", "fulfilled", "posted", "closed"):
        assert kind in kinds, kind
    assert kinds.count("posted") == 1

    found = (await api.get("/customer-complaints", params={"invoice": ids["invoice"], "team": "SERVICE",
                                                           "reason": "damaged_goods"},
                           headers=auth("manager"))).json()
    assert [c["reference"] for c in found] == [ref]
    await keep_history(temporal, ref, "customer-complaint-posted")


async def test_a_required_adjustment_needs_every_field_each_refused_by_name_and_nothing_written(api):
    ids = await records(api)
    body = {"customer": ids["customer"], "working_name": "Broken chairs", "description": "Broken",
            "reason": "damaged_goods", "sales_adjustment_required": True}
    response = await api.post("/customer-complaints", json=body, headers=auth("handler"))
    assert response.status_code == 422
    assert fields(response.json()) == {"company", "counterparty", "contract", "amount", "currency"}
    wrong = {**body, "company": "Casework Ltd", "counterparty": ids["customer"], "contract": ids["other_contract"],
             "amount": "10.00", "currency": "GBP"}
    response = await api.post("/customer-complaints", json=wrong, headers=auth("handler"))
    assert response.status_code == 422 and fields(response.json()) == {"contract"}
    for amount, currency in (("10.123", "GBP"), ("10.5", "JPY"), ("0.00", "GBP"), ("-5.00", "GBP")):
        bad = {**wrong, "contract": ids["contract"], "amount": amount, "currency": currency}
        response = await api.post("/customer-complaints", json=bad, headers=auth("handler"))
        assert response.status_code == 422 and "amount" in fields(response.json()), (amount, response.text)
    response = await api.post("/customer-complaints", json={**wrong, "contract": ids["contract"], "amount": 10.5},
                              headers=auth("handler"))
    assert response.status_code == 422 and fields(response.json()) == {"amount"}  # a float: never
    found = (await api.get("/customer-complaints", params={"customer": ids["customer"]},
                           headers=auth("manager"))).json()
    assert found == []
    good = {**wrong, "contract": ids["contract"], "parties": [{"customer": ids["other"]},
                                                              {"customer": ids["customer"],
                                                               "contact_persons": ["Nadia North"]}]}
    response = await api.post("/customer-complaints", json=good, headers=auth("handler"))
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["details"]["claim"]["amount"] == "10.00"
    assert {p["external_id"] for p in case["parties"]} == {ids["customer"], ids["other"]}
    assert "Nadia North" in [c["name"] for c in case["correspondents"]]


async def test_claims_on_one_invoice_never_exceed_its_total_even_filed_at_once(api, sessionmaker):
    ids = await records(api, total="100.00")
    answers = await asyncio.gather(*(
        api.post(f"/customer-complaints/from-invoice/{ids['invoice']}", json=from_invoice(amount="30.00"),
                 headers=auth("handler")) for _ in range(5)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 201, 201, 422, 422], [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 422):
        assert fields(refused.json()) == {"amount"}
        assert "at most 10.00 GBP" in refused.json()["detail"][0]["msg"]
    async with sessionmaker() as session:
        claimed = await session.scalar(select(func.sum(InvoiceClaim.amount)).where(
            InvoiceClaim.invoice == ids["invoice"]))
    assert claimed == Decimal("90.0000")
    # What is left can still be claimed, once however often the request is retried; a cent more cannot.
    await file_from_invoice(api, ids["invoice"], amount="10.01", expect=422)
    retried = [await api.post(f"/customer-complaints/from-invoice/{ids['invoice']}", json=from_invoice(amount="10.00"),
                              headers=auth("handler", **{"Idempotency-Key": f"claim-{ids['invoice']}"}))
               for _ in range(2)]
    assert [r.status_code for r in retried] == [201, 201], [r.text for r in retried]
    assert retried[0].json()["reference"] == retried[1].json()["reference"]
    async with sessionmaker() as session:
        claims = (await session.scalars(select(InvoiceClaim.amount).where(
            InvoiceClaim.invoice == ids["invoice"]))).all()
    assert sum(claims) == Decimal("100.0000") and len(claims) == 4


async def test_the_manuals_walk_through_on_the_demo_invoice(api):
    """docs/customer-complaints.md's curl walk, step by step: a demo invoice to an exported adjustment."""
    case = await file_from_invoice(api, "INV-3001", description="The call-out was never made.",
                                   reason="invoice_error", amount="250.00")
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "SERVICE", "assignee": "handler"})
    task = await add_task(api, ref, "Check the engineer log")
    await step(api, ref, "plan", "handler", {"comment": "Check the log, then credit"})
    await step(api, ref, f"tasks/{task['id']}/complete", "handler", {"result": "No call-out on record"})
    await step(api, ref, "review-results", "handler", {"text": "No call-out was made; the customer is owed 250.00."})
    await step(api, ref, "decide-claim", "manager", {"outcome": "accepted"})
    await step(api, ref, "fulfil", "handler")
    posted = await step(api, ref, "post", "manager")
    number = posted["details"]["adjustment"]["number"]
    export = await api.get("/sales-adjustments/export", params={"format": "csv"}, headers=auth("manager"))
    rows = [r for r in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))) if r["case_reference"] == ref]
    assert [(r["number"], r["customer"], r["invoice"], r["amount"], r["currency"]) for r in rows] == [
        (number, "CUST-1001", "INV-3001", "250.00", "GBP")]


async def test_a_reason_is_picked_from_the_list_or_created_by_who_may(api):
    ids = await records(api)
    code = f"r_{tag()}"
    refused = await file_from_invoice(api, ids["invoice"], reason=code, amount="1.00", expect=422)
    assert fields(refused) == {"reason"}
    await file_from_invoice(api, ids["invoice"], reason=code, new_reason_label="Packaging", amount="1.00",
                            expect=403)  # a handler may not add reasons
    case = await file_from_invoice(api, ids["invoice"], user="manager", reason=code, new_reason_label="Packaging",
                                   amount="1.00")
    assert case["details"]["reason"] == code
    offered = (await api.get("/lists/customer_complaint_reasons", headers=auth("handler"))).json()
    assert {"code": code, "label": "Packaging"}.items() <= next(v for v in offered if v["code"] == code).items()
    await file_from_invoice(api, ids["invoice"], reason=code, amount="1.00")  # now anyone picks it


async def test_a_refused_posting_voids_its_draft_and_the_complaint_says_so(api, sessionmaker, temporal):
    ids = await records(api, total="100.00")
    ref = (await file_from_invoice(api, ids["invoice"], amount="80.00"))["reference"]
    await add_task(api, ref)
    await step(api, ref, "plan", "handler", {})
    case = (await api.get(case_path(ref), headers=auth("handler"))).json()
    await step(api, ref, f"tasks/{case['tasks'][0]['id']}/cancel", "handler", {"reason": "not needed"})
    await step(api, ref, "decide-claim", "coordinator", {"outcome": "accepted"})
    await step(api, ref, "fulfil", "handler", {})
    # The ERP corrects the invoice to 50.00 before posting: 80.00 can no longer be credited on it.
    await put(api, f"/invoices/{ids['invoice']}", {"number": "X", "customer": ids["customer"],
                                                  "contract": ids["contract"], "issued_on": "2026-11-01",
                                                  "currency": "GBP", "total": "50.00"})
    case = await step(api, ref, "post", "manager", {})
    assert case["status"] == "open" and case["stage_label"] == "Fulfilled"
    assert case["details"]["adjustment"]["status"] == "voided"
    assert "now totals 50.00 GBP" in case["details"]["adjustment"]["void_reason"]
    failed = [e for e in await timeline(api, ref) if e["kind"] == "posting_failed"]
    assert len(failed) == 1 and "voided" in failed[0]["summary"]
    async with sessionmaker() as session:
        statuses = (await session.scalars(select(SalesAdjustment.status).where(
            SalesAdjustment.case_reference == ref))).all()
    assert statuses == ["voided"]
    await keep_history(temporal, ref, "customer-complaint-posting-voided")


async def test_accepting_above_the_decision_limit_needs_the_permission(api):
    ids = await records(api, total="5000.00")
    ref = (await file_from_invoice(api, ids["invoice"]))["reference"]
    await add_task(api, ref)
    await step(api, ref, "plan", "handler", {})
    refused = await step(api, ref, "decide-claim", "coordinator", {"outcome": "accepted"}, expect=403)
    assert "decide_above_limit" in str(refused)
    await step(api, ref, "decide-claim", "coordinator", {"outcome": "partly_accepted", "amount": "900.00"})
    case = await step(api, ref, "decide-claim", "manager", {"outcome": "accepted"})
    assert case["details"]["decision"]["amount"] == "5000.00"


async def test_a_rejection_emails_its_feedback_and_a_complaint_can_end_not_fulfilled(api, mailbox):
    ids = await records(api)
    ref = (await file_from_invoice(api, ids["invoice"], amount="5.00"))["reference"]
    await add_task(api, ref)
    await step(api, ref, "plan", "handler", {})
    refused = await step(api, ref, "decide-claim", "manager", {"outcome": "rejected"}, expect=422)
    assert fields(refused) == {"feedback"}
    case = await step(api, ref, "decide-claim", "manager",
                      {"outcome": "rejected", "feedback": "The damage happened after delivery.", "channel": "email"})
    assert case["details"]["decision"]["outcome"] == "rejected"
    customer_email = next(c["email"] for c in case["correspondents"] if c["relationship"] == "customer")
    [mail] = [m for m in mailbox.to(customer_email) if ref in str(m["Subject"])]
    assert "The damage happened after delivery." in mail.get_body(("plain",)).get_content()
    closed = await step(api, ref, "close", "manager", {"reason": "not fulfilled", "note": "Claim rejected"})
    assert closed["status"] == "closed" and closed["close_reason"] == "not fulfilled"
    assert all(t["status"] == "cancelled" for t in closed["tasks"])


async def test_posting_happens_once_when_the_worker_dies_mid_post(settings, temporal, engine):
    """The first worker posts the adjustment in PostgreSQL and dies before telling Temporal; the
    next one retries the post, which finds it posted: one adjustment, one posted event."""
    own = settings.model_copy(update={"task_queue": f"f3-post-{tag()}"})
    sessions = make_sessionmaker(engine)
    posting = AdjustmentActivities(sessions)
    posted_in_db = asyncio.Event()

    @activity.defn(name="post_sales_adjustment")
    async def post_then_die(adjustment_id: str):
        result = await posting.post_sales_adjustment(adjustment_id)
        posted_in_db.set()
        await asyncio.Event().wait()  # the worker dies here, before the result reaches Temporal
        return result

    real = build_activities(sessions, own)
    dying = [a for a in real if getattr(a, "__name__", "") != "post_sales_adjustment"] + [post_then_die]
    app = create_app(own, temporal=temporal, engine=engine)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=120) as api:
        first = Worker(temporal, task_queue=own.task_queue, workflows=WORKFLOWS, activities=dying,
                       workflow_runner=build_workflow_runner(own))
        async with first:
            ids = await records(api)
            ref = (await file_from_invoice(api, ids["invoice"], amount="40.00"))["reference"]
            await add_task(api, ref)
            await step(api, ref, "plan", "handler", {})
            case = (await api.get(case_path(ref), headers=auth("handler"))).json()
            await step(api, ref, f"tasks/{case['tasks'][0]['id']}/complete", "handler", {"result": "done"})
            await step(api, ref, "decide-claim", "manager", {"outcome": "accepted"})
            await step(api, ref, "fulfil", "handler", {})
            pending = asyncio.create_task(api.post(f"{case_path(ref)}/post", json={},
                                                   headers=auth("manager", **{"Idempotency-Key": "post-once"})))
            await asyncio.wait_for(posted_in_db.wait(), 60)
        second = build_worker(temporal, own, sessions, max_cached_workflows=0)
        async with second:
            answer = await pending
            assert answer.status_code == 200, answer.text
            retried = await step(api, ref, "post", "manager", {}, **{"Idempotency-Key": "post-once"})
            kinds = [e["kind"] for e in await timeline(api, ref)]
    assert answer.json()["details"]["adjustment"]["status"] == "posted"
    assert retried["details"]["adjustment"] == answer.json()["details"]["adjustment"]
    assert kinds.count("posted") == 1
    async with sessions() as session:
        rows = (await session.scalars(select(SalesAdjustment).where(SalesAdjustment.case_reference == ref))).all()
    assert [(r.status, r.amount) for r in rows] == [("posted", Decimal("40.0000"))]


def test_the_rule_table_as_a_table():
    """Where each of the kind's own steps may be taken, and where it leads."""
    plan = CUSTOMER_COMPLAINT_PLAN
    expected = {  # action: {stage it may be taken at: stage it leads to}
        Action.PLAN: {"registered": "planned"},
        Action.DECIDE: {"planned": "planned"},
        Action.FULFIL: {"planned": "fulfilled"},
        Action.POST: {"fulfilled": "closure"},
    }
    # At any stage (posting closes the case at its closure stage, so nothing is taken there).
    for action in (Action.RECORD_REVIEW, EngineAction.ALLOCATE, EngineAction.ADD_TASK, EngineAction.CLOSE):
        expected[action] = {s: s for s in ("registered", "planned", "fulfilled", "closure")}
    for action, where in expected.items():
        for stage in ("registered", "planned", "fulfilled", "closure"):
            route = route_action(RULES, plan, stage, action)
            if stage in where:
                assert isinstance(route, Route), (action, stage, route)
                assert (destination(RULES, plan, stage, action) or plan.get(stage)).key == where[stage]
            else:
                assert isinstance(route, Rejection) and route.code == "wrong_stage", (action, stage)


async def test_attachments_and_team_statistics(api):
    ids = await records(api)
    upload = await api.post("/uploads", files={"file": ("photo.pdf", b"%PDF-1.4 fake", "application/pdf")},
                            headers=auth("handler"))
    assert upload.status_code == 201, upload.text
    case = await file_from_invoice(api, ids["invoice"], amount="1.00", attachment_ids=[upload.json()["upload_id"]])
    assert [(d["filename"], d["kind"]) for d in case["documents"]] == [("photo.pdf", "attachment")]
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "SERVICE", "assignee": "handler"})
    await add_task(api, ref)
    await step(api, ref, "plan", "handler", {})
    stats = (await api.get("/statistics/teams", params={"case_type": "CUST", "team": "SERVICE"},
                           headers=auth("manager"))).json()
    [service] = stats["teams"]
    assert service["open"] >= 1
    assert any(s["stage"] == "planned" and s["open"] >= 1 for s in service["by_stage"]), service["by_stage"]
