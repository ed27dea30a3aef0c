"""Lead returns (F5) through the API on real Temporal, PostgreSQL and SMTP: settings global and
per lead group, partners returning their own leads, the decision and its saga, the cap, the
window, auto-accept, and reading returns by status and dates."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from tests.casefixtures import auth, uk_today

INTEGRATION, MANAGER, HANDLER, CEDAR_USER, ACME_USER = "integration", "manager", "handler", "partner-cedar", "partner-acme"


async def put_settings(api, scope: str, **values) -> dict:
    response = await api.put(f"/lead-returns/settings/{scope}", json=values, headers=auth(MANAGER))
    assert response.status_code == 200, response.text
    return response.json()


async def a_lead(api, *, partner: str = "P-CEDAR", introducer: str | None = "P-ACME", group: str | None = None,
                 referred_at: datetime | None = None, fees: bool = True) -> tuple[str, str]:
    """A fresh lead group (allowing returns, with 'other') and a lead in it, referred to `partner`,
    with a referral fee and an introducer's commission on its ledger. Returns (lead, group)."""
    tag = uuid.uuid4().hex[:8]
    if group is None:
        group = f"LG-{tag}"
        assert (await api.put(f"/lead-groups/{group}", json={"name": f"Group {tag}"},
                              headers=auth(INTEGRATION))).status_code in (200, 201)
        await put_settings(api, group, enabled=True, partners_may_start=True, allow_other=True,
                           reasons=["duplicate", "wrong_number"], notify_user=MANAGER)
    lead = f"L-{tag}"
    body = {"name": f"Lead {tag}", "lead_group": group, "introducer": introducer, "referral_partner": partner,
            "status": "referred", "referred_at": (referred_at or datetime.now(timezone.utc)).isoformat(),
            "billing_point": "referral"}
    assert (await api.put(f"/leads/{lead}", json=body, headers=auth(INTEGRATION))).status_code in (200, 201)
    if fees:
        for who, kind, amount in ((partner, "referral_fee", "150.00"), (introducer, "introducer_commission", "-40.00")):
            if who:
                posted = await api.post(f"/leads/{lead}/transactions", headers=auth(INTEGRATION),
                                        json={"partner": who, "kind": kind, "currency": "GBP", "amount": amount})
                assert posted.status_code == 201, posted.text
    return lead, group


async def ask(api, lead: str, user: str, expect: int = 201, **body) -> dict:
    response = await api.post(f"/leads/{lead}/returns", json=body, headers=auth(user))
    assert response.status_code == expect, response.text
    return response.json()


async def decide(api, reference: str, user: str = MANAGER, expect: int = 200, **body) -> dict:
    response = await api.post(f"/cases/{reference}/decide", json=body, headers=auth(user))
    assert response.status_code == expect, response.text
    return response.json()


async def test_a_partner_returns_its_lead_and_a_manager_accepts_it(api, mailbox):
    lead, _ = await a_lead(api)
    case = await ask(api, lead, CEDAR_USER, reason="other", other_reason="The number was never in service")
    ref = case["reference"]
    assert case["details"]["return_status"] == "open" and case["details"]["colour"] == "orange"
    assert case["assignee"]["name"] if isinstance(case.get("assignee"), dict) else True
    # The decider has a task, and a second return of the same lead is refused while this one is open.
    tasks = (await api.get(f"/cases/{ref}", headers=auth(MANAGER))).json()["tasks"]
    assert [t["title"] for t in tasks] == [f"Decide return of lead {lead}"]
    again = await ask(api, lead, HANDLER, expect=409, reason="duplicate")
    assert "already open" in again["detail"]["message"]
    # The partner sees its return, orange.
    seen = (await api.get(f"/leads/{lead}/returns", headers=auth(CEDAR_USER))).json()
    assert [(r["reference"], r["return_status"], r["colour"]) for r in seen] == [(ref, "open", "orange")]

    decided = await decide(api, ref, decision="accept", notes="Confirmed dead number", lead_status="returned")
    assert decided["status"] == "closed"
    assert decided["details"]["return_status"] == "accepted" and decided["details"]["colour"] == "green"
    assert decided["details"]["lead_status_set"] == "returned"

    ledger = (await api.get(f"/leads/{lead}/transactions", headers=auth(MANAGER))).json()
    reversals = [t for t in ledger["transactions"] if t["reverses"]]
    assert len(reversals) == 2
    assert {b["currency"]: Decimal(b["amount"]) for b in (await api.get(
        f"/leads/{lead}", headers=auth(MANAGER))).json()["balances"]} == {"GBP": Decimal("0")}
    read = (await api.get(f"/leads/{lead}", headers=auth(MANAGER))).json()
    assert read["status"] == "returned" and read["billing_point"] is None

    emails = mailbox.to("desk@cedar.example")
    mine = [m for m in emails if lead in m.as_string()]
    assert mine, "the partner is emailed the decision"
    body = mine[-1].get_body(preferencelist=("plain",)).get_content()
    assert "accepted" in body and "The number was never in service" in body
    assert mailbox.to("leads@acme.example"), "the introducer is emailed by default"

    # Deciding again is 409 naming the return's status.
    refused = await decide(api, ref, decision="decline", expect=409)
    assert "closed" in str(refused["detail"])
