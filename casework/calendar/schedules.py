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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from types import MappingProxyType
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

# The region's closures, and when the transaction reading them began by the database's clock
# (under any isolation level, every closure committed before that instant is among them).
_CLOSURES = ("SELECT now(), coalesce(array_agg(day ORDER BY day), '{}'), "
             "coalesce(array_agg(reason ORDER BY day), '{}') FROM calendar_closure WHERE region = %(region)s")


@dataclass(frozen=True)
class Closures:
    as_of: datetime
    days: tuple[tuple[date, str], ...]  # (day, reason), by day


# The newest closures this process has read, by region. A calendar change tells each case the
# instant it was made (`CalendarChange.calendar_as_of`, read after its commit); a recalculation
# asking for the calendar as of then reuses closures read at or after it instead of reading them
# again, so a change that moves ten thousand cases reads them once a worker, not ten thousand times.
_newest: dict[Region, Closures] = {}


async def read_closures(conn: psycopg.AsyncConnection, region: Region) -> Closures:
    """The region's closures now, kept as the newest this process has seen."""
    row = await (await conn.execute(_CLOSURES, {"region": region.value}, prepare=True)).fetchone()
    assert row is not None  # an aggregate: always one row
    as_of, days, reasons = row
    read = Closures(as_of, tuple(zip(days, reasons, strict=True)))
    kept = _newest.get(region)
    if kept is None or kept.as_of < read.as_of:
        _newest[region] = read
    return read


def closures_as_of(region: Region, as_of: datetime | None) -> Closures | None:
    """Closures already read at or after `as_of` (which therefore hold every change made before
    it), or None: read them."""
    kept = _newest.get(region)
    return kept if kept is not None and as_of is not None and kept.as_of >= as_of else None


@lru_cache(maxsize=64)
def _assemble(region: Region, years: range, closures: tuple[tuple[date, str], ...]
              ) -> tuple[WorkingCalendar, Mapping[date, str], str]:
    cal = build_calendar(region, years, [day for day, _ in closures])
    names = MappingProxyType({**bank_holiday_names(region, years), **dict(closures)})
    return cal, names, f"{holidays_version()} + {len(closures)} closure(s) for {region.value}"


async def load_calendar(conn: psycopg.AsyncConnection, region: Region,
                        years: range) -> tuple[WorkingCalendar, Mapping[date, str], str]:
    """The region's calendar: bank holidays for `years` plus the administrator's closures, the name of
    every closed day (for explanations), and where the data came from. Every registration asks, so
    the closures come from a prepared statement on psycopg's connection (``driver_connection``)."""
    return _assemble(region, years, (await read_closures(conn, region)).days)


def _years(inp: ComputeDeadlinesInput) -> range:
    dates = [inp.date_received, inp.today, *(p.started_on for p in inp.pauses),
             *(p.ended_on for p in inp.pauses if p.ended_on)]
    return range(min(d.year for d in dates), max(d.year for d in dates) + _YEARS_AHEAD + 1)


def _result(schedule: Schedule, source: str, as_of: datetime, **extra: Any) -> ComputeDeadlinesResult:
    return ComputeDeadlinesResult(
        deadline=schedule.deadline,
        warning_on=schedule.warning_on,
        acknowledgement_due=schedule.acknowledgement_due,
        stage_deadlines={str(kind): day for kind, day in schedule.stage_deadlines.items()},
        paused_days=list(schedule.paused_days),
        explanation=schedule.explanation,
        calendar_source=source,
        calendar_as_of=as_of,
        **extra,
    )


async def compute_deadlines(engine: AsyncEngine, inp: ComputeDeadlinesInput,
                            conn: psycopg.AsyncConnection | None = None) -> ComputeDeadlinesResult:
    """The case's dates under its policy, pauses and extensions; with `inp.extension`, the dates
    that extension would give, or why it is refused (and the dates as they are).

    The calendar is read on `conn` when the caller holds a driver connection already (in a
    transaction, say): waiting for a second one from the pool it holds one of could wait for ever
    once every connection is held by a caller doing the same."""
    region = inp.policy.region
    closures = closures_as_of(region, inp.calendar_as_of)
    if closures is None:
        if conn is None:
            async with driver_connection(engine) as own:
                closures = await read_closures(own, region)
        else:
            closures = await read_closures(conn, region)
    cal, names, source = _assemble(region, _years(inp), closures.days)
    pauses = [Pause(p.started_on, p.ended_on) for p in inp.pauses]
    if inp.extension is None:
        schedule = compute_schedule(inp.policy, inp.date_received, pauses, inp.extension_days, cal, names)
        return _result(schedule, source, closures.as_of)
    try:
        plan = plan_extension(inp.policy, inp.date_received, pauses, inp.extension_days,
                              inp.extension.anchor, inp.extension.working_days, inp.today, cal, names)
    except (CalendarRangeError, OverflowError) as exc:
        # Beyond the years the calendar was loaded for: a refusal of the step, never an activity
        # failing for ever (the workflow would wait on it, every later step answering 503).
        plan = ExtensionRefusal("working_days", f"the extended deadline would be too far ahead: {exc}")
    if isinstance(plan, ExtensionRefusal):
        current = compute_schedule(inp.policy, inp.date_received, pauses, inp.extension_days, cal, names)
        return _result(current, source, closures.as_of, refusal_field=plan.field, refusal=plan.message)
    return _result(plan.schedule, source, closures.as_of, extension_days_added=plan.days_added)
