"""Lead returns (F5) through the API on real Temporal, PostgreSQL and SMTP: settings global and
per lead group, partners returning their own leads, the decision and its saga, the cap, the
window, auto-accept, and reading returns by status and dates."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import openpyxl
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from api.main import create_app
from casework.calendar.deadlines import breach_instant
from casework.calendar.workdays import Region
from casework.parties import records
from casework.parties.models import PartnerMember
from casework.parties.records import RECORD_TYPES, Who
from casework.people.models import ApiToken
from casework.platform.db import AppUser, make_sessionmaker
from casework.platform.security import hash_token
from casework.reporting.export import read_csv_text
from devtools import demo
from tests.casefixtures import auth, keep_history, uk_today
from tests.test_deadline_clocks import Clock, clock  # noqa: F401 (the time-skipping fixture)
from worker import build_worker

INTEGRATION, MANAGER, HANDLER = "integration", "manager", "handler"
# This module's own partners and their users (the demo's, P-ACME and P-CEDAR, are
# tests/test_partner_access.py's): the referral partner returning leads, and their introducer.
PARTNER, INTRODUCER, OTHER_PARTNER = "P-RET-REF", "P-RET-INTRO", "P-RET-OTHER"
PARTNER_USER, INTRODUCER_USER = "ret-partner", "ret-introducer"
PARTNER_EMAIL, INTRODUCER_EMAIL = "returns-partner@example.net", "returns-introducer@example.net"


@pytest_asyncio.fixture(scope="session", autouse=True)
async def return_partners(engine) -> None:
    who = Who(name="tests", user_id=None)
    async with make_sessionmaker(engine)() as session, session.begin():
        for partner, email, introduces in ((PARTNER, PARTNER_EMAIL, False), (INTRODUCER, INTRODUCER_EMAIL, True),
                                           (OTHER_PARTNER, "returns-other@example.net", False)):
            await records.upsert(session, RECORD_TYPES["partners"], partner,
                                 {"name": f"{partner} Ltd", "email": email, "is_introducer": introduces,
                                  "is_referral_partner": not introduces}, who)
        for username, partner in ((PARTNER_USER, PARTNER), (INTRODUCER_USER, INTRODUCER)):
            user_id = await session.scalar(insert(AppUser).values(
                username=username, display_name=username, email=f"{username}@example.org", roles=["partner"],
                active=True).on_conflict_do_update(index_elements=["username"], set_={"active": True})
                .returning(AppUser.id))
            await session.execute(insert(ApiToken).values(
                id=str(uuid.uuid4()), user_id=user_id, name="tests", token_hash=hash_token(demo.demo_token(username)))
                .on_conflict_do_nothing())
            await session.execute(insert(PartnerMember).values(partner=partner, user_id=user_id)
                                  .on_conflict_do_nothing())


REASONS = {"duplicate": "Duplicate lead", "wrong_number": "Wrong number", "no_contact": "Could not contact"}


async def put_settings(api, scope: str, **values) -> dict:
    for code, label in REASONS.items():  # the shared list of return reasons, as an administrator keeps it
        assert (await api.put(f"/admin/lists/lead_return_reasons/{code}", json={"label": label},
                              headers=auth("admin"))).status_code in (200, 201)
    response = await api.put(f"/lead-returns/settings/{scope}", json=values, headers=auth(MANAGER))
    assert response.status_code == 200, response.text
    return response.json()


async def a_lead(api, *, partner: str = PARTNER, introducer: str | None = INTRODUCER, group: str | None = None,
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


async def test_a_partner_returns_its_lead_and_a_manager_accepts_it(api, mailbox, temporal):
    lead, _ = await a_lead(api)
    case = await ask(api, lead, PARTNER_USER, reason="other", other_reason="The number was never in service")
    ref = case["reference"]
    assert case["details"]["return_status"] == "open" and case["details"]["colour"] == "orange"
    assert case["assignee"]["name"] if isinstance(case.get("assignee"), dict) else True
    # The decider has a task, and a second return of the same lead is refused while this one is open.
    tasks = (await api.get(f"/cases/{ref}", headers=auth(MANAGER))).json()["tasks"]
    assert [t["title"] for t in tasks] == [f"Decide return of lead {lead}"]
    again = await ask(api, lead, HANDLER, expect=409, reason="duplicate")
    assert "already open" in again["detail"]["message"]
    # The partner sees its return, orange.
    seen = (await api.get(f"/leads/{lead}/returns", headers=auth(PARTNER_USER))).json()
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

    emails = mailbox.to(PARTNER_EMAIL)
    mine = [m for m in emails if lead in m.as_string()]
    assert mine, "the partner is emailed the decision"
    body = mine[-1].get_body(preferencelist=("plain",)).get_content()
    assert "accepted" in body and "The number was never in service" in body
    assert mailbox.to(INTRODUCER_EMAIL), "the introducer is emailed by default"

    # Deciding again is 409 naming the return's status.
    refused = await decide(api, ref, decision="decline", expect=409)
    assert "closed" in str(refused["detail"])
    await keep_history(temporal, ref, "lead-return-accepted")


async def test_other_reasons_only_where_allowed_and_a_group_overrides_the_global_settings(api):
    await put_settings(api, "global", enabled=True, allow_other=False, reasons=["duplicate"], window_days=0)
    lead, group = await a_lead(api)
    # The group allows "other" and more reasons; the global settings fill in what it leaves unset.
    effective = (await api.get(f"/leads/{lead}/return-settings", headers=auth(HANDLER))).json()
    assert effective["settings"]["allow_other"] is True and effective["sources"]["allow_other"] == f"lead_group:{group}"
    assert effective["sources"]["window_days"] == "global"
    assert effective["sources"]["cap_count"] == "default"

    await put_settings(api, group, enabled=True, allow_other=False, reasons=["duplicate"], notify_user=MANAGER)
    refused = await ask(api, lead, HANDLER, expect=422, reason="other", other_reason="Didn't close")
    assert refused["detail"][0]["loc"] == ["body", "reason"] and "not allowed" in refused["detail"][0]["msg"]
    refused = await ask(api, lead, HANDLER, expect=422, reason="wrong_number")
    assert refused["detail"][0]["loc"] == ["body", "reason"]
    refused = await ask(api, lead, HANDLER, expect=422, reason="didnt_close")  # not on the shared list
    assert refused["detail"][0]["loc"][-1] == "reason" and "not on the list" in refused["detail"][0]["msg"]
    # Back to the global rule for "other" (the group no longer sets it): still refused.
    await put_settings(api, group, enabled=True, reasons=["duplicate", "wrong_number"])
    await ask(api, lead, HANDLER, expect=422, reason="other", other_reason="x")
    await put_settings(api, "global", enabled=True, allow_other=True)
    case = await ask(api, lead, HANDLER, reason="other", other_reason="Already a customer")
    assert case["details"]["reason_text"] == "Already a customer"
    await put_settings(api, "global", enabled=True)  # leave the global settings plain for other tests


async def test_returns_disabled_or_outside_the_window_are_refused(api):
    lead, group = await a_lead(api, referred_at=datetime.now(timezone.utc) - timedelta(days=20))
    await put_settings(api, group, enabled=True, reasons=["duplicate"], window_days=14, notify_user=MANAGER)
    refused = await ask(api, lead, HANDLER, expect=409, reason="duplicate")
    assert "return window of 14 days" in refused["detail"]["message"]
    await put_settings(api, group, enabled=False, reasons=["duplicate"])
    refused = await ask(api, lead, HANDLER, expect=409, reason="duplicate")
    assert "not enabled" in refused["detail"]["message"]
    await put_settings(api, group, enabled=True, reasons=["duplicate"], window_days=30)
    await ask(api, lead, HANDLER, reason="duplicate")


async def test_a_partner_returns_only_its_own_leads_and_never_decides(api):
    lead, group = await a_lead(api)  # referred to PARTNER, introduced by INTRODUCER
    # The introducer may read it, but it is not theirs to return; another partner's lead is 404.
    await ask(api, lead, INTRODUCER_USER, expect=404, reason="duplicate")
    other, _ = await a_lead(api, partner=OTHER_PARTNER, introducer=None, group=group)
    await ask(api, other, PARTNER_USER, expect=404, reason="duplicate")
    assert (await api.get(f"/leads/{other}/returns", headers=auth(PARTNER_USER))).status_code == 404
    await put_settings(api, group, enabled=True, partners_may_start=False, reasons=["duplicate"], notify_user=MANAGER)
    assert "partners may not" in (await ask(api, lead, PARTNER_USER, expect=403, reason="duplicate"))["detail"]
    await put_settings(api, group, enabled=True, partners_may_start=True, reasons=["duplicate"], notify_user=MANAGER)
    ref = (await ask(api, lead, PARTNER_USER, reason="duplicate"))["reference"]
    assert (await api.post(f"/cases/{ref}/decide", json={"decision": "accept"},
                           headers=auth(PARTNER_USER))).status_code in (403, 404)
    # Staff without the permission to decide: 403 naming it.
    refused = await decide(api, ref, "drafter", expect=403, decision="accept")  # sees the team's cases
    assert "lead_return.decide" in refused["detail"]
    found = (await api.get("/lead-returns", params={"status": "open"}, headers=auth(INTRODUCER_USER))).json()
    assert ref in {r["reference"] for r in found}  # its introducer sees the return too
    assert other not in {r["lead"] for r in found}


async def test_a_declined_return_leaves_the_ledger_and_emails_only_whom_it_is_told(api, mailbox):
    lead, _ = await a_lead(api)
    ref = (await ask(api, lead, HANDLER, reason="duplicate"))["reference"]
    refused = await decide(api, ref, expect=422, decision="decline", lead_status="new")
    assert refused["detail"][0]["loc"][-1] == "lead_status"
    decided = await decide(api, ref, decision="decline", notes="Not a duplicate", email_introducer=False)
    assert decided["details"]["return_status"] == "declined" and decided["details"]["colour"] == "red"
    ledger = (await api.get(f"/leads/{lead}/transactions", headers=auth(MANAGER))).json()["transactions"]
    assert not [t for t in ledger if t["reverses"]]
    assert [m for m in mailbox.to(PARTNER_EMAIL) if lead in m.as_string()]
    assert not [m for m in mailbox.to(INTRODUCER_EMAIL) if lead in m.as_string()]
    # The lead can be returned again once the return is decided.
    await ask(api, lead, HANDLER, reason="duplicate")


async def test_two_returns_accepted_at_once_cannot_both_slip_under_the_cap(api):
    partner = f"P-{uuid.uuid4().hex[:6]}"
    assert (await api.put(f"/partners/{partner}", json={"name": "Capped Ltd", "email": f"{partner}@example.net",
                                                         "is_referral_partner": True},
                          headers=auth(INTEGRATION))).status_code in (200, 201)
    first, group = await a_lead(api, partner=partner, introducer=None)
    second, _ = await a_lead(api, partner=partner, introducer=None, group=group)
    await put_settings(api, group, enabled=True, reasons=["duplicate"], cap_count=1, notify_user=MANAGER)
    refs = [(await ask(api, lead, HANDLER, reason="duplicate"))["reference"] for lead in (first, second)]
    answers = await asyncio.gather(*(api.post(f"/cases/{ref}/decide", json={"decision": "accept"},
                                              headers=auth(MANAGER)) for ref in refs))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409).json()
    assert "the cap is 1 a month" in refused["detail"]["message"]
    statuses = sorted(r["return_status"] for r in (await api.get(
        "/lead-returns", params={"partner": partner}, headers=auth(MANAGER))).json())
    assert statuses == ["accepted", "open"]
    # In the statistics: a return rate of 1 accepted in 2 leads referred, both returns for one reason.
    around = {"since": (uk_today() - timedelta(days=1)).isoformat(),
              "until": (uk_today() + timedelta(days=1)).isoformat()}
    stats = (await api.get("/lead-returns/statistics", params=around, headers=auth(MANAGER))).json()
    [row] = [r for r in stats["by_partner"] if r["partner"] == partner]
    assert (row["returns"], row["accepted"], row["open"], row["leads_referred"]) == (2, 1, 1, 2)
    assert Decimal(row["return_rate_percent"]) == Decimal("50.0")
    assert [(r["reason"], r["returns"]) for r in stats["by_partner_and_reason"] if r["partner"] == partner] == [
        ("duplicate", 2)]
    assert (await api.get("/lead-returns/statistics", params=around, headers=auth(PARTNER_USER))).status_code == 403


async def test_returns_are_found_by_status_and_dates(api):
    lead, _ = await a_lead(api)
    ref = (await ask(api, lead, HANDLER, reason="duplicate"))["reference"]
    today = uk_today().isoformat()
    async def found(**params) -> set[str]:
        return {r["reference"] for r in (await api.get("/lead-returns", params={"limit": 500, **params},
                                                       headers=auth(MANAGER))).json()}
    assert ref in await found(status="open", requested_from=today, requested_to=today)
    assert ref not in await found(status="accepted")
    assert ref not in await found(decided_from=today)
    await decide(api, ref, decision="accept", email_partner=False, email_introducer=False)
    assert ref in await found(status="accepted", decided_from=today, decided_to=today)
    assert ref not in await found(status="open")
    yesterday = (uk_today() - timedelta(days=1)).isoformat()
    assert ref not in await found(requested_to=yesterday)
    bad = await api.get("/lead-returns", params={"status": "maybe"}, headers=auth(MANAGER))
    assert bad.status_code == 422


async def test_auto_accept_and_the_decision_deadline_run_on_durable_timers(clock: Clock, mailbox):  # noqa: F811
    api = clock.api
    lead, group = await a_lead(api)
    await put_settings(api, group, enabled=True, partners_may_start=True, reasons=["duplicate", "wrong_number"],
                       notify_user=MANAGER,
                       auto_accept_reasons=["duplicate"], auto_accept_hours=48)
    auto = (await ask(api, lead, PARTNER_USER, reason="duplicate"))["reference"]
    other, _ = await a_lead(api, group=group)
    waiting = await ask(api, other, PARTNER_USER, reason="wrong_number")  # not auto-accepted: waits for a person

    await clock.skip_to(await clock.now() + timedelta(hours=49))
    accepted = await clock.case_when(auto, lambda c: c["details"]["return_status"] == "accepted", "auto-accepted")
    assert accepted["status"] == "closed" and len(accepted["details"]["reversals"]) == 2
    assert (await clock.event(auto, "return_accepted"))["actor_name"] == "Auto-accept rule"
    assert (await clock.case(waiting["reference"]))["details"]["return_status"] == "open"

    # Past its decision deadline (working days, from the case type), the open return escalates to
    # the notified user's team manager.
    deadline = date.fromisoformat(waiting["deadline"])
    await clock.skip_to(breach_instant(deadline, Region.ENGLAND_AND_WALES))
    escalated = await clock.event(waiting["reference"], "escalated_to_manager")
    assert escalated["summary"] == "Escalated to Mo Manager"
    await keep_history(clock.env.client, auto, "lead-return-auto-accepted")


async def test_the_demo_walk_through_a_partner_returns_a_solar_lead_and_a_manager_accepts(api, mailbox):
    """docs/lead-returns.md's curl walk-through on the demo's settings (the solar group lets
    partners return leads in their own words), with this module's partner in Cedar's place."""
    lead, _ = await a_lead(api, group="LG-SOLAR")
    effective = (await api.get(f"/leads/{lead}/return-settings", headers=auth(PARTNER_USER))).json()
    assert effective["sources"]["allow_other"] == "lead_group:LG-SOLAR" and effective["settings"]["allow_other"]
    ref = (await ask(api, lead, PARTNER_USER, reason="other", other_reason="The number was never in service"))[
        "reference"]
    decided = await decide(api, ref, decision="accept", notes="Confirmed", lead_status="returned")
    assert decided["details"]["return_status"] == "accepted"
    ledger = (await api.get(f"/leads/{lead}/transactions", headers=auth(PARTNER_USER))).json()["transactions"]
    assert {t["reverses"] for t in ledger if t["reverses"]} == {t["id"] for t in ledger if not t["reverses"]}
    email = [m for m in mailbox.to(PARTNER_EMAIL) if lead in m.as_string()][-1]
    assert "accepted" in email.get_body(preferencelist=("plain",)).get_content()


async def test_reversals_are_posted_once_when_the_worker_dies_after_posting_them(settings, temporal, engine):
    """The worker dies after the reversals are committed and before it reports them: the activity
    runs again and finds them, so the ledger has one reversal per transaction."""
    crashes: list[str] = []

    def die_once(job) -> None:
        if not crashes:
            crashes.append(job.reference)
            raise RuntimeError("worker killed after posting the reversals")

    own = settings.model_copy(update={"task_queue": f"returns-{uuid.uuid4().hex[:8]}"})
    app = create_app(own, temporal=temporal, engine=engine)
    hooks = {"lead_return": {"after_reversal": die_once}}
    async with app.router.lifespan_context(app), build_worker(temporal, own, make_sessionmaker(engine),
                                                              kind_hooks=hooks):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                     timeout=120) as api:
            lead, _ = await a_lead(api)
            ref = (await ask(api, lead, HANDLER, reason="duplicate"))["reference"]
            decided = await decide(api, ref, decision="accept", email_partner=False, email_introducer=False)
            ledger = (await api.get(f"/leads/{lead}/transactions", headers=auth(MANAGER))).json()["transactions"]
    assert crashes == [ref]
    originals = [t for t in ledger if not t["reverses"]]
    reversals = [t for t in ledger if t["reverses"]]
    assert len(originals) == 2 and sorted(t["reverses"] for t in reversals) == sorted(t["id"] for t in originals)
    assert sorted(r["id"] for r in decided["details"]["reversals"]) == sorted(t["id"] for t in reversals)


async def test_a_manager_unrefers_a_lead_without_a_return_request(api, mailbox):
    lead, _ = await a_lead(api)
    refused = await api.post(f"/leads/{lead}/unrefer", json={}, headers=auth(HANDLER))
    assert refused.status_code == 403 and "lead_return.decide" in refused.text
    response = await api.post(f"/leads/{lead}/unrefer", json={"notes": "Partner closed", "lead_status": "new"},
                              headers=auth(MANAGER, **{"Idempotency-Key": f"unrefer-{lead}"}))
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["details"]["reason"] == "unrefer" and case["details"]["return_status"] == "accepted"
    again = await api.post(f"/leads/{lead}/unrefer", json={"notes": "Partner closed", "lead_status": "new"},
                           headers=auth(MANAGER, **{"Idempotency-Key": f"unrefer-{lead}"}))
    assert again.status_code == 200 and again.json()["reference"] == case["reference"]  # one effect
    ledger = (await api.get(f"/leads/{lead}/transactions", headers=auth(MANAGER))).json()["transactions"]
    assert len([t for t in ledger if t["reverses"]]) == 2
    assert (await api.get(f"/leads/{lead}", headers=auth(MANAGER))).json()["status"] == "new"


async def test_an_accept_whose_reversal_fails_for_good_is_undone_and_says_so(api, engine):
    """PostgreSQL refuses the lead's reversal rows for good (a trigger, standing in for any
    permanent refusal): the lead is put back, the cap released, the return stays open and says why."""
    lead, _ = await a_lead(api)
    ref = (await ask(api, lead, HANDLER, reason="duplicate"))["reference"]
    trigger = f"refuse_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(text(f"""
            CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'reversals of this lead are refused' USING ERRCODE = 'check_violation'; END $$"""))
        await conn.execute(text(f"CREATE TRIGGER {trigger} BEFORE INSERT ON lead_transaction FOR EACH ROW WHEN "
                                f"(NEW.lead = '{lead}' AND NEW.reverses IS NOT NULL) EXECUTE FUNCTION {trigger}()"))
    try:
        refused = await decide(api, ref, expect=409, decision="accept", lead_status="returned")
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER {trigger} ON lead_transaction"))
            await conn.execute(text(f"DROP FUNCTION {trigger}()"))
    assert "failed and undone" in refused["detail"]["message"]
    case = (await api.get(f"/cases/{ref}", headers=auth(MANAGER))).json()
    assert case["status"] == "open" and case["details"]["return_status"] == "open"
    assert case["details"]["saga_log"][-1].startswith("failed and undone")
    read = (await api.get(f"/leads/{lead}", headers=auth(MANAGER))).json()
    assert (read["status"], read["billing_point"]) == ("referred", "referral")  # put back
    ledger = (await api.get(f"/leads/{lead}/transactions", headers=auth(MANAGER))).json()["transactions"]
    assert not [t for t in ledger if t["reverses"]]
    # Nothing was left half-done: accepting again, now the ledger takes the rows, completes the saga.
    decided = await decide(api, ref, decision="accept", lead_status="returned")
    assert decided["details"]["return_status"] == "accepted" and len(decided["details"]["reversals"]) == 2


async def test_a_request_retried_with_its_idempotency_key_opens_one_return(api):
    lead, _ = await a_lead(api)
    headers = auth(PARTNER_USER, **{"Idempotency-Key": f"return-{lead}"})
    first = await api.post(f"/leads/{lead}/returns", json={"reason": "duplicate"}, headers=headers)
    assert first.status_code == 201, first.text
    again = await api.post(f"/leads/{lead}/returns", json={"reason": "duplicate"}, headers=headers)
    assert again.status_code in (200, 201) and again.json()["reference"] == first.json()["reference"], again.text
    assert len((await api.get(f"/leads/{lead}/returns", headers=auth(MANAGER))).json()) == 1


async def test_the_lead_search_finds_leads_by_their_latest_return(api):
    """GET /leads filters by the status and dates of each lead's latest return, paged, and a
    partner's user still sees only its own leads."""
    never, group = await a_lead(api, fees=False)
    open_, accepted, declined_then_open = [(await a_lead(api, group=group, fees=False))[0] for _ in range(3)]
    mine_elsewhere, _ = await a_lead(api, partner=OTHER_PARTNER, introducer=None, group=group, fees=False)
    await ask(api, open_, HANDLER, reason="duplicate")
    await ask(api, mine_elsewhere, HANDLER, reason="duplicate")
    ref = (await ask(api, accepted, HANDLER, reason="duplicate"))["reference"]
    await decide(api, ref, decision="accept", email_partner=False, email_introducer=False)
    ref = (await ask(api, declined_then_open, HANDLER, reason="duplicate"))["reference"]
    await decide(api, ref, decision="decline", email_partner=False, email_introducer=False)
    await ask(api, declined_then_open, HANDLER, reason="wrong_number")

    async def leads(user: str = MANAGER, **params) -> list[str]:
        response = await api.get("/leads", params={"lead_group": group, "limit": 500, **params}, headers=auth(user))
        assert response.status_code == 200, response.text
        return sorted(lead["external_id"] for lead in response.json())

    assert await leads(return_status="open") == sorted([open_, declined_then_open, mine_elsewhere])
    assert await leads(return_status="accepted") == [accepted]
    assert await leads(return_status="declined") == []  # its latest return is open again
    assert await leads(return_status="none") == [never]
    today, tomorrow = uk_today().isoformat(), (uk_today() + timedelta(days=1)).isoformat()
    assert await leads(returned_from=today, returned_to=today) == sorted(
        [open_, accepted, declined_then_open, mine_elsewhere])
    assert await leads(returned_from=tomorrow) == []
    assert await leads(return_decided_from=today, return_decided_to=today) == [accepted]
    assert await leads(return_status="open", return_decided_from=today) == []
    # Paged like any list; a partner's user sees only the leads it was referred or introduced.
    pages = [await leads(return_status="open", limit=1, offset=n) for n in range(4)]
    assert sorted(sum(pages, [])) == sorted([open_, declined_then_open, mine_elsewhere]) and pages[3] == []
    assert await leads(PARTNER_USER, return_status="open") == sorted([open_, declined_then_open])
    # Bad filters are 422 naming the parameter.
    for params, field in (({"return_status": "requested"}, "return_status"),
                          ({"return_status": "none", "returned_from": today}, "return_status"),
                          ({"returned_from": tomorrow, "returned_to": today}, "returned_to"),
                          ({"return_decided_from": "20260101"}, "return_decided_from")):
        bad = await api.get("/leads", params=params, headers=auth(MANAGER))
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", field], bad.text


