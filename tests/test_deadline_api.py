"""Deadlines through the API on the ordinary Temporal dev server: overdue cases in lists and in
Temporal visibility, the admin API for policies and closed days, validation, and the clock stopping
when the response is sent. (Clocks with weeks passing are in test_deadline_clocks.py.)"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, timedelta

import pytest
from sqlalchemy.dialects.postgresql import insert
from temporalio.testing import ActivityEnvironment

from activities.deadlines import DeadlineActivities
from casework.cases.contracts import CalendarChange
from casework.cases.jobs import CalendarNoticeJob

from casework.platform.db import CaseType
from devtools.demo import CLOSE_REASONS, OUTCOMES
from casework.kinds.complaint.rules import STANDARD_COMPLAINT_PLAN
from casework.calendar.workdays import Region, add_working_days, build_calendar
from tests.casefixtures import auth, case_path, register, step, walk_to_draft, walk_to_qa
from tests.test_deadline_clocks import add_case_type


async def _eventually(fetch, check, what: str):
    for _ in range(100):
        value = await fetch()
        if check(value):
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"never {what}")


async def test_a_case_received_long_ago_is_overdue_at_once_and_findable_by_operations(api, temporal, mailbox):
    received = date.today() - timedelta(days=60)
    ref = (await register(api, date_received=received.isoformat()))["reference"]
    year = received.year
    due = add_working_days(received, 20, build_calendar(Region.ENGLAND_AND_WALES, range(year, year + 2)))

    async def read():
        return (await api.get(case_path(ref), headers=auth("handler"))).json()

    case = await _eventually(read, lambda c: c["overdue"], "overdue")
    assert case["deadline"] == due.isoformat()
    # Unallocated: no team manager yet, so the complaints managers hear of it.
    assert case["escalated_to_manager"] == "Mo Manager"
    assert any(ref in str(m["Subject"]) and "Overdue" in str(m["Subject"]) for m in mailbox.to("manager@example.org"))

    overdue = (await api.get("/cases?overdue=true&limit=500", headers=auth("manager"))).json()
    assert ref in [c["reference"] for c in overdue] and all(c["overdue"] for c in overdue)
    on_time = (await api.get("/cases?overdue=false&limit=500", headers=auth("manager"))).json()
    assert ref not in [c["reference"] for c in on_time]

    async def listed(query: str) -> list[str]:
        return [w.id async for w in temporal.list_workflows(query)]

    # What an operator types into the Temporal UI: overdue cases due before a date.
    query = (f'CaseReference = "{ref}" AND CaseOverdue = true '
             f'AND CaseDeadline < "{(due + timedelta(days=1)).isoformat()}T00:00:00Z"')
    assert await _eventually(lambda: listed(query), bool, "visible as overdue") == [ref]


async def test_sending_the_response_stops_the_clock_and_records_the_deadline_met(api):
    case = await walk_to_qa(api)
    ref = case["reference"]
    await step(api, ref, "qa/approve", "qa")
    case = await step(api, ref, "send", "drafter", {"channel": "letter"})
    assert case["deadline_met"] is True
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    stopped = next(e for e in timeline if e["kind"] == "clock_stopped")
    assert stopped["summary"].endswith("met")
    # Nothing left to extend.
    body = await step(api, ref, "extend", "drafter",
                      {"from": "deadline", "working_days": 3, "reason": "late"}, expect=409)
    assert "clock has stopped" in body["detail"]["message"]


async def test_extension_requests_are_validated_naming_the_field(api):
    ref = (await register(api))["reference"]
    body = await step(api, ref, "extend", "drafter", {"from": "deadline", "working_days": 3}, expect=422)
    assert body["detail"][0]["loc"] == ["body", "reason"]
    body = await step(api, ref, "extend", "drafter",
                      {"from": "yesterday", "working_days": 3, "reason": "x"}, expect=422)
    assert body["detail"][0]["loc"] == ["body", "from"]
    body = await step(api, ref, "extend", "drafter",
                      {"from": "today", "working_days": 0, "reason": "x"}, expect=422)
    assert body["detail"][0]["loc"] == ["body", "working_days"]
    await step(api, ref, "extend", "qa", {"from": "today", "working_days": 3, "reason": "x"}, expect=403)
    body = await step(api, ref, "change-type", "coordinator", {"case_type": "NOPE", "reason": "x"}, expect=422)
    assert body["detail"][0]["loc"] == ["body", "case_type"]
    body = await step(api, ref, "change-type", "coordinator", {"case_type": "COMP", "reason": "x"}, expect=422)
    assert "already of type COMP" in body["detail"][0]["msg"]


async def test_admin_sets_a_case_types_policy_from_a_preset(api, sessionmaker):
    async with sessionmaker() as session, session.begin():
        await session.execute(insert(CaseType).values(
            code="PAYSVC", name="Payment service complaint", reference_prefix="PAYSVC",
            stages=STANDARD_COMPLAINT_PLAN.to_data(), outcome_options=OUTCOMES, close_reasons=CLOSE_REASONS,
            active=True).on_conflict_do_nothing(index_elements=["code"]))
    presets = await api.get("/admin/deadline-presets", headers=auth("admin"))
    assert [p["preset"] for p in presets.json()] == ["uk-public-sector", "fca-disp", "payment-services", "cfpb"]
    assert (await api.get("/admin/deadline-presets", headers=auth("coordinator"))).status_code == 403

    # No policy stored yet: the default preset applies.
    current = await api.get("/admin/case-types/PAYSVC/deadline-policy", headers=auth("admin"))
    assert current.json()["summary"] == "UK public sector: 20 working days"
    # A registration now (the API keeps the case type for a few seconds)...
    before = await register(api, case_type="PAYSVC", date_received=date.today().isoformat())
    assert before["deadline_policy"] == "UK public sector"

    path = "/admin/case-types/PAYSVC/deadline-policy"
    response = await api.put(path, json={"preset": "payment-services", "warning_days": 15}, headers=auth("admin"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "warning_days"]
    response = await api.put(path, json={"preset": "psd9"}, headers=auth("admin"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "preset"]
    response = await api.put(path, json={"preset": "payment-services", "warning_days": 4}, headers=auth("admin"))
    assert response.status_code == 200
    assert (response.json()["response_days"], response.json()["warning_days"]) == (15, 4)

    # ...does not delay the change: new cases of that type run on it at once.
    case = await register(api, case_type="PAYSVC", date_received=date.today().isoformat())
    assert case["deadline_policy"] == "Payment services (15/35 business days)"
    assert (await api.put("/admin/case-types/NOPE/deadline-policy", json={"preset": "cfpb"},
                          headers=auth("admin"))).status_code == 404


async def test_admin_manages_closed_days_per_region(api):
    base = "/admin/calendars/scotland/closures"
    saturday = {"date": "2031-06-14", "reason": "Away day"}
    response = await api.post(base, json=saturday, headers=auth("admin"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "date"]
    response = await api.post(base, json={"date": "2031-12-25", "reason": "Christmas"}, headers=auth("admin"))
    assert response.status_code == 422 and "already a bank holiday" in response.json()["detail"][0]["msg"]
    response = await api.post("/admin/calendars/wales/closures", json={"date": "2031-06-10", "reason": "x"},
                              headers=auth("admin"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "region"]
    assert (await api.post(base, json={"date": "2031-06-10", "reason": "x"},
                           headers=auth("manager"))).status_code == 403

    closure = {"date": "2031-06-10", "reason": "Office move", "kind": "closure"}
    response = await api.post(base, json=closure, headers=auth("admin"))
    assert response.status_code == 201, response.text
    assert response.json()["recalculation"]["workflow_id"].startswith("calendar-change/scotland/")
    assert (await api.post(base, json=closure, headers=auth("admin"))).status_code == 409

    year = (await api.get("/admin/calendars/scotland?year=2031", headers=auth("admin"))).json()
    # St Andrew's Day falls on a Sunday in 2031: Scotland closes on the Monday.
    assert {"date": "2031-12-01", "name": "Saint Andrew's Day (observed)"} in year["bank_holidays"]
    assert [c["date"] for c in year["closures"]] == ["2031-06-10"]

    assert (await api.delete(f"{base}/2031-06-10", headers=auth("admin"))).status_code == 200
    assert (await api.delete(f"{base}/2031-06-10", headers=auth("admin"))).status_code == 404


async def test_recalculating_a_calendar_tells_every_open_case_and_skips_ones_no_longer_running(api, temporal):
    ref = (await register(api))["reference"]
    response = await api.post("/admin/calendars/england-and-wales/recalculate",
                              json={"reason": "holidays package upgraded"}, headers=auth("admin"))
    assert response.status_code == 202
    body = response.json()
    assert body["open_cases"] >= 1 and body["description"] == "holidays package upgraded"
    told = await temporal.get_workflow_handle(body["workflow_id"]).result()
    # Cases whose workflows are gone (e.g. left open by other test servers) are skipped, not fatal.
    assert 1 <= told <= body["open_cases"]
    # Nothing moved for this case, so nothing was added to its timeline.
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("handler"))).json()
    assert "deadline_recalculated" not in [e["kind"] for e in timeline]


async def test_a_clarification_sent_and_answered_earlier_stops_the_clock_for_the_days_it_really_did(api):
    """The docs' example through the API: asked on a Monday (a letter posted outside the system and
    recorded now), answered the next Monday: the clock stopped for the working days between."""
    today = date.today()
    asked = today - timedelta(days=7 + today.weekday())  # a Monday, with the next one on or before today
    answered = asked + timedelta(days=7)
    calendar = build_calendar(Region.ENGLAND_AND_WALES, range(asked.year - 1, asked.year + 2))
    stopped_days = sum(calendar.is_working_day(asked + timedelta(days=i)) for i in range(1, 8))
    case = await register(api, date_received=(asked - timedelta(days=3)).isoformat())
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    case = await step(api, ref, "acknowledge", "drafter", {"channel": "email"})
    deadline = date.fromisoformat(case["deadline"])

    reply_by = (today + timedelta(days=10)).isoformat()
    sent_now_but_dated = {"channel": "letter", "questions": "Which account?", "reply_by": reply_by,
                          "sent_on": asked.isoformat()}
    refused = await api.post(f"{case_path(ref)}/clarifications", json=sent_now_but_dated, headers=auth("drafter"))
    assert refused.status_code == 422 and "sent_on" in refused.text
    case = await step(api, ref, "clarifications", "drafter", {**sent_now_but_dated, "channel": None})
    [asked_for] = case["clarifications"]
    assert (asked_for["channel"], asked_for["sent_on"]) == (None, asked.isoformat())
    assert case["paused_intervals"][0]["started_on"] == asked.isoformat()

    too_early = {"reply": "Account 42", "received_on": (asked - timedelta(days=1)).isoformat()}
    refused = await api.post(f"{case_path(ref)}/clarifications/{asked_for['id']}/reply", json=too_early,
                             headers=auth("drafter"))
    assert refused.status_code == 422 and "received_on" in refused.text
    case = await step(api, ref, f"clarifications/{asked_for['id']}/reply", "drafter",
                      {"reply": "Account 42", "received_on": answered.isoformat()})
    [pause] = case["paused_intervals"]
    assert (pause["started_on"], pause["ended_on"]) == (asked.isoformat(), answered.isoformat())
    assert pause["paused_days"] == stopped_days  # 5 in a week without a bank holiday
    assert case["deadline"] == add_working_days(deadline, stopped_days, calendar).isoformat()


async def test_a_contribution_recorded_late_is_overdue_at_once_and_keeps_the_day_it_came_in(api):
    case = await walk_to_draft(api)
    ref = case["reference"]
    received = date.fromisoformat(case["date_received"])
    past_due = {"team": "CENTRAL", "request": "What did the engineer find?", "channel": None,
                "due_date": received.isoformat()}
    case = await step(api, ref, "contributions", "drafter", past_due)
    [asked] = case["contributions"]
    assert asked["overdue"] is True and asked["status"] == "open"
    before = await api.post(f"{case_path(ref)}/contributions", headers=auth("drafter"),
                            json={**past_due, "due_date": (received - timedelta(days=1)).isoformat()})
    assert before.status_code == 422 and "due_date" in before.text

    future = await api.post(f"{case_path(ref)}/contributions/{asked['id']}/complete", headers=auth("drafter"),
                            json={"details": "Faulty meter", "received_on": (date.today() + timedelta(days=1)).isoformat()})
    assert future.status_code == 422 and "received_on" in future.text
    case = await step(api, ref, f"contributions/{asked['id']}/complete", "drafter",
                      {"details": "Faulty meter", "received_on": received.isoformat()})
    [done] = case["contributions"]
    assert (done["status"], done["received_on"], done["overdue"]) == ("completed", received.isoformat(), False)


async def test_telling_open_cases_of_a_calendar_change_resumes_after_the_last_page_a_stopped_attempt_finished(
        api, temporal, sessionmaker, settings):
    """The calendar change's activity heartbeats after each page of cases it has signalled; an
    attempt that stops part-way (its worker lost) is retried with that heartbeat and carries on
    after it: every case told once, none twice, none missed."""
    await add_case_type(sessionmaker, "SCOTNOTE", preset="uk-public-sector", api=api, region=Region.SCOTLAND.value)
    refs = sorted([(await register(api, case_type="SCOTNOTE"))["reference"] for _ in range(3)])
    notices = DeadlineActivities(sessionmaker, settings)
    job = CalendarNoticeJob(notice=CalendarChange(region=Region.SCOTLAND.value, description="Office move",
                                                  requested_by="Ada Admin"), page_size=1)
    beats: list[tuple] = []

    def stop_after_the_first_page(*details) -> None:
        if details != ("", 0):  # beats while the first page is under way only say it is alive
            beats.append(details)
            raise RuntimeError("the worker stopped")

    first = ActivityEnvironment(client=temporal)
    first.on_heartbeat = stop_after_the_first_page
    with pytest.raises(RuntimeError, match="the worker stopped"):
        await first.run(notices.signal_open_cases, job)
    [(after, told)] = beats
    assert told <= 1

    retry = ActivityEnvironment(client=temporal)
    retry.info = dataclasses.replace(retry.info, attempt=2, heartbeat_details=[after, told])
    total = await retry.run(notices.signal_open_cases, job)
    assert total >= 1 + len([ref for ref in refs if ref > after])

    async def notices_of(ref: str) -> list[str]:
        """The Updates and signals telling the case of a calendar change, in its history."""
        return [name async for event in temporal.get_workflow_handle(ref).fetch_history_events()
                for name in [event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name,
                             event.workflow_execution_signaled_event_attributes.signal_name]
                if name in ("apply_calendar_change", "calendar_changed")]

    assert [await notices_of(ref) for ref in refs] == [["apply_calendar_change"]] * 3
