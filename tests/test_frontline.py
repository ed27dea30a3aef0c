"""Frontline complaint handling (F4) through the HTTP API on the real services: a phone complaint
owned by its agent; a repeat contact routed to that owner (task + email); two contacts from one
complainant at the same moment end on one case; resolution at first contact; the follow-up with
its call script; inbound email as a raw RFC 5322 message; the register and its CSV/XLSX exports."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import datetime, timedelta

import httpx
from openpyxl import load_workbook

from casework.platform.db import DRIVER_POOL_SIZE
from tests.casefixtures import auth, case_path, step
from tests.seeding import bearer, make_team, make_user
from tests.test_deadline_clocks import Clock, clock, record_history  # noqa: F401 (the fixture)
from tests.test_digests import far_from_now, scheduled_run

REGISTER_HEADINGS = ["Case Owner", "Department", "Date received", "Date followed-up with customer",
                     "Resolved and followed up (Y/N)", "Customer Name", "Issue", "Resolution",
                     "Proposed Improvement Idea"]


def phone(tag: str, national: bool = False) -> str:
    """The complainant's own number (+44 20 7xxx xxxx), written as an agent might."""
    digits = f"7{int(tag, 36) % 10**7:07d}"
    return f"020 {digits[:4]} {digits[4:]}" if national else f"+44 20 {digits[:4]} {digits[4:]}"


def contact(tag: str, **overrides) -> dict:
    body = {"channel": "phone", "issue": "Broadband", "summary": "My broadband keeps dropping out.",
            "complainant": {"name": f"Alex Caller {tag}", "email": f"Alex.{tag}@Example.net",
                            "phone": phone(tag)},
            "department": "SERVICE"}
    body.update(overrides)
    return body


async def take(api, body: dict, user: str = "handler", expect: int = 201, **headers: str) -> dict:
    response = await api.post("/frontline/contacts", json=body, headers=auth(user, **headers))
    assert response.status_code == expect, response.text
    return response.json()


async def test_a_repeat_contact_lands_with_the_first_owner_who_gets_a_task_and_an_email(api, mailbox):
    tag = uuid.uuid4().hex[:8]
    first = await take(api, contact(tag))
    ref = first["reference"]
    assert first["outcome"] == "new_case" and first["owner_name"] == "Hana Handler"
    assert first["case"]["kind"] == "frontline" and first["case"]["details"]["department"] == "SERVICE"

    # Another agent takes the same complainant (phone written differently, email in other case).
    again = contact(tag, channel="live_chat", summary="Still dropping out, third time this week.",
                    complainant={"name": f"Alex Caller {tag}", "email": f"alex.{tag}@example.NET"})
    repeat = await take(api, again, user="manager", expect=200)
    assert repeat["outcome"] == "repeat_contact" and repeat["reference"] == ref
    assert repeat["owner_name"] == "Hana Handler" and "Hana Handler" in repeat["message"]
    details = repeat["case"]["details"]
    assert details["owner_name"] == "Hana Handler" and details["repeat_contacts"] == 1
    task = next(t for t in repeat["case"]["tasks"] if t["title"].startswith("Repeat contact"))
    assert task["assignee_name"] == "Hana Handler" and task["status"] == "open"
    for _ in range(100):
        if [m for m in mailbox.to("handler@example.org") if ref in str(m["Subject"])]:
            break
        await asyncio.sleep(0.1)
    assert [m for m in mailbox.to("handler@example.org") if ref in str(m["Subject"])], "the owner was not emailed"

    # The agent overrides the match: a different issue gets its own case, with the reason kept.
    other = await take(api, contact(tag, new_case_reason="different issue: a billing question"), user="manager")
    assert other["reference"] != ref and other["outcome"] == "new_case"
    assert other["case"]["details"]["new_case_reason"] == "different issue: a billing question"


