"""When a task is due, as an instant: pure functions shared by the workflow (its timer) and tests."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from casework.calendar.bounds import MAX_HORIZON_DAYS, ahead_refusal
from casework.calendar.deadlines import REGION_TIMEZONES, breach_instant, local_date
from casework.calendar.workdays import Region


def task_due_at(due_on: date, due_time: time | None, region: Region) -> datetime:
    """The instant a task due on `due_on` (at `due_time`, the region's local time, if given)
    becomes overdue: that time, or else the end of the day."""
    if due_time is None:
        return breach_instant(due_on, region)
    return datetime.combine(due_on, due_time, REGION_TIMEZONES[region]).astimezone(timezone.utc)


def due_refusal(due_on: date, due_time: time | None, region: Region, now: datetime) -> tuple[str, str] | None:
    """(field, why) a task cannot be due then: not in the past, not beyond the widest horizon."""
    refusal = ahead_refusal("due_date", due_on, local_date(now, region), MAX_HORIZON_DAYS)
    if refusal is not None:
        return "due_date", refusal
    if task_due_at(due_on, due_time, region) <= now:
        return "due_time", "due_time has already passed today"
    return None
