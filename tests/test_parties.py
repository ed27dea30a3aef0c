"""Parties and records through the HTTP API on the real services: sync by external id (one row
however many concurrent syncs), bulk import with bad rows, the lead ledger, list and search, and
the activity history a complaint writes into."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from casework.parties.imports import MAX_IMPORT_ROWS
from casework.parties.models import Lead, LeadStatusChange
from tests.casefixtures import auth, register, step

SYNC = auth("integration")


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def put(api, path: str, body: dict, expect: int | None = None, user: str = "integration") -> dict:
    response = await api.put(path, json=body, headers=auth(user))
    if expect is not None:
        assert response.status_code == expect, response.text
    return response.json()


def named(answer: dict, field: str) -> str:
    found = [d for d in answer["detail"] if d["loc"][-1] == field]
    assert found, answer
    return found[0]["msg"]


async def partner(api, introducer: bool = True, referral: bool = True) -> str:
    external_id = f"P-{tag()}"
    await put(api, f"/partners/{external_id}", {"name": f"Partner {external_id}", "is_introducer": introducer,
                                                "is_referral_partner": referral}, 201)
    return external_id


async def lead(api, **fields) -> str:
    external_id = f"L-{tag()}"
    await put(api, f"/leads/{external_id}", {"name": f"Lead {external_id}", "status": "new", **fields}, 201)
    return external_id


async def customer(api) -> str:
    external_id = f"C-{tag()}"
    await put(api, f"/customers/{external_id}", {"kind": "organisation", "name": f"Customer {external_id}",
                                                 "contacts": [{"name": "Nadia North", "role": "finance"}]}, 201)
    return external_id


# ---- sync -----------------------------------------------------------------------------------


async def test_a_put_creates_then_updates_and_a_field_left_out_is_emptied(api):
    external_id = f"C-{tag()}"
    body = {"kind": "organisation", "name": "Northwind", "email": "a@northwind.example",
            "addresses": [{"label": "billing", "lines": ["1 Market St"], "postcode": "AB1 2CD"}],
            "contacts": [{"name": "Nadia North", "role": "finance", "email": "nadia@northwind.example"}]}
    created = await put(api, f"/customers/{external_id}", body, 201)
    assert created["external_id"] == external_id and created["contacts"][0]["name"] == "Nadia North"
    assert created["synced_by"] == "Ina Integration"
    again = await put(api, f"/customers/{external_id}", body, 200)
    assert again["created_at"] == created["created_at"]
    updated = await put(api, f"/customers/{external_id}", {"kind": "organisation", "name": "Northwind Ltd"}, 200)
    assert updated["name"] == "Northwind Ltd" and updated["email"] is None and updated["contacts"] == []
    read = (await api.get(f"/customers/{external_id}", headers=auth("handler"))).json()
    assert read["name"] == "Northwind Ltd"


async def test_concurrent_syncs_of_one_record_make_one_row(api, sessionmaker):
    external_id = f"L-{tag()}"
    group = f"LG-{tag()}"
    await put(api, f"/lead-groups/{group}", {"name": "Solar"}, 201)
    body = {"name": "Lee Lead", "status": "new", "lead_group": group}
    answers = await asyncio.gather(*(api.put(f"/leads/{external_id}", json=body, headers=SYNC) for _ in range(12)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 11 + [201], [a.text for a in answers]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Lead).where(Lead.external_id == external_id)) == 1
        history = await session.scalar(select(func.count()).select_from(LeadStatusChange)
                                       .where(LeadStatusChange.lead == external_id))
    assert history == 1  # created as "new"; the other syncs changed nothing


async def test_concurrent_status_changes_each_append_their_change(api):
    external_id = await lead(api)
    statuses = [f"s{n}" for n in range(6)]
    answers = await asyncio.gather(*(api.put(f"/leads/{external_id}", json={"name": "Lee", "status": s},
                                             headers=SYNC) for s in statuses))
    assert all(a.status_code == 200 for a in answers)
    history = (await api.get(f"/leads/{external_id}", headers=auth("handler"))).json()["status_history"]
    # Newest first, a chain: each change starts from the status the one before it set.
    chain = list(reversed(history))
    assert chain[0]["from_status"] is None and chain[0]["to_status"] == "new"
    assert all(later["from_status"] == earlier["to_status"] for earlier, later in zip(chain, chain[1:]))
    assert sorted(c["to_status"] for c in chain[1:]) == statuses


async def test_a_lead_status_change_appends_to_its_history_with_who_and_when(api):
    introducer, referral = await partner(api, True, False), await partner(api, False, True)
    external_id = await lead(api, introducer=introducer, referral_partner=referral)
    await put(api, f"/leads/{external_id}", {"name": "Lee", "status": "new", "introducer": introducer}, 200)
    await put(api, f"/leads/{external_id}", {"name": "Lee", "status": "referred", "introducer": introducer,
                                             "referral_partner": referral, "referred_at": "2026-11-02T10:00:00Z",
                                             "billing_point": "referral"}, 200)
    read = (await api.get(f"/leads/{external_id}", headers=auth("handler"))).json()
    assert read["status"] == "referred" and read["billing_point"] == "referral"
    assert [(h["from_status"], h["to_status"]) for h in read["status_history"]] == [("new", "referred"), (None, "new")]
    assert {h["changed_by"] for h in read["status_history"]} == {"Ina Integration"}


async def test_an_unknown_reference_is_a_422_naming_the_field_and_writes_nothing(api):
    external_id = f"L-{tag()}"
    answer = await put(api, f"/leads/{external_id}", {"name": "Lee", "status": "new", "introducer": "P-NOPE"}, 422)
    assert "no partner with external_id 'P-NOPE'" in named(answer, "introducer")
    assert (await api.get(f"/leads/{external_id}", headers=SYNC)).status_code == 404
    answer = await put(api, f"/contracts/K-{tag()}", {"customer": "C-NOPE", "number": "1", "currency": "GBP",
                                                      "starts_on": "2026-01-01"}, 422)
    assert "no customer" in named(answer, "customer")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/partners/P-x", {"name": "Nobody"}, "is_referral_partner"),
    ("/contracts/K-x", {"customer": "C", "number": "1", "currency": "XYZ", "starts_on": "2026-01-01"}, "currency"),
    ("/contracts/K-x", {"customer": "C", "number": "1", "currency": "GBP", "starts_on": "2026-02-01",
                        "ends_on": "2026-01-01"}, "ends_on"),
    ("/invoices/I-x", {"number": "1", "customer": "C", "issued_on": "2026-01-01", "currency": "JPY",
                       "total": "10.50"}, "total"),
    ("/invoices/I-x", {"number": "1", "customer": "C", "issued_on": "2026-01-01", "currency": "GBP",
                       "total": "10.00", "lines": [{"description": "a", "amount": "9.00"}]}, "lines"),
    ("/customers/C-x", {"kind": "robot", "name": "R"}, "kind"),
    ("/customers/C-x", {"kind": "person", "name": "R", "email": "not-an-email"}, "email"),
    ("/leads/L-x", {"name": "Lee"}, "status"),
    ("/leads/L-x", {"name": "Lee", "status": "new", "referred_at": "2026-01-01T10:00:00"}, "referred_at"),
])
async def test_a_bad_record_is_a_422_naming_the_field(api, path, body, field):
    answer = await put(api, path, body, 422)
    assert any(field in d["loc"] for d in answer["detail"]), answer


async def test_syncing_needs_the_integration_or_admin_role_and_every_staff_role_reads(api):
    external_id = f"LG-{tag()}"
    refused = await put(api, f"/lead-groups/{external_id}", {"name": "G"}, 403, user="handler")
    assert refused["detail"] == "syncing records needs the permission 'records.sync'"
    await put(api, f"/lead-groups/{external_id}", {"name": "G"}, 201, user="admin")
    for user in ("handler", "qa", "ops", "integration"):
        assert (await api.get(f"/lead-groups/{external_id}", headers=auth(user))).status_code == 200


# ---- list and search ------------------------------------------------------------------------


async def test_leads_are_listed_and_searched(api):
    group, introducer = f"LG-{tag()}", await partner(api)
    await put(api, f"/lead-groups/{group}", {"name": "Mortgages"}, 201)
    name = f"Findable {tag()}"
    found = await lead(api, name=name, lead_group=group, introducer=introducer, email="find.me@example.net")
    other = await lead(api, lead_group=group)

    async def listed(**query) -> list[str]:
        response = await api.get("/leads", params=query, headers=auth("handler"))
        assert response.status_code == 200, response.text
        return [row["external_id"] for row in response.json()]

    assert await listed(q=name.split()[1].upper()) == [found]
    assert await listed(q=found) == [found]
    assert set(await listed(lead_group=group)) == {found, other}
    assert await listed(partner=introducer) == [found]
    assert await listed(lead_group=group, status="referred") == []
    assert await listed(q="100%_") == []  # LIKE wildcards are matched as themselves
    first, second = await listed(lead_group=group, limit=1), await listed(lead_group=group, limit=1, offset=1)
    assert {*first, *second} == {found, other}
    partners = (await api.get("/partners", params={"q": introducer, "role": "introducer"}, headers=SYNC)).json()
    assert [p["external_id"] for p in partners] == [introducer]


# ---- bulk import ----------------------------------------------------------------------------


async def test_a_csv_import_answers_each_row_and_keeps_the_good_ones(api):
    known = await customer(api)
    a, b, c = (f"C-{tag()}" for _ in range(3))
    contacts = json.dumps([{"name": "Ann Other", "role": "owner"}]).replace('"', '""')
    csv_text = ("external_id,kind,name,email,contacts\n"
                f'{a},organisation,Alpha Ltd,alpha@example.net,"{contacts}"\n'
                f"{b},person,Bad Email,not-an-email,\n"
                f"{known},organisation,Renamed Ltd,,\n"
                f"{c},organisation,Broken contacts,,[not json\n"
                ",person,No id,,\n")
    response = await api.post("/imports/customers", content=csv_text.encode(),
                              headers=auth("integration", **{"Content-Type": "text/csv"}))
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["updated"], result["errors"]) == (1, 1, 3)
    rows = {r["row"]: r for r in result["rows"]}
    assert rows[1]["result"] == "created" and rows[3]["result"] == "updated"
    assert (rows[2]["result"], rows[2]["field"]) == ("error", "email")
    assert rows[4]["field"] == "contacts" and "JSON" in rows[4]["message"]
    assert rows[5]["field"] == "external_id"
    alpha = (await api.get(f"/customers/{a}", headers=SYNC)).json()
    assert alpha["contacts"][0]["name"] == "Ann Other"
    assert (await api.get(f"/customers/{known}", headers=SYNC)).json()["name"] == "Renamed Ltd"
    for bad in (b, c):
        assert (await api.get(f"/customers/{bad}", headers=SYNC)).status_code == 404


async def test_an_ndjson_import_with_a_bad_reference_writes_nothing_of_that_row(api):
    introducer = await partner(api)
    good, bad, unreadable = f"L-{tag()}", f"L-{tag()}", f"L-{tag()}"
    lines = [json.dumps({"external_id": good, "name": "Good", "status": "new", "introducer": introducer}),
             json.dumps({"external_id": bad, "name": "Bad", "status": "new", "introducer": "P-NOPE"}),
             "{not json",
             "",
             json.dumps({"external_id": unreadable, "name": "Extra", "status": "new", "colour": "red"}),
             json.dumps({"external_id": good, "name": "Good", "status": "referred", "introducer": introducer})]
    response = await api.post("/imports/leads", content="\n".join(lines).encode(),
                              headers=auth("integration", **{"Content-Type": "application/x-ndjson"}))
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert [(r["row"], r["result"], r["field"]) for r in rows] == [
        (1, "created", None), (2, "error", "introducer"), (3, "error", "row"), (5, "error", "colour"),
        (6, "updated", None)]
    assert "P-NOPE" in rows[1]["message"]
    assert (await api.get(f"/leads/{bad}", headers=SYNC)).status_code == 404
    history = (await api.get(f"/leads/{good}", headers=SYNC)).json()["status_history"]
    assert [h["to_status"] for h in history] == ["referred", "new"]


async def test_an_import_over_the_limits_or_of_another_type_is_refused(api):
    headers = auth("integration", **{"Content-Type": "application/x-ndjson"})
    lines = "\n".join(json.dumps({"external_id": f"G-{n}", "name": "g"}) for n in range(MAX_IMPORT_ROWS + 1))
    too_many = await api.post("/imports/lead-groups", content=lines.encode(), headers=headers)
    assert too_many.status_code == 413 and "at most" in too_many.text
    assert (await api.get("/lead-groups/G-0", headers=SYNC)).status_code == 404
    wrong = await api.post("/imports/lead-groups", content=b"{}", headers=auth("integration"))
    assert wrong.status_code == 415
    unknown = await api.post("/imports/widgets", content=b"{}", headers=headers)
    assert unknown.status_code == 422
    refused = await api.post("/imports/lead-groups", content=b"{}", headers=auth("handler", **{
        "Content-Type": "application/x-ndjson"}))
    assert refused.status_code == 403


# ---- the ledger -----------------------------------------------------------------------------


async def test_the_ledger_posts_once_per_key_reverses_once_and_balances_per_currency(api, sessionmaker):
    referral, introducer = await partner(api, False, True), await partner(api, True, False)
    external_id = await lead(api, introducer=introducer, referral_partner=referral)
    path = f"/leads/{external_id}/transactions"
    fee = {"partner": referral, "kind": "referral_fee", "currency": "GBP", "amount": "150.00"}

    posted = await api.post(path, json=fee, headers=auth("integration", **{"Idempotency-Key": "fee-1"}))
    assert posted.status_code == 201, posted.text
    retried = await api.post(path, json=fee, headers=auth("integration", **{"Idempotency-Key": "fee-1"}))
    assert retried.status_code == 200 and retried.json()["id"] == posted.json()["id"]
    reused = await api.post(path, json={**fee, "amount": "99.00"},
                            headers=auth("integration", **{"Idempotency-Key": "fee-1"}))
    assert reused.status_code == 422 and reused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]

    commission = {"partner": introducer, "kind": "introducer_commission", "currency": "EUR", "amount": "-40.5"}
    assert (await api.post(path, json=commission, headers=auth("manager"))).status_code == 201
    assert (await api.post(path, json=commission, headers=auth("handler"))).status_code == 403

    fee_id = posted.json()["id"]
    reverse = f"{path}/{fee_id}/reverse"
    reversal = await api.post(reverse, json={"reason": "lead returned"}, headers=auth("manager", **{
        "Idempotency-Key": "rev-1"}))
    assert reversal.status_code == 201, reversal.text
    assert reversal.json()["amount"] == "-150.00" and reversal.json()["reverses"] == fee_id
    again = await api.post(reverse, json={"reason": "lead returned"}, headers=auth("manager", **{
        "Idempotency-Key": "rev-1"}))
    assert again.status_code == 200 and again.json()["id"] == reversal.json()["id"]
    twice = await api.post(reverse, json={"reason": "again"}, headers=auth("manager"))
    assert twice.status_code == 409 and "already reversed" in twice.text
    of_reversal = await api.post(f"{path}/{reversal.json()['id']}/reverse", json={"reason": "x"},
                                 headers=auth("manager"))
    assert of_reversal.status_code == 409 and "itself a reversal" in of_reversal.text
    assert (await api.post(f"{path}/nope/reverse", json={"reason": "x"}, headers=auth("manager"))).status_code == 404

    ledger = (await api.get(path, headers=auth("handler"))).json()
    assert ledger["balances"] == [{"currency": "EUR", "amount": "-40.50"}, {"currency": "GBP", "amount": "0.00"}]
    assert len(ledger["transactions"]) == 3
    assert {t["id"]: t["reversed_by"] for t in ledger["transactions"]}[fee_id] == reversal.json()["id"]
    read = (await api.get(f"/leads/{external_id}", headers=SYNC)).json()
    assert read["balances"] == ledger["balances"]

    async with sessionmaker() as session:  # append-only in the database too
        for statement in (f"UPDATE lead_transaction SET amount = 1 WHERE id = '{fee_id}'",
                          f"DELETE FROM lead_transaction WHERE id = '{fee_id}'",
                          f"DELETE FROM lead_status_change WHERE lead = '{external_id}'"):
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement))
            await session.rollback()


@pytest.mark.parametrize(("body", "field"), [
    ({"partner": "P-NOPE", "kind": "referral_fee", "currency": "GBP", "amount": "1.00"}, "partner"),
    ({"kind": "referral_fee", "currency": "GBP", "amount": "1.00"}, "partner"),
    ({"partner": "P", "kind": "referral_fee", "currency": "GBX", "amount": "1.00"}, "currency"),
    ({"partner": "P", "kind": "referral_fee", "currency": "JPY", "amount": "1.5"}, "amount"),
    ({"partner": "P", "kind": "referral_fee", "currency": "GBP", "amount": "0"}, "amount"),
    ({"partner": "P", "kind": "referral_fee", "currency": "GBP", "amount": 1.1}, "amount"),
])
async def test_a_bad_posting_is_a_422_naming_the_field(api, body, field):
    external_id = await lead(api)
    answer = await api.post(f"/leads/{external_id}/transactions", json=body, headers=SYNC)
    assert answer.status_code == 422, answer.text
    assert any(d["loc"][-1] == field for d in answer.json()["detail"]), answer.text


async def test_a_posting_on_a_missing_lead_is_404(api):
    answer = await api.post("/leads/L-NOPE/transactions", headers=SYNC,
                            json={"partner": "P", "kind": "referral_fee", "currency": "GBP", "amount": "1.00"})
    assert answer.status_code == 404


# ---- the activity history and the F1 link ----------------------------------------------------


async def test_a_complaint_about_a_lead_and_customer_writes_into_their_activity_history(api):
    referral = await partner(api, False, True)
    lead_id, customer_id = await lead(api, referral_partner=referral), await customer(api)
    await api.post(f"/leads/{lead_id}/transactions", headers=SYNC,
                   json={"partner": referral, "kind": "referral_fee", "currency": "GBP", "amount": "150.00"})
    case = await register(api, lead=lead_id, customer=customer_id)
    ref = case["reference"]
    assert {(p["party_type"], p["external_id"], p["path"]) for p in case["parties"]} == {
        ("lead", lead_id, f"/leads/{lead_id}"), ("customer", customer_id, f"/customers/{customer_id}")}
    await step(api, ref, "notes", "handler", {"text": "Called the lead back"})
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL"})
    read = (await api.get(f"/cases/{ref}", headers=auth("coordinator"))).json()
    assert {p["external_id"] for p in read["parties"]} == {lead_id, customer_id}

    timeline = (await api.get(f"/cases/{ref}/timeline", headers=auth("coordinator"))).json()
    assert {"registered", "note_added", "allocated"} <= {e["kind"] for e in timeline}

    history = (await api.get(f"/leads/{lead_id}/activities", headers=auth("coordinator"))).json()
    on_case = [a for a in history if a["case"] is not None]
    assert [(a["kind"], a["what"], a["who"]) for a in on_case] == [
        (e["kind"], e["summary"], e["actor_name"]) for e in timeline]
    assert {a["case"]["path"] for a in on_case} == {f"/cases/{ref}"}
    # The lead's own events came before the case: its creation and the fee.
    assert {a["kind"] for a in history[len(on_case):]} == {"transaction_posted", "lead_status_changed"}
    assert next(a for a in history if a["kind"] == "note_added")["who"] == "Hana Handler"
    assert [a["occurred_at"] for a in history] == sorted((a["occurred_at"] for a in history), reverse=True)
    assert "150.00 GBP" in next(a["what"] for a in history if a["kind"] == "transaction_posted")
    paged = (await api.get(f"/leads/{lead_id}/activities", params={"limit": 2, "offset": 1},
                           headers=auth("coordinator"))).json()
    assert paged == history[1:3]

    customer_history = (await api.get(f"/customers/{customer_id}/activities", headers=auth("coordinator"))).json()
    assert [a["kind"] for a in customer_history] == [e["kind"] for e in timeline]
    # The handler (team SERVICE) no longer sees the case allocated to CENTRAL: nor its events.
    hidden = (await api.get(f"/customers/{customer_id}/activities", headers=auth("handler"))).json()
    assert hidden == []
    about = (await api.get("/cases", params={"lead": lead_id}, headers=auth("coordinator"))).json()
    assert [c["reference"] for c in about] == [ref]
    assert (await api.get("/cases", params={"customer": "C-NOPE"}, headers=auth("coordinator"))).json() == []
    assert (await api.get("/leads/L-NOPE/activities", headers=auth("coordinator"))).status_code == 404


async def test_a_complaint_naming_an_unknown_party_is_a_422_naming_the_field(api):
    from tests.casefixtures import complaint

    for field in ("lead", "customer"):
        answer = await api.post("/cases", json=complaint(**{field: "NOPE-1"}), headers=auth("handler"))
        assert answer.status_code == 422, answer.text
        assert "NOPE-1" in named(answer.json(), field)


async def test_a_stage_2_case_is_about_the_same_records(api):
    lead_id = await lead(api)
    ref = (await register(api, lead=lead_id))["reference"]
    await step(api, ref, "close", "coordinator", {"reason": "resolved", "note": "sorted on the phone"})
    stage2 = await step(api, ref, "escalate", "coordinator", {"reason": "still unhappy"}, expect=201)
    assert [(p["party_type"], p["external_id"]) for p in stage2["parties"]] == [("lead", lead_id)]
    about = (await api.get("/cases", params={"lead": lead_id}, headers=auth("coordinator"))).json()
    assert {c["reference"] for c in about} == {ref, stage2["reference"]}


async def test_the_demo_records_load_again_without_change(api, sessionmaker):
    from devtools import demo

    async with sessionmaker() as session, session.begin():
        await demo.load(session)  # the session's engine fixture loaded it once already
    ledger = (await api.get("/leads/L-5001/transactions", headers=auth("handler"))).json()
    assert len(ledger["transactions"]) == 2
    assert ledger["balances"] == [{"currency": "GBP", "amount": "110.00"}]
    invoices = (await api.get("/invoices", params={"customer": "CUST-1001"}, headers=auth("handler"))).json()
    assert [i["external_id"] for i in invoices] == ["INV-3001"]