async def test_two_contacts_from_one_complainant_at_the_same_moment_make_one_case(api):
    tag = uuid.uuid4().hex[:8]
    # The same person three ways at once: every contact names one identity they share.
    answers = await asyncio.gather(
        api.post("/frontline/contacts", json=contact(tag, channel="phone"), headers=auth("handler")),
        api.post("/frontline/contacts", json=contact(tag, channel="email", complainant={
            "name": "A. Caller", "email": f"ALEX.{tag}@example.net"}), headers=auth("manager")),
        api.post("/frontline/contacts", json=contact(tag, channel="live_chat", complainant={
            "name": "Alex", "email": f"alex.{tag}@example.net", "phone": phone(tag, national=True)}), headers=auth("manager")))
    assert sorted(a.status_code for a in answers) == [200, 200, 201], [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert len({b["reference"] for b in bodies}) == 1
    case = (await api.get(case_path(bodies[0]["reference"]), headers=auth("manager"))).json()
    assert len(case["details"]["contacts"]) == 3 and case["details"]["repeat_contacts"] == 2


async def test_as_many_intakes_at_once_as_the_pool_has_connections_are_all_registered(settings, temporal, worker):
    """Each intake holds a pooled connection for its transaction while it starts the case: had the
    case's first deadlines been read on a second connection from the same pool, DRIVER_POOL_SIZE
    intakes at once would each wait for one until the pool's timeout, and answer 503. An API of
    its own, as in production (the session's shares its pool with the worker)."""
    from api.main import create_app

    app = create_app(settings, temporal=temporal)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60) as api:
        bodies = [contact(uuid.uuid4().hex[:8]) for _ in range(DRIVER_POOL_SIZE)]
        answers = await asyncio.gather(*(api.post("/frontline/contacts", json=body, headers=auth("handler"))
                                         for body in bodies))
    refused = [a.text for a in answers if a.status_code != 201]
    assert not refused, refused
    assert len({a.json()["reference"] for a in answers}) == len(bodies)


async def test_resolved_at_first_contact_closes_at_once_and_the_register_shows_y(api):
    tag = uuid.uuid4().hex[:8]
    done = await take(api, contact(tag, resolution="Reset the router remotely; working now.",
                                   improvement_idea="Offer a remote reset in the app"))
    assert done["outcome"] == "resolved_first_contact"
    case = done["case"]
    assert case["status"] == "closed" and case["details"]["resolved_first_contact"]
    assert case["details"]["resolved_and_followed_up"] == "Y"
    kinds = [e["kind"] for e in (await api.get(f"{case_path(done['reference'])}/timeline",
                                               headers=auth("manager"))).json()]
    assert "resolved_first_contact" in kinds and "closed" in kinds
    rows = (await api.get("/frontline/register", params={"resolved": "Y", "owner": "Hana Handler"},
                          headers=auth("handler"))).json()
    row = next(r for r in rows if r["reference"] == done["reference"])
    assert row["resolution"] == "Reset the router remotely; working now." and row["date_followed_up"] is None
    assert row["proposed_improvement_idea"] == "Offer a remote reset in the app"


