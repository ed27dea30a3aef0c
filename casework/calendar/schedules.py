"""A case's deadlines from its facts and its region's calendar as it is *now*: bank holidays (the
`holidays` package) and the administrator's closures (PostgreSQL), then `casework.calendar.deadlines`.

Two callers: the deadline activity, which recalculates for a running case (a pause ended, an
extension, a calendar change), and the API, which calculates a new case's first deadlines before it
starts the workflow and passes them in (`CaseStart.schedule`): the first workflow task then needs no
activity for them, and the case starts with its deadline already among its search attributes.
Either way the workflow stores the dates it is given and never recalculates them itself, because
the calendar changes between releases of `holidays` and when administrators add closures.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from casework.calendar.deadlines import ExtensionRefusal, Pause, Schedule, compute_schedule, plan_extension
from casework.calendar.workdays import (
    CalendarRangeError,
    Region,
    WorkingCalendar,
    bank_holiday_names,
    build_calendar,
    holidays_version,
)
from casework.cases.contracts import ComputeDeadlinesResult
from casework.cases.jobs import ComputeDeadlinesInput
from casework.platform.db import driver_connection

# How far past the latest date involved a calendar is loaded; deadlines never run further ahead.
_YEARS_AHEAD = 3

_CLOSURES = "SELECT day, reason FROM calendar_closure WHERE region = %(region)s"


async def load_calendar(conn: psycopg.AsyncConnection, region: Region,
                        years: range) -> tuple[WorkingCalendar, dict[date, str], str]:
    """The region's calendar: bank holidays for `years` plus the administrator's closures, the name of
    every closed day (for explanations), and where the data came from. Every registration asks, so
    the closures come from a prepared statement on psycopg's connection (``driver_connection``)."""
    closures = await (await conn.execute(_CLOSURES, {"region": region.value}, prepare=True)).fetchall()
    cal = build_calendar(region, years, [day for day, _ in closures])
    names = {**bank_holiday_names(region, years), **{day: reason for day, reason in closures}}
    source = f"{holidays_version()} + {len(closures)} closure(s) for {region.value}"
    return cal, names, source


def _years(inp: ComputeDeadlinesInput) -> range:
    dates = [inp.date_received, inp.today, *(p.started_on for p in inp.pauses),
             *(p.ended_on for p in inp.pauses if p.ended_on)]
    return range(min(d.year for d in dates), max(d.year for d in dates) + _YEARS_AHEAD + 1)


def _result(schedule: Schedule, source: str, **extra: Any) -> ComputeDeadlinesResult:
    return ComputeDeadlinesResult(
        deadline=schedule.deadline,
        warning_on=schedule.warning_on,
        acknowledgement_due=schedule.acknowledgement_due,
        stage_deadlines={str(kind): day for kind, day in schedule.stage_deadlines.items()},
        paused_days=list(schedule.paused_days),
        explanation=schedule.explanation,
        calendar_source=source,
        **extra,
    )


async def compute_deadlines(engine: AsyncEngine, inp: ComputeDeadlinesInput,
                            conn: psycopg.AsyncConnection | None = None) -> ComputeDeadlinesResult:
    """The case's dates under its policy, pauses and extensions; with `inp.extension`, the dates
    that extension would give, or why it is refused (and the dates as they are).

    The calendar is read on `conn` when the caller holds a driver connection already (in a
    transaction, say): waiting for a second one from the pool it holds one of could wait for ever
    once every connection is held by a caller doing the same."""
    if conn is None:
        async with driver_connection(engine) as conn:
            cal, names, source = await load_calendar(conn, inp.policy.region, _years(inp))
    else:
        cal, names, source = await load_calendar(conn, inp.policy.region, _years(inp))
    pauses = [Pause(p.started_on, p.ended_on) for p in inp.pauses]
    if inp.extension is None:
        schedule = compute_schedule(inp.policy, inp.date_received, pauses, inp.extension_days, cal, names)
        return _result(schedule, source)
    try:
        plan = plan_extension(inp.policy, inp.date_received, pauses, inp.extension_days,
                              inp.extension.anchor, inp.extension.working_days, inp.today, cal, names)
    except (CalendarRangeError, OverflowError) as exc:
        # Beyond the years the calendar was loaded for: a refusal of the step, never an activity
        # failing for ever (the workflow would wait on it, every later step answering 503).
        plan = ExtensionRefusal("working_days", f"the extended deadline would be too far ahead: {exc}")
    if isinstance(plan, ExtensionRefusal):
        current = compute_schedule(inp.policy, inp.date_received, pauses, inp.extension_days, cal, names)
        return _result(current, source, refusal_field=plan.field, refusal=plan.message)
    return _result(plan.schedule, source, extension_days_added=plan.days_added)