async def test_returns_export_as_csv_and_xlsx_with_the_lists_filters(api):
    """GET /lead-returns.csv and .xlsx: the list's filters, every matching return, read back;
    a partner's user gets only the returns of its own leads, without staff names."""
    lead, group = await a_lead(api, fees=False)
    other, _ = await a_lead(api, partner=OTHER_PARTNER, introducer=None, group=group, fees=False)
    put = await put_settings(api, group, enabled=True, allow_other=True, reasons=["duplicate"], notify_user=MANAGER)
    assert put["allow_other"] is True
    accepted = (await ask(api, lead, HANDLER, reason="other", other_reason="=HYPERLINK(\"x\"), never a lead"))[
        "reference"]
    await decide(api, accepted, decision="accept", notes="Agreed", email_partner=False, email_introducer=False)
    open_ = (await ask(api, other, HANDLER, reason="duplicate"))["reference"]
    today = uk_today()

    async def exported(suffix: str, user: str = MANAGER, **params) -> httpx.Response:
        response = await api.get(f"/lead-returns.{suffix}", headers=auth(user),
                                 params={"requested_from": today.isoformat(), **params})
        assert response.status_code == 200, response.text
        return response

    response = await exported("csv", headings="fields")
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="lead-returns-' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    mine = {row["reference"]: row for row in rows if row["reference"] in (accepted, open_)}
    assert set(mine) == {accepted, open_}
    row = mine[accepted]
    assert (row["lead"], row["lead_group"], row["partner"], row["return_status"], row["colour"]) == (
        lead, group, PARTNER, "accepted", "green")
    assert read_csv_text(row["reason_text"]) == '=HYPERLINK("x"), never a lead'  # never a formula
    assert (row["requested_on"], row["decided_on"], row["decision_notes"], row["remedy"]) == (
        today.isoformat(), today.isoformat(), "Agreed", "refund")
    assert row["decided_by"] == "Mo Manager"
    # The list's filters: only the open one; headings for people by default.
    response = await exported("csv", status="open", partner=OTHER_PARTNER)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Reference", "Lead", "Lead group"] and open_ in {r[0] for r in rows[1:]}
    assert accepted not in {r[0] for r in rows[1:]}

    book = openpyxl.load_workbook(io.BytesIO((await exported("xlsx", headings="fields", status="accepted")).content))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    found = {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert open_ not in found
    row = found[accepted]
    assert row["reason_text"] == '=HYPERLINK("x"), never a lead' and row["return_status"] == "accepted"
    assert row["requested_on"].date() == today and row["decided_on"].date() == today

    # A partner's user: its own leads' returns only, and no staff names.
    response = await exported("csv", PARTNER_USER, headings="fields")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert accepted in {r["reference"] for r in rows} and open_ not in {r["reference"] for r in rows}
    assert "decided_by" not in rows[0] and "Mo Manager" not in str([r for r in rows if r["reference"] == accepted])
    sheet = openpyxl.load_workbook(io.BytesIO((await exported("xlsx", PARTNER_USER)).content)).active
    references = {r[0] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert accepted in references and open_ not in references
    # Signed in only; a bad filter: 422 naming it.
    assert (await api.get("/lead-returns.csv")).status_code == 401
    bad = await api.get("/lead-returns.xlsx", params={"status": "maybe"}, headers=auth(MANAGER))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "status"]


async def test_an_accepted_return_owes_a_replacement_lead_sent_once(api, temporal):
    """Accepting with a replacement (where the group offers them) keeps the partner's fee and owes
    a lead; linking a lead of the same group referred to the partner closes the return, once."""
    lead, group = await a_lead(api)
    ref = (await ask(api, lead, PARTNER_USER, reason="duplicate"))["reference"]
    refused = await decide(api, ref, expect=422, decision="accept", replacement=True)
    assert refused["detail"][0]["loc"][-1] == "replacement" and "not offered" in refused["detail"][0]["msg"]
    await put_settings(api, group, enabled=True, partners_may_start=True, reasons=["duplicate", "wrong_number"],
                       notify_user=MANAGER, replacements=True)
    case = await decide(api, ref, decision="accept", replacement=True, reverse_transactions=False,
                        email_partner=False, email_introducer=False)
    details = case["details"]
    assert (case["status"], details["return_status"], details["remedy"]) == ("open", "accepted", "replacement")
    assert details["replacement"]["owed_on"] == uk_today().isoformat() and details["replacement"]["lead_id"] is None
    assert [t["title"] for t in case["tasks"] if t["status"] == "open"] == [f"Send a replacement lead to {PARTNER}"]
    ledger = (await api.get(f"/leads/{lead}/transactions", headers=auth(MANAGER))).json()["transactions"]
    assert not [t for t in ledger if t["reverses"]], "a replacement instead of a refund: the fee stands"
    # A declined return owes nothing.
    other, _ = await a_lead(api, group=group, fees=False)
    declined = (await ask(api, other, HANDLER, reason="duplicate"))["reference"]
    assert (await decide(api, declined, expect=422, decision="decline", replacement=True))["detail"][0]["loc"][-1] == (
        "replacement")

    # The lead sent must be of the same group and referred to the same partner.
    elsewhere, _ = await a_lead(api, fees=False)
    not_theirs, _ = await a_lead(api, partner=OTHER_PARTNER, introducer=None, group=group, fees=False)
    replacement, _ = await a_lead(api, group=group)  # its referral fee posted as any lead's
    for candidate, words in ((elsewhere, "lead group"), (not_theirs, "not referred"), (lead, "returned lead itself"),
                             ("L-nowhere", "no lead")):
        refused = await api.post(f"/cases/{ref}/replacement", json={"lead_id": candidate}, headers=auth(MANAGER))
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "lead_id", refused.text
        assert words in refused.json()["detail"][0]["msg"]
    refused = await api.post(f"/cases/{ref}/replacement", json={"lead_id": replacement}, headers=auth("drafter"))
    assert refused.status_code == 403 and "lead_return.send_replacement" in refused.text
    assert (await api.post(f"/cases/{declined}/replacement", json={"lead_id": replacement},
                           headers=auth(MANAGER))).status_code == 409  # open, undecided: nothing owed yet

    headers = auth("coordinator", **{"Idempotency-Key": f"replace-{ref}"})
    sent = await api.post(f"/cases/{ref}/replacement", json={"lead_id": replacement}, headers=headers)
    assert sent.status_code == 200, sent.text
    case = sent.json()
    assert case["status"] == "closed" and case["details"]["replacement"]["lead_id"] == replacement
    assert case["details"]["replacement"]["sent_by"] == "Cora Coordinator"
    assert not [t for t in case["tasks"] if t["status"] == "open"]
    again = await api.post(f"/cases/{ref}/replacement", json={"lead_id": replacement}, headers=headers)
    assert again.status_code == 200 and again.json()["details"]["replacement"] == case["details"]["replacement"]
    refused = await api.post(f"/cases/{ref}/replacement", json={"lead_id": replacement}, headers=auth(MANAGER))
    assert refused.status_code == 409

    kinds = [e["kind"] for e in (await api.get(f"/cases/{ref}/timeline", headers=auth(MANAGER))).json()]
    assert {"return_accepted", "replacement_owed", "closed"} <= set(kinds)
    assert kinds.count("replacement_sent") == 1  # the retry had no second effect
    await keep_history(temporal, ref, "lead-return-replacement")
    for each in (lead, replacement):  # on both leads' activity histories
        history = (await api.get(f"/leads/{each}/activities", headers=auth(MANAGER))).json()
        assert "replacement_sent" in {a["kind"] for a in history}, each
    listed = [r for r in (await api.get("/lead-returns", params={"partner": PARTNER, "limit": 500},
                                        headers=auth(PARTNER_USER))).json() if r["reference"] == ref]
    assert (listed[0]["remedy"], listed[0]["replacement_lead"]) == ("replacement", replacement)
    replacement_ledger = (await api.get(f"/leads/{replacement}/transactions", headers=auth(MANAGER))).json()
    assert sorted(t["kind"] for t in replacement_ledger["transactions"]) == ["introducer_commission", "referral_fee"]

    # A lead replaces one return only.
    third, _ = await a_lead(api, group=group, fees=False)
    ref3 = (await ask(api, third, HANDLER, reason="duplicate"))["reference"]
    both = await decide(api, ref3, decision="accept", replacement=True, email_partner=False, email_introducer=False)
    assert both["details"]["remedy"] == "refund_and_replacement"
    refused = await api.post(f"/cases/{ref3}/replacement", json={"lead_id": replacement}, headers=auth(MANAGER))
    assert refused.status_code == 422 and f"already replaces the lead of return {ref}" in refused.text


async def test_a_partner_reads_its_return_without_internal_notes_or_staff_names(api):
    """The return as a partner's user reads it (api/partner_view.py): status, decision, reason,
    dates and the decision notes it is emailed anyway; not the notes, tasks, who decided, nor the
    saga's log. Its own users' names stay."""
    lead, _ = await a_lead(api)
    asked = await ask(api, lead, PARTNER_USER, reason="duplicate")
    ref = asked["reference"]
    assert asked["tasks"] == [] and asked["assignee_name"] is None and asked["details"]["return_status"] == "open"
    assert (await api.post(f"/cases/{ref}/notes", json={"text": "Internal: they return everything"},
                           headers=auth(MANAGER))).status_code == 200
    await decide(api, ref, decision="accept", notes="Confirmed duplicate", email_partner=False, email_introducer=False)

    response = await api.get(f"/cases/{ref}", headers=auth(PARTNER_USER))
    assert response.status_code == 200 and "Mo Manager" not in response.text and "return everything" not in response.text
    case = response.json()
    details = case["details"]
    assert (details["return_status"], details["colour"], details["decision_notes"], details["remedy"]) == (
        "accepted", "green", "Confirmed duplicate", "refund")
    assert details["decided_on"] == uk_today().isoformat() and len(details["reversals"]) == 2
    assert "decided_by" not in details and "saga_log" not in details
    assert case["notes"] == [] and case["tasks"] == [] and case["registered_by"] == PARTNER_USER

    timeline = (await api.get(f"/cases/{ref}/timeline", headers=auth(PARTNER_USER))).json()
    by_kind = {e["kind"]: e for e in timeline}
    assert by_kind["return_requested"]["actor_name"] == PARTNER_USER  # its own user, named
    assert by_kind["return_accepted"]["actor_name"] == "Staff"
    assert by_kind["return_accepted"]["reason"] == "Confirmed duplicate"
    assert "note_added" not in by_kind and "task_added" not in by_kind
    history = await api.get(f"/leads/{lead}/activities", headers=auth(PARTNER_USER))
    assert "Mo Manager" not in history.text and "return everything" not in history.text
    assert {"return_requested", "return_accepted", "transaction_reversed"} <= {a["kind"] for a in history.json()}
    # Staff read it whole.
    whole = (await api.get(f"/cases/{ref}", headers=auth(MANAGER))).json()
    assert whole["details"]["decided_by"] == "Mo Manager" and whole["notes"]
