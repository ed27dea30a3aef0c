"""Digest emails: a subscription is a Temporal Schedule on the dev server; triggered, its run
mails the team statistics and case list (HTML + text + XLSX) to the local SMTP server, once."""

from __future__ import annotations

import asyncio
import io
import os
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from temporalio.client import ScheduleRange
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from activities.digest import DigestActivities
from casework.cases.jobs import DigestJob, DigestResult
from casework.platform.db import OutboxMessage, make_sessionmaker
from casework.documents.rendering import longdate
from tests.casefixtures import auth
from tests.seeding import bearer, case_row, insert_cases, make_team, make_user, tag
from workflows.registry import WORKFLOWS, DigestWorkflow

TODAY = date.today()
HISTORIES = Path(__file__).parent / "histories"


def far_from_now(zone: str) -> str:
    """A time of day twelve hours away, so the schedule never fires by itself during the test."""
    return (datetime.now(ZoneInfo(zone)) + timedelta(hours=12)).strftime("%H:%M")


async def scheduled_run(temporal, schedule_id: str):
    # Visibility is eventually consistent; poll briefly for the run the trigger started.
    for _ in range(100):
        runs = [w async for w in temporal.list_workflows(f'TemporalScheduledById = "{schedule_id}"')]
        if runs:
            return temporal.get_workflow_handle_for(DigestWorkflow.run, runs[0].id)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no run of schedule {schedule_id}")


@pytest.fixture
async def digest_team(engine):
    t = tag()
    async with make_sessionmaker(engine)() as session, session.begin():
        team = await make_team(session, f"DG{t}")
        await make_user(session, f"dlead{t}", ["coordinator"], [team])
        ann = await make_user(session, f"dann{t}", ["drafter"], [team])
        await make_user(session, f"dother{t}", ["drafter"], [])
        cases = [
            case_row(f"D{t}/000001/24", complainant="Olive Overdue", team=team, assignee=ann,
                     deadline=TODAY - timedelta(days=2)),
            case_row(f"D{t}/000002/24", complainant='Una "Unallocated", Esq.', team=team,
                     stage="acknowledgement", deadline=TODAY + timedelta(days=40)),
            case_row(f"D{t}/000003/24", complainant="Sid Soon", team=team, assignee=ann, stage="qa",
                     deadline=TODAY + timedelta(days=1)),
            case_row(f"D{t}/000004/24", complainant="Carl Closed", team=team, status="closed",
                     stage="closure"),
        ]
        await insert_cases(session, cases, [])
    return {"tag": t, "team": team, "lead": f"dlead{t}", "ann": f"dann{t}", "other": f"dother{t}",
            "open": [f"D{t}/000001/24", f"D{t}/000003/24", f"D{t}/000002/24"]}