async def test_investigation_follow_up_with_the_script_then_the_register_export_says_y(api):
    tag = uuid.uuid4().hex[:8]
    ref = (await take(api, contact(tag)))["reference"]
    investigating = await step(api, ref, "investigate", "handler", {"note": "Needs the network team"})
    assert investigating["stage"] == "investigation"
    task = next(t for t in investigating["tasks"] if t["title"].startswith("Follow up"))
    assert task["assignee_name"] == "Hana Handler" and task["status"] == "open"
    assert task["description"].startswith("Hello, my name is Hana Handler calling from Casework.")
    await step(api, ref, "resolve-contact", "handler", {"resolution": "x"}, expect=409)  # no longer first contact

    # Not satisfied yet: say when to follow up again (422 naming the field without it).
    await step(api, ref, "follow-up", "handler", {"satisfied": False, "note": "Still slow"}, expect=422)
    closed = await step(api, ref, "follow-up", "handler",
                        {"satisfied": True, "note": "Happy now", "resolution": "Line fault fixed by engineers",
                         "improvement_idea": "Proactive fault texts"})
    assert closed["status"] == "closed" and closed["details"]["resolved_and_followed_up"] == "Y"
    assert [t["status"] for t in closed["tasks"]] == ["done"]
    await step(api, ref, "follow-up", "handler", {"satisfied": True, "note": "x", "resolution": "y"}, expect=409)

    response = await api.get("/frontline/register.csv", params={"department": "SERVICE"}, headers=auth("handler"))
    assert response.status_code == 200, response.text
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == REGISTER_HEADINGS
    row = next(r for r in table if r[5] == f"Alex Caller {tag}")
    assert row[0] == "Hana Handler" and row[1] == "SERVICE" and row[3] and row[4] == "Y"
    assert row[6] == "Broadband" and row[7] == "Line fault fixed by engineers"
    assert row[8] == "Proactive fault texts"

    book = await api.get("/frontline/register.xlsx", params={"resolved": "Y"}, headers=auth("handler"))
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert [c.value for c in sheet[1]] == REGISTER_HEADINGS
    assert any(r[5] == f"Alex Caller {tag}" and r[4] == "Y" for r in sheet.iter_rows(min_row=2, values_only=True))
    none = await api.get("/frontline/register", params={"resolved": "N", "owner": "Hana Handler"},
                         headers=auth("handler"))
    assert all(r["reference"] != ref for r in none.json())


async def test_an_inbound_email_is_a_case_to_claim_and_a_resent_message_is_one_contact(api):
    tag = uuid.uuid4().hex[:8]
    raw = (f"From: Robin Mailer <robin.{tag}@example.net>\r\nTo: complaints@example.org\r\n"
           f"Subject: Wrong bill {tag}\r\nMessage-ID: <{tag}@mail.example.net>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nI was billed twice this month.\r\n").encode()
    params = {"department": "SERVICE", "issue": "Billing"}
    headers = auth("handler", **{"Content-Type": "message/rfc822"})
    first = await api.post("/frontline/inbound-email", content=raw, params=params, headers=headers)
    assert first.status_code == 201, first.text
    ref = first.json()["reference"]
    case = first.json()["case"]
    assert case["details"]["channel"] == "email" and case["details"]["owner_name"] is None
    assert case["complainant_name"] == "Robin Mailer" if "complainant_name" in case else True
    again = await api.post("/frontline/inbound-email", content=raw, params=params, headers=headers)
    assert again.json()["reference"] == ref
    assert len((await api.get(case_path(ref), headers=auth("handler"))).json()["details"]["contacts"]) == 1
    await step(api, ref, "investigate", "handler", expect=409)  # nobody owns it yet
    claimed = await step(api, ref, "claim", "handler")
    assert claimed["details"]["owner_name"] == "Hana Handler"
    await step(api, ref, "claim", "manager", expect=409)
    bad = await api.post("/frontline/inbound-email", content=b"Subject: no sender\r\n\r\nhello", params=params,
                         headers=headers)
    assert bad.status_code == 422 and "From" in bad.text


async def test_intake_refuses_a_complainant_nobody_could_find_again(api):
    response = await api.post("/frontline/contacts", json=contact("z", issue="Weather"), headers=auth("handler"))
    assert response.status_code == 422 and "issue" in response.text and "Broadband" in response.text
    body = contact("x", complainant={"name": "No Contact"})
    response = await api.post("/frontline/contacts", json=body, headers=auth("handler"))
    assert response.status_code == 422 and "complainant" in response.text
    response = await api.post("/frontline/contacts", json=contact("y", department="CENTRAL"), headers=auth("handler"))
    assert response.status_code == 422 and "department" in response.text


