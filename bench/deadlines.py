"""Scenarios: a calendar fan-out (a closure day added moves N open cases) and a deadline storm (N
open cases' deadlines pass at the same instant), on the same N cases, through the real API.

A deadline passes at midnight UK time (docs/deadlines.md), so a real-time run cannot wait for N
timers to reach one. The storm is made with the calendar instead: the cases are received on a day
whose deadline, counted without closures, was the last working day before today, and they are
registered while that day (C1) is a closure, so their deadline is the next working day and nothing
is overdue. Removing C1 is the instant: every case's deadline moves back to a day that has passed,
so each is flagged overdue, its manager emailed and its projection updated at once. The time also
holds the fan-out's signal to each case and its recomputation, which a midnight storm does not pay:
an upper bound.

The cases are of a type whose policy counts on the Northern Irish calendar, so no other scenario's
open case (all on the English one) is signalled. Steps:

1. Register N cases with C1 closed: deadline D1, warned on D1 itself (the policy's warning_days 0),
   so registering them sends no warning email to be counted in the fan-out.
2. Fan-out: add closure C2 = D1; time until every case's projection has deadline D2 and a
   `deadline_recalculated` event after the change (the timer re-arms in the same workflow task).
3. Remove C2 (every case back on D1; waited for, not timed).
4. Storm: remove C1; time until every case is overdue in the projection, has its
   `escalated_to_manager` event and a sent `deadline_breach` email.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta, timezone

import psycopg
from temporalio.client import Client

from bench.loadgen import LeanClient
from bench.stack import Stack
from bench.stats import Result, progress
from bench.steps import concurrently
from bench.walks import Caller
from casework.calendar.deadlines import case_today
from casework.calendar.workdays import Region, add_working_days, build_calendar, next_working_day

CASE_TYPE = "EXGRATIA"  # a demo type with a default team, so a breach goes to that team's manager
REGION = Region.NORTHERN_IRELAND
CONCURRENCY = 20
CASES = {True: 1_000, False: 10_000}  # --quick or not
POLL_SECONDS = 1.0


def storm_dates(today: date, response_days: int) -> tuple[date, date, date, date]:
    """(received, D0, D1, D2): received so that, counted without closures, the deadline D0 is the
    last working day before `today`; D1 with D0 closed; D2 with D1 closed too."""
    calendar = build_calendar(REGION, range(today.year - 1, today.year + 2))
    received = today
    while add_working_days(received, response_days, calendar) >= today:
        received -= timedelta(days=1)
    d0 = add_working_days(received, response_days, calendar)
    d1 = next_working_day(d0, calendar)
    return received, d0, d1, next_working_day(d1, calendar)


async def _register(api: LeanClient, received: date, count: int) -> list[str]:
    references: list[str] = []
    call = Caller(api)

    async def one() -> None:
        n = len(references)
        case = await call("/cases", "handler", {
            "case_type": CASE_TYPE, "channel": "email", "category": "Billing", "severity": "low",
            "description": "Asks for an ex-gratia payment", "date_received": received.isoformat(),
            "correspondents": [{"name": f"Storm {n}", "email": f"storm.{n}@example.net",
                                "address_lines": ["1 High St"], "postcode": "BT1 1AA"}]})
        references.append(case["reference"])

    await concurrently(count, CONCURRENCY, one)
    return references


async def _until(database_url: str, query: str, args: tuple, want: int, timeout: float) -> float:
    """Poll `query` (a count) until it reaches `want`; seconds taken (from the call)."""
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        while True:
            got = (await (await conn.execute(query, args)).fetchone())[0]
            if got >= want:
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{got} of {want} after {timeout:.0f} s: {query}")
            await asyncio.sleep(POLL_SECONDS)


MOVED = ("select count(*) from case_record c where c.reference = any(%s) and c.deadline = %s and exists "
         "(select 1 from timeline_event e where e.case_reference = c.reference and e.kind = 'deadline_recalculated' "
         "and e.occurred_at >= %s)")
ON = "select count(*) from case_record where reference = any(%s) and deadline = %s"
STORMED = ("select count(*) from case_record c where c.reference = any(%s) and c.overdue "
           "and exists (select 1 from timeline_event e where e.case_reference = c.reference "
           "and e.kind = 'escalated_to_manager') "
           "and exists (select 1 from outbox_message o where o.business_key = c.reference || '/deadline_breach/' "
           "|| %s and o.status = 'sent')")
BREACH_EMAILS = ("select count(*) from outbox_message where case_reference = any(%s) "
                 "and purpose = 'deadline_breach'")


def _cpu_note(before: dict[str, float], after: dict[str, float], seconds: float, cases: int) -> str:
    """CPU of each process over the interval, a share of a core and per case; and how long the
    sum would take on two idle cores (the machine is shared, so the wall time may be far longer)."""
    used = {name: after[name] - before.get(name, after[name]) for name in ("worker", "postgres", "temporal", "api")}
    parts = ", ".join(f"{name} {cpu:.0f} CPU-s ({cpu / seconds:.0%} of a core, {cpu * 1000 / cases:.1f} ms a case)"
                      for name, cpu in used.items())
    return f"CPU: {parts}; {sum(used.values()) / 2:.0f} s of two idle cores"


async def _signalled(temporal: Client, workflow_id: str, started: float) -> float:
    """Seconds from `started` until the calendar change's workflow had signalled every case."""
    await temporal.get_workflow_handle(workflow_id).result()
    return time.perf_counter() - started


