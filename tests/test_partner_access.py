"""Partner access: a user who belongs to a partner organisation sees only the leads that partner
introduced or was referred, and what hangs off them (their ledgers, activity histories and the
cases about them); everything else is 404, exactly like what does not exist, on every read."""

from __future__ import annotations

import re

from api.main import create_app
from devtools.demo_records import PARTNER_MEMBERS
from tests.casefixtures import auth, register, step

# The demo: P-ACME introduced L-5001 and L-5003; P-CEDAR introduced and was referred L-5002.
ACME, CEDAR = "partner-acme", "partner-cedar"
ACME_LEADS, CEDAR_LEAD = {"L-5001", "L-5003"}, "L-5002"


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
    assert "note_added" in {a["kind"] for a in history}

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