async def test_a_missed_same_day_follow_up_escalates_to_the_team_lead_then_is_done(clock: Clock):  # noqa: F811
    """Time-skipping: the follow-up promised today is not made by the end of the owner's working
    day; the case's own timer flags it and opens a task for the team lead (SERVICE's manager)."""
    api, tag = clock.api, uuid.uuid4().hex[:8]
    ref = (await take(api, contact(tag)))["reference"]
    case = await step(api, ref, "investigate", "handler", {"note": "Needs the network team"})
    follow_up = next(t for t in case["tasks"] if t["title"].startswith("Follow up"))
    due_at = datetime.fromisoformat(follow_up["due_at"])
    assert due_at.date() <= (await clock.now()).date() + timedelta(days=1)  # today's, not a later day's

    await clock.skip_to(due_at)
    escalated = await clock.event(ref, "follow_up_escalated")
    assert escalated["data"]["task_id"] == follow_up["id"] and "Mo Manager" in escalated["summary"]
    case = await clock.case_when(ref, lambda c: any(t["title"].startswith("Missed follow-up") for t in c["tasks"]),
                                 "a task for the team lead")
    lead_task = next(t for t in case["tasks"] if t["title"].startswith("Missed follow-up"))
    assert lead_task["assignee_name"] == "Mo Manager" and lead_task["status"] == "open"
    assert case["details"]["escalations"] == 1

    # The customer calls again (another agent): it goes to the owner; then the owner follows up.
    repeat = await take(api, contact(tag, channel="live_chat", summary="Nobody called me back"), user="manager",
                        expect=200)
    assert repeat["reference"] == ref
    closed = await step(api, ref, "follow-up", "handler", {"satisfied": True, "note": "All fine now",
                                                          "resolution": "Engineer visit fixed the line"})
    assert closed["status"] == "closed" and closed["details"]["resolved_and_followed_up"] == "Y"
    assert {t["status"] for t in closed["tasks"]} == {"done", "cancelled"}
    await record_history(clock, ref, "frontline-follow-up-escalated")


async def test_a_contact_after_the_case_closed_within_the_window_goes_to_its_owner_on_a_linked_case(api):
    tag = uuid.uuid4().hex[:8]
    first = await take(api, contact(tag, resolution="Explained the outage"), user="handler")
    assert first["case"]["status"] == "closed"
    # A week later (within 30 days) the customer calls about the same issue and reaches Mo.
    again = await take(api, contact(tag, summary="It is back again"), user="manager")
    assert again["outcome"] == "repeat_of_closed_case" and again["reference"] != first["reference"]
    case = again["case"]
    assert case["details"]["repeat_of"] == first["reference"] and again["owner_name"] == "Hana Handler"
    assert case["details"]["owner_name"] == "Hana Handler" and case["assignee_name"] == "Hana Handler"
    task = next(t for t in case["tasks"] if t["title"].startswith("Repeat contact"))
    assert task["assignee_name"] == "Hana Handler"
    assert [c["taken_by"] for c in case["details"]["contacts"]] == ["Mo Manager"]
    timeline = (await api.get(f"{case_path(again['reference'])}/timeline", headers=auth("manager"))).json()
    assert any(e["kind"] == "repeat_of" and e["data"]["repeat_of"] == first["reference"] for e in timeline)


async def team_with_three_contacts(api, sessionmaker, prefix: str) -> tuple[str, str, str]:
    """A team of its own (so the counts are the test's alone) whose agent takes a complaint
    resolved at first contact and another, contacted about again, that is investigated."""
    tag = uuid.uuid4().hex[:8]
    async with sessionmaker() as session, session.begin():
        team = await make_team(session, f"{prefix}{tag[:6]}".upper())
        await make_user(session, f"agent{tag}", ["handler"], [team])
    agent = f"agent{tag}"

    async def take_as(body: dict, expect: int = 201) -> dict:
        response = await api.post("/frontline/contacts", json={**body, "department": team}, headers=bearer(agent))
        assert response.status_code == expect, response.text
        return response.json()

    await take_as(contact(f"a{tag}", resolution="Sorted on the call"))
    ref = (await take_as(contact(f"b{tag}")))["reference"]
    await take_as(contact(f"b{tag}", summary="again"), expect=200)
    await api.post(f"{case_path(ref)}/investigate", json={}, headers=bearer(agent))
    return team, agent, ref