async def run(stack: Stack, *, quick: bool, count: int | None = None) -> list[Result]:
    count = count or CASES[quick]
    timeout = 1800.0
    temporal = await Client.connect(stack.temporal_address)
    async with LeanClient(stack.api_url) as api:
        call = Caller(api)
        # Warned on the deadline day itself: the cases' next working day, so registering them sends
        # no warning (a month-end's cases were warned long before their deadlines fell due).
        policy = await call(f"/admin/case-types/{CASE_TYPE}/deadline-policy", "admin",
                            {"preset": "uk-public-sector", "region": REGION.value, "warning_days": 0}, method="PUT")
        today = case_today(datetime.now(timezone.utc), REGION)
        received, d0, d1, d2 = storm_dates(today, policy["response_days"])
        closures = f"/admin/calendars/{REGION.value}/closures"
        await call(closures, "admin", {"date": d0.isoformat(), "reason": "Bench: C1", "kind": "closure"})
        progress(f"deadlines: registering {count:,} cases received {received}, deadline {d1} (closed {d0})")
        started = time.perf_counter()
        references = await _register(api, received, count)
        registered = time.perf_counter() - started
        await _until(stack.database_url, ON, (references, d1), count, timeout)

        # Fan-out: a closure added on D1.
        progress("deadlines: fan-out (closure added)")
        changed_at = datetime.now(timezone.utc)
        cpu_before = stack.cpu_seconds()
        started = time.perf_counter()
        added = await call(closures, "admin", {"date": d1.isoformat(), "reason": "Bench: C2", "kind": "closure"})
        signalled = asyncio.create_task(_signalled(temporal, added["recalculation"]["workflow_id"], started))
        fanout = await _until(stack.database_url, MOVED, (references, d2, changed_at), count, timeout)
        signalling = await signalled
        fanout_cpu = _cpu_note(cpu_before, stack.cpu_seconds(), fanout, count)
        await call(f"{closures}/{d1.isoformat()}", "admin", method="DELETE")
        await _until(stack.database_url, ON, (references, d1), count, timeout)

        # Storm: C1 removed, every deadline back on D0, which has passed.
        progress("deadlines: storm (closure removed)")
        emails_before = stack.sink.received
        cpu_before = stack.cpu_seconds()
        await call(f"{closures}/{d0.isoformat()}", "admin", method="DELETE")
        storm = await _until(stack.database_url, STORMED, (references, d0.isoformat()), count, timeout)
        cpu_after = stack.cpu_seconds()
        emails = stack.sink.received - emails_before
    with psycopg.connect(stack.database_url) as conn:
        breach_rows = conn.execute(BREACH_EMAILS, (references,)).fetchone()[0]
    return [
        Result("calendar fan-out", f"closure added, {count:,} open cases moved", "s", fanout, None, None, None,
               "≤ 120 s", fanout <= 120,
               f"every case's projection on the new deadline with its deadline_recalculated event; the "
               f"CalendarChangeWorkflow had signalled every case after {signalling:.0f} s; "
               f"{count / fanout:.0f} cases/s; {count:,} cases registered in {registered:.0f} s "
               f"({count / registered:.0f}/s) first; {fanout_cpu}"),
        Result("deadline storm", f"{count:,} deadlines passing at once", "s", storm, None, None, None,
               "≤ 600 s", storm <= 600 and breach_rows == count,
               f"until every case is overdue in the projection, escalated and its breach email sent; "
               f"{emails} emails reached the SMTP server ({emails / storm:.0f}/s), {breach_rows} breach "
               f"outbox rows (one a case); triggered by removing a closure, so the time includes the "
               f"calendar fan-out's signal and recomputation per case; {_cpu_note(cpu_before, cpu_after, storm, count)}"),
    ]