async def test_subscription_is_a_schedule_whose_run_mails_the_digest_once(
        api, temporal, mailbox, engine, settings, digest_team):
    team, lead = digest_team["team"], digest_team["lead"]
    address = f"{lead}@example.org"
    at = far_from_now("Europe/London")
    body = {"team": team, "schedule": {"frequency": "weekdays", "time": at, "time_zone": "Europe/London"}}
    key = {"Idempotency-Key": f"subscribe-{digest_team['tag']}"}
    created = await api.post("/digests", json=body, headers={**bearer(lead), **key})
    assert created.status_code == 201, created.text
    sub = created.json()
    again = await api.post("/digests", json=body, headers={**bearer(lead), **key})
    assert again.status_code == 201 and again.json()["id"] == sub["id"]
    assert sub["schedule_id"] == f"digest-{sub['id']}" and sub["recipient_address"] == address
    assert sub["schedule"]["description"] == f"every weekday (Monday to Friday) at {at} (Europe/London)"

    # The schedule on the Temporal server: a calendar in the subscriber's time zone.
    handle = temporal.get_schedule_handle(sub["schedule_id"])
    described = await handle.describe()
    spec = described.schedule.spec
    calendar = spec.calendars[0]
    assert spec.time_zone_name == "Europe/London"
    assert calendar.hour == (ScheduleRange(int(at[:2])),) and calendar.minute == (ScheduleRange(int(at[3:])),)
    assert calendar.day_of_week == (ScheduleRange(1, 5),)
    assert described.schedule.action.workflow == "DigestWorkflow"
    assert described.schedule.action.task_queue == settings.task_queue
    assert not described.schedule.state.paused

    # Changing the subscription changes the schedule; pausing pauses it.
    changed = await api.patch(f"/digests/{sub['id']}", headers=bearer(lead), json={
        "schedule": {"frequency": "weekly", "day_of_week": "friday", "time": "07:30",
                     "time_zone": "America/New_York"}})
    assert changed.status_code == 200, changed.text
    spec = (await handle.describe()).schedule.spec
    assert spec.time_zone_name == "America/New_York"
    assert spec.calendars[0].day_of_week == (ScheduleRange(5),)
    assert spec.calendars[0].hour == (ScheduleRange(7),) and spec.calendars[0].minute == (ScheduleRange(30),)
    paused = await api.patch(f"/digests/{sub['id']}", json={"active": False}, headers=bearer(lead))
    assert paused.json()["active"] is False and (await handle.describe()).schedule.state.paused
    await api.patch(f"/digests/{sub['id']}", headers=bearer(lead), json={
        "active": True, "schedule": {"frequency": "daily", "time": far_from_now("Europe/London"),
                                     "time_zone": "Europe/London"}})
    assert not (await handle.describe()).schedule.state.paused

    preview = (await api.get(f"/digests/{sub['id']}/preview", headers=bearer(lead))).json()
    assert preview["subject"] == f"Team {team} digest for {longdate(TODAY)}: 3 open, 1 overdue"
    assert preview["case_count"] == 3

    # Send now: the schedule starts a DigestWorkflow run, which mails the digest.
    triggered = await api.post(f"/digests/{sub['id']}/trigger", headers=bearer(lead))
    assert triggered.status_code == 202
    run = await scheduled_run(temporal, sub["schedule_id"])
    result = await run.result()
    assert isinstance(result, DigestResult) and result.sent and result.case_count == 3
    [message] = mailbox.to(address)
    assert message["Subject"] == preview["subject"]
    text = message.get_body(("plain",)).get_content()
    for line in ("Open cases: 3", "Unallocated (no one assigned): 1", "Overdue: 1",
                 "(5 working days): 1", "Draft response: 1", "Quality assurance: 1",
                 f"User {digest_team['ann']}: 2 / 1"):
        assert line in text, line
    references = digest_team["open"]
    assert [ref for ref in re.findall(rf"D{digest_team['tag']}/\d+/24", text)] == references
    assert "OVERDUE" in text and f"D{digest_team['tag']}/000004/24" not in text
    html = message.get_body(("html",)).get_content()
    assert "Una &#34;Unallocated&#34;, Esq." in html
    unsubscribe = re.search(r"Unsubscribe: (\S+)", text).group(1)
    assert message["List-Unsubscribe"] == f"<{unsubscribe}>"

    # The attached case list is a real workbook: same cases, deadline order, typed dates.
    attachment = next(message.iter_attachments())
    assert attachment.get_filename() == f"{team}-open-cases-{TODAY.isoformat()}.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(attachment.get_content())).active
    header = [cell.value for cell in sheet[1]]
    assert header == ["Reference", "Complainant", "Case type", "Stage", "Assignee", "Date received",
                      "Deadline", "Overdue"]
    rows = list(sheet.iter_rows(min_row=2))
    assert [row[0].value for row in rows] == references
    assert rows[0][6].is_date and rows[0][6].value.date() == TODAY - timedelta(days=2)
    assert rows[0][7].value is True and sheet.freeze_panes == "A2"

    # One outbox row for the run; running its activity again sends nothing.
    async with make_sessionmaker(engine)() as session:
        outbox = await session.get(OutboxMessage, run.id)
    assert outbox.status == "sent" and outbox.purpose == "digest" and outbox.recipient == address
    repeat = await DigestActivities(make_sessionmaker(engine), settings).send_digest(
        DigestJob(subscription_id=sub["id"], run_key=run.id))
    assert repeat.reason == "already sent" and len(mailbox.to(address)) == 1

    history = await run.fetch_history()
    await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES"):
        (HISTORIES / "digest-workflow.json").write_text(history.to_json())

    # The unsubscribe link: a page with a button, then the subscription and schedule are gone.
    path = unsubscribe.removeprefix(settings.base_url)
    page = await api.get(path)
    assert page.status_code == 200 and "<form method=\"post\"" in page.text
    done = await api.post(path)
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert (await api.get(f"/digests/{sub['id']}", headers=bearer(lead))).status_code == 404
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
    assert (await api.post(path)).status_code == 200  # a second click is harmless
    forged = await api.post(path[:-3] + "abc")
    assert forged.status_code == 422 and forged.json()["detail"][0]["loc"] == ["query", "token"]