async def test_statistics_count_first_contact_resolutions_repeats_and_follow_ups_by_owner(api, sessionmaker):
    team, agent, ref = await team_with_three_contacts(api, sessionmaker, "FL")
    await api.post(f"{case_path(ref)}/follow-up", json={"satisfied": True, "note": "ok", "resolution": "Fixed"},
                   headers=bearer(agent))
    response = await api.get("/frontline/statistics", params={"by": "department"}, headers=auth("manager"))
    assert response.status_code == 200, response.text
    row = next(r for r in response.json() if r["group"] == team)
    assert (row["complaints"], row["resolved_first_contact"], row["repeat_contacts"]) == (2, 1, 1)
    assert (row["follow_ups_due"], row["follow_ups_on_time"]) == (1, 1)
    assert row["first_contact_resolution_rate"] == "50.0" and row["follow_ups_on_time_rate"] == "100.0"


async def test_frontline_figures_are_in_the_team_statistics_and_the_digest_email(api, temporal, mailbox,
                                                                                 sessionmaker):
    team, agent, _ = await team_with_three_contacts(api, sessionmaker, "FD")

    response = await api.get("/statistics/teams", params={"team": team}, headers=bearer(agent))
    assert response.status_code == 200, response.text
    [stats] = response.json()["teams"]
    figures = stats["frontline"]
    totals = figures["totals"]
    assert (totals["complaints"], totals["contacts"], totals["resolved_first_contact"]) == (2, 3, 1)
    assert (totals["repeat_contacts"], totals["follow_ups_due"], totals["follow_ups_overdue"]) == (1, 0, 0)
    assert totals["first_contact_resolution_rate"] == "50.0" and totals["repeat_contact_rate"] == "50.0"
    assert [(o["group"], o["complaints"]) for o in figures["by_owner"]] == [(f"User {agent}", 2)]
    other = (await api.get("/statistics/teams", params={"team": "SERVICE"}, headers=auth("manager"))).json()
    assert all(t["code"] != team for t in other["teams"])  # another team's figures are its own

    # The team's digest email carries them.
    sub = await api.post("/digests", headers=bearer(agent), json={
        "team": team, "schedule": {"frequency": "daily", "time": far_from_now("Europe/London"),
                                   "time_zone": "Europe/London"}})
    assert sub.status_code == 201, sub.text
    assert (await api.post(f"/digests/{sub.json()['id']}/trigger", headers=bearer(agent))).status_code == 202
    run = await scheduled_run(temporal, sub.json()["schedule_id"])
    assert (await run.result()).sent
    [message] = [m for m in mailbox.to(f"{agent}@example.org") if "digest" in str(m["Subject"])]
    text = message.get_body(("plain",)).get_content()
    for line in ("FRONTLINE COMPLAINTS (received since", "Complaints: 2 (3 contacts)",
                 "Resolved at first contact: 1 (50.0%)", "Repeat contacts: 1 (50.0%)",
                 "Follow-ups on time: 0 of 0; overdue now: 0", f"User {agent}: 2 / 1 / 1 / 0"):
        assert line in text, line
    assert "Frontline complaints (received since" in message.get_body(("html",)).get_content()


