"""Partner access: a user who belongs to a partner organisation sees only the leads that partner
introduced or was referred, and what hangs off them (their ledgers, activity histories and the
cases about them); everything else is 404, exactly like what does not exist, on every read."""

from __future__ import annotations

import re

from api.main import create_app
from devtools.demo import USERS
from devtools.demo_records import PARTNER_MEMBERS
from tests.casefixtures import auth, register, step

# The demo: P-ACME introduced L-5001 and L-5003; P-CEDAR introduced and was referred L-5002.
ACME, CEDAR = "partner-acme", "partner-cedar"
ACME_LEADS, CEDAR_LEAD = {"L-5001", "L-5003"}, "L-5002"
STAFF_NAMES = [name for username, name, roles, _ in USERS if "partner" not in roles]


async def test_a_partner_sees_its_own_leads_and_what_hangs_off_them(api):
    assert PARTNER_MEMBERS == {ACME: "P-ACME", CEDAR: "P-CEDAR"}
    theirs = (await register(api, lead="L-5001"))["reference"]
    await step(api, theirs, "notes", "handler", {"text": "Spoke to the lead"})
    other = (await register(api, lead=CEDAR_LEAD))["reference"]

    leads = (await api.get("/leads", params={"limit": 500}, headers=auth(ACME))).json()
    assert {lead["external_id"] for lead in leads} == ACME_LEADS
    assert [lead["external_id"] for lead in (await api.get("/leads", params={"q": CEDAR_LEAD},
                                                           headers=auth(ACME))).json()] == []
    assert (await api.get("/leads/L-5001", headers=auth(ACME))).json()["balances"] == [
        {"currency": "GBP", "amount": "110.00"}]
    assert len((await api.get("/leads/L-5001/transactions", headers=auth(ACME))).json()["transactions"]) == 2
    history = (await api.get("/leads/L-5001/activities", headers=auth(ACME))).json()
    assert {a["case"]["reference"] for a in history if a["case"]} == {theirs}
    assert "note_added" not in {a["kind"] for a in history}  # an internal note (the narrow view, below)

    cases = (await api.get("/cases", params={"limit": 500}, headers=auth(ACME))).json()
    assert [c["reference"] for c in cases] == [theirs]
    assert (await api.get(f"/cases/{theirs}", headers=auth(ACME))).status_code == 200
    found = (await api.get("/search/cases", params={"limit": 200}, headers=auth(ACME))).json()
    assert [c["reference"] for c in found["items"]] == [theirs]
    # The other partner sees its own lead's case, and not this one.
    assert [c["reference"] for c in (await api.get("/cases", headers=auth(CEDAR))).json()] == [other]

    # Every read of the API, pointed at the other partner's lead and case: nothing of them shows.
    hidden = [CEDAR_LEAD, other]
    prefix, number, year = other.split("/")
    leaks = []
    for route in create_app().routes:
        if "GET" not in getattr(route, "methods", ()) or route.path.startswith(("/docs", "/openapi", "/redoc")):
            continue
        url = (route.path.replace("{external_id}", CEDAR_LEAD).replace("{prefix}", prefix)
               .replace("{number}", number).replace("{year}", year))
        url = re.sub(r"\{\w+\}", "x", url)
        response = await api.get(url, headers=auth(ACME))
        if response.status_code in (403, 404, 422):
            continue
        if response.status_code != 200 or any(h in response.text for h in hidden):
            leaks.append(f"GET {url}: {response.status_code} {response.text[:120]}")
    assert not leaks, "\n".join(leaks)
    for url in (f"/leads/{CEDAR_LEAD}", f"/leads/{CEDAR_LEAD}/transactions", f"/leads/{CEDAR_LEAD}/activities",
                f"/cases/{other}", f"/cases/{other}/timeline"):
        assert (await api.get(url, headers=auth(ACME))).status_code == 404, url


async def test_a_partner_reads_no_other_records_and_changes_nothing(api):
    for url in ("/customers", "/partners", "/contracts", "/invoices", "/lead-groups", "/customers/CUST-1001"):
        assert (await api.get(url, headers=auth(ACME))).status_code == 403, url
    refused = await api.put("/leads/L-5001", json={"name": "x", "status": "won"}, headers=auth(ACME))
    assert refused.status_code == 403
    posted = await api.post("/leads/L-5001/transactions", headers=auth(ACME),
                            json={"partner": "P-ACME", "kind": "referral_fee", "currency": "GBP", "amount": "1.00"})
    assert posted.status_code == 403


async def test_a_partner_reads_a_narrow_view_of_the_cases_about_its_leads(api):
    """A partner's user reads a case about its lead, its timeline, the lead's activity history,
    the cases list and the case search without internal notes, tasks, documents, correspondents,
    allocation or any staff name; staff read the same case whole."""
    ref = (await register(api, lead="L-5001"))["reference"]
    await step(api, ref, "notes", "handler", {"text": "Internal: this introducer sends poor leads"})
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    whole = (await api.get(f"/cases/{ref}", headers=auth("coordinator"))).json()
    assert whole["notes"] and whole["assignee_name"] == "Dev Drafter" and whole["correspondents"]

    def no_staff(text: str, where: str) -> None:
        found = [name for name in STAFF_NAMES if name in text]
        assert not found and "poor leads" not in text, (where, found)

    response = await api.get(f"/cases/{ref}", headers=auth(ACME))
    assert response.status_code == 200
    case = response.json()
    no_staff(response.text, "case read")
    assert (case["reference"], case["status"], case["stage"], case["date_received"]) == (
        ref, whole["status"], whole["stage"], whole["date_received"])
    assert case["notes"] == case["tasks"] == case["documents"] == case["correspondents"] == []
    assert case["allowed_actions"] == [] and case["assignee_name"] is None and case["team"] is None
    assert case["registered_by"] == "Staff"

    response = await api.get(f"/cases/{ref}/timeline", headers=auth(ACME))
    no_staff(response.text, "timeline")
    kinds = {e["kind"] for e in response.json()}
    assert "registered" in kinds and not kinds & {"note_added", "allocated", "task_added"}, kinds
    assert {e["actor_name"] for e in response.json()} <= {"Staff", "Casework"}
    staff_kinds = {e["kind"] for e in (await api.get(f"/cases/{ref}/timeline", headers=auth("coordinator"))).json()}
    assert "note_added" in staff_kinds

    response = await api.get("/leads/L-5001/activities", headers=auth(ACME))
    no_staff(response.text, "lead activities")
    assert ref in {a["case"]["reference"] for a in response.json() if a["case"]}
    staff_history = (await api.get("/leads/L-5001/activities", headers=auth("coordinator"))).json()
    assert "note_added" in {a["kind"] for a in staff_history}

    listed = [c for c in (await api.get("/cases", headers=auth(ACME))).json() if c["reference"] == ref]
    assert listed and listed[0]["assignee_name"] is None and listed[0]["team"] is None
    found = (await api.get("/search/cases", params={"reference": ref}, headers=auth(ACME))).json()["items"]
    assert [c["reference"] for c in found] == [ref] and "assignee_name" not in found[0] and "team" not in found[0]
    exported = await api.get("/search/cases.csv", params={"reference": ref}, headers=auth(ACME))
    no_staff(exported.text, "search export")