async def test_digest_to_a_team_mailbox_can_be_deleted_with_its_schedule(api, temporal, digest_team):
    body = {"team": digest_team["team"], "recipient": "team", "case_type": "COMP",
            "schedule": {"frequency": "daily", "time": far_from_now("UTC"), "time_zone": "UTC"}}
    refused = await api.post("/digests", json=body, headers=bearer(digest_team["ann"]))
    assert refused.status_code == 403 and "'digests.team_mailbox'" in refused.json()["detail"]
    created = await api.post("/digests", json=body, headers=bearer(digest_team["lead"]))
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["recipient_address"] == f"{digest_team['team'].lower()}@example.org"
    mine = await api.get("/digests", headers=bearer(digest_team["lead"]))
    assert [s["id"] for s in mine.json()] == [sub["id"]]
    # Someone else's subscription does not exist for you.
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/trigger"), ("GET", "/preview")):
        response = await api.request(method, f"/digests/{sub['id']}{path}", json={} if method == "PATCH" else None,
                                     headers=bearer(digest_team["ann"]))
        assert response.status_code == 404, (method, path)
    deleted = await api.delete(f"/digests/{sub['id']}", headers=bearer(digest_team["lead"]))
    assert deleted.status_code == 204
    with pytest.raises(RPCError):
        await temporal.get_schedule_handle(sub["schedule_id"]).describe()


async def test_bad_subscriptions_are_refused_naming_the_field(api, digest_team):
    lead = bearer(digest_team["lead"])
    good = {"frequency": "daily", "time": "08:00", "time_zone": "Europe/London"}
    cases = [
        ({"team": "NO-SUCH-TEAM", "schedule": good}, 422, ["body", "team"]),
        ({"team": digest_team["team"], "schedule": {**good, "time_zone": "Mars/Olympus"}}, 422,
         ["body", "schedule", "time_zone"]),
        ({"team": digest_team["team"], "schedule": {**good, "frequency": "weekly"}}, 422,
         ["body", "schedule", "day_of_week"]),
        ({"team": digest_team["team"], "schedule": {**good, "day_of_week": "monday"}}, 422,
         ["body", "schedule", "day_of_week"]),
        ({"team": digest_team["team"], "schedule": {**good, "time": "25:00"}}, 422,
         ["body", "schedule", "time"]),
        ({"team": digest_team["team"], "schedule": {**good, "frequency": "hourly"}}, 422,
         ["body", "schedule", "frequency"]),
        ({"team": digest_team["team"], "case_type": "NOPE", "schedule": good}, 422, ["body", "case_type"]),
    ]
    for body, status, loc in cases:
        response = await api.post("/digests", json=body, headers=lead)
        assert response.status_code == status, (body, response.text)
        assert response.json()["detail"][0]["loc"] == loc, (body, response.text)
    # A team you do not belong to is not yours to subscribe to.
    response = await api.post("/digests", json={"team": digest_team["team"], "schedule": good},
                              headers=bearer(digest_team["other"]))
    assert response.status_code == 403


async def test_an_uploaded_digest_template_is_the_one_mailed(api):
    """The template library's digest override applies to real digests, not just to its previews.
    Scoped to the stage-2 case type so the other digest tests keep the shipped template."""
    upload = await api.post("/admin/templates/digest/email", headers=auth("admin"), json={
        "subject": "Stage 2 numbers for {{ team.name }}",
        "text": "{{ stats.open }} open, {{ stats.overdue }} overdue. {{ digest.unsubscribe_url }}",
        "html": "<p>{{ stats.open }} open</p>", "case_type": "COMP2", "note": "short stage-2 digest"})
    assert upload.status_code == 201, upload.text
    made = await api.post("/digests", headers=auth("coordinator"), json={
        "team": "CENTRAL", "case_type": "COMP2", "schedule": {"frequency": "daily", "time": "07:30"}})
    assert made.status_code == 201, made.text
    try:
        preview = await api.get(f"/digests/{made.json()['id']}/preview", headers=auth("coordinator"))
        assert preview.status_code == 200, preview.text
        assert preview.json()["subject"] == "Stage 2 numbers for Central Complaints Hub"
        assert " open, " in preview.json()["text"]
    finally:
        await api.delete(f"/digests/{made.json()['id']}", headers=auth("coordinator"))