async def test_an_improvement_idea_goes_through_the_review_and_the_fortnightly_agenda_email_arrives(
        api, temporal, mailbox):
    tag = uuid.uuid4().hex[:8]
    ref = (await take(api, contact(tag, resolution="Sorted")))["reference"]
    idea = {"title": f"Text customers about outages {tag}", "description": "A text when the area has an outage",
            "case_reference": ref}
    proposed = await api.post("/frontline/improvements", json=idea, headers=auth("handler", **{"Idempotency-Key": tag}))
    assert proposed.status_code == 201, proposed.text
    again = await api.post("/frontline/improvements", json=idea, headers=auth("handler", **{"Idempotency-Key": tag}))
    assert again.json()["id"] == proposed.json()["id"]  # a retried request is one idea
    idea_id = proposed.json()["id"]
    path = f"/frontline/improvements/{idea_id}"
    hidden = (await take(api, contact(f"c{tag}", department="CENTRAL"), user="coordinator"))["reference"]
    unseen = await api.post("/frontline/improvements", json={**idea, "case_reference": hidden}, headers=auth("handler"))
    assert unseen.status_code == 422 and "case_reference" in unseen.text  # CENTRAL's: not the handler's to see

    refused = await api.post(f"{path}/status", json={"status": "discussed"}, headers=auth("handler"))
    assert refused.status_code == 403 and "frontline.review_improvements" in refused.text
    skipped = await api.post(f"{path}/status", json={"status": "agreed"}, headers=auth("manager"))
    assert skipped.status_code == 409 and "proposed" in skipped.text

    # The agenda: the reviewers are emailed by the schedule's run (triggered now, as at the fortnight).
    schedule = await api.put("/frontline/review-schedule", json={"reviewers": [f"review.{tag}@example.org"]},
                             headers=auth("manager"))
    assert schedule.status_code == 200, schedule.text
    await temporal.get_schedule_handle(schedule.json()["schedule_id"]).trigger()
    for _ in range(200):
        agenda = mailbox.to(f"review.{tag}@example.org")
        if agenda:
            break
        await asyncio.sleep(0.1)
    assert len(agenda) == 1 and "Service improvement review" in str(agenda[0]["Subject"])
    text = agenda[0].get_body(preferencelist=("plain",)).get_content()
    assert f"Text customers about outages {tag} (from {ref})" in text and "Broadband:" in text

    for status, note in (("discussed", "Liked at the review"), ("out_for_comment", "Proposed: SMS via the CRM")):
        moved = await api.post(f"{path}/status", json={"status": status, "note": note}, headers=auth("manager"))
        assert moved.status_code == 200 and moved.json()["status"] == status
    comment = await api.post(f"{path}/comments", json={"text": "Include the fix time"}, headers=auth("handler"))
    assert comment.status_code == 200
    bare = await api.post(f"{path}/status", json={"status": "rejected"}, headers=auth("manager"))
    assert bare.status_code == 422 and "note" in bare.text
    for status in ("agreed", "implemented"):
        moved = await api.post(f"{path}/status", json={"status": status, "note": "ok"}, headers=auth("manager"))
        assert moved.status_code == 200
    steps = moved.json()["steps"]
    assert [(s["kind"], s["to_status"]) for s in steps] == [
        ("status", "proposed"), ("status", "discussed"), ("status", "out_for_comment"),
        ("comment", "out_for_comment"), ("status", "agreed"), ("status", "implemented")]
    listed = await api.get("/frontline/improvements", params={"status": "implemented"}, headers=auth("handler"))
    assert idea_id in [i["id"] for i in listed.json()]


async def test_an_administrator_edits_the_brand_and_call_script_and_only_new_contacts_get_it(api):
    admin = auth("admin")
    shipped = (await api.get("/admin/templates/frontline-script", headers=admin)).json()
    assert shipped["source"] == "shipped" and shipped["brand"] == "Casework"
    assert "agent.name" in shipped["placeholders"] and "case.reference" in shipped["placeholders"]
    assert (await api.get("/admin/templates/frontline-script", headers=auth("handler"))).status_code == 403

    # Before any edit: the shipped script, filled in for this contact.
    tag = uuid.uuid4().hex[:8]
    before = await take(api, contact(f"a{tag}"))
    said = before["script"]
    assert said["channel"] == "phone" and said["template"] == "frontline_script (shipped default)"
    assert said["acknowledgement"].startswith(f"Thank you for calling Casework, Alex Caller a{tag}. My name is "
                                              "Hana Handler")
    assert before["reference"] in said["acknowledgement"]
    assert before["case"]["details"]["call_script"] == said

    # A text with an unknown placeholder is refused, naming the text and the name.
    texts = {channel: dict(shipped[channel]) for channel in ("phone", "live_chat", "email")}
    edit = {"brand": "Acme Broadband", "follow_up": shipped["follow_up"], **texts, "case_type": "FRONT",
            "note": "Rebrand"}
    bad = {**edit, "phone": {**texts["phone"], "apology": "Sorry, {{ complainant.nmae }}."}}
    refused = await api.post("/admin/templates/frontline-script", json=bad, headers=admin)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"][0]
    assert detail["loc"] == ["body", "phone.apology"] and detail["placeholder"] == "complainant.nmae"

    try:
        edit["phone"] = {**texts["phone"], "apology": "{{ brand }} is very sorry, {{ complainant.name }}."}
        edit["live_chat"] = {**texts["live_chat"], "next_steps": "{{ agent.name }} will message you today."}
        added = await api.post("/admin/templates/frontline-script", json=edit, headers=admin)
        assert added.status_code == 201, added.text
        version = added.json()
        assert version["source"] == "library" and version["case_type"] == "FRONT" and version["version"] >= 1
        listed = (await api.get("/admin/templates/frontline-script/versions", headers=admin)).json()
        assert listed[0]["version_id"] == version["version_id"] and listed[0]["uploaded_by"] == "Ada Admin"

        # New contacts get the new brand and script, per channel, with their values.
        after = await take(api, contact(f"b{tag}"))
        assert after["script"]["apology"] == f"Acme Broadband is very sorry, Alex Caller b{tag}."
        assert after["script"]["template"] == f"frontline_script v{version['version']} for FRONT"
        chat = await take(api, contact(f"c{tag}", channel="live_chat"))
        assert chat["script"]["next_steps"] == "Hana Handler will message you today."
        investigating = await step(api, after["reference"], "investigate", "handler", {})
        task = next(t for t in investigating["tasks"] if t["title"].startswith("Follow up"))
        assert task["description"].startswith("Hello, my name is Hana Handler calling from Acme Broadband.")
        timeline = (await api.get(f"{case_path(after['reference'])}/timeline", headers=auth("manager"))).json()
        registered = next(e for e in timeline if e["kind"] == "registered")
        assert registered["data"]["call_script_version_id"] == version["version_id"]

        # The case opened before the edit keeps what its complainant was told, and its follow-up
        # still names the old brand.
        old = (await api.get(case_path(before["reference"]), headers=auth("handler"))).json()
        assert old["details"]["call_script"] == said
        investigating = await step(api, before["reference"], "investigate", "handler", {})
        task = next(t for t in investigating["tasks"] if t["title"].startswith("Follow up"))
        assert task["description"].startswith("Hello, my name is Hana Handler calling from Casework.")

        # A repeat contact is a new contact: it gets the script in use now, kept on that contact.
        repeat = await take(api, contact(f"a{tag}", summary="Again"), user="manager", expect=200)
        assert repeat["reference"] == before["reference"]
        assert repeat["script"]["apology"] == f"Acme Broadband is very sorry, Alex Caller a{tag}."
        assert repeat["case"]["details"]["contacts"][-1]["script"] == repeat["script"]
        assert repeat["case"]["details"]["call_script"] == said
    finally:  # the other tests expect the shipped texts
        restore = {"brand": shipped["brand"], "follow_up": shipped["follow_up"], **texts, "case_type": "FRONT"}
        assert (await api.post("/admin/templates/frontline-script", json=restore, headers=admin)).status_code == 201
