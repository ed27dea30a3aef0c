"""A case's deadlines as a pure function of its facts: received date, policy, clock pauses, extensions
and the calendar. No Temporal, SQLAlchemy or HTTP imports; nothing here reads the clock.

Everything is recomputed from scratch whenever a fact changes (a pause ends, an extension is granted,
the type changes, a closure date is added), so the answer never depends on the order things
happened in and a recomputation with the same facts always gives the same dates:

    deadline      = receipt + response_days + paused days + extension days     (in the policy's unit)
    warning date  = receipt + response_days - warning_days + the same shift
    stage dates   = receipt + stage_days[kind] + the same shift                ("stage deadlines follow")
    acknowledge   = receipt + acknowledgement_days working days                (never shifted)

Working-day counts use `casework.calendar.workdays` (a weekend/holiday receipt rolls to the next working day,
which is day 0). Calendar-day counts neither roll the receipt forward nor move a deadline off a
weekend: the rules that use them (FCA eight weeks, CFPB 15/60 days) count plain days.

A pause from day S to day E moves the deadline by the working days after S up to and including E
(the clock stops at the end of the day the clarification was asked for and restarts at the end of
the day the answer came in); an open pause moves nothing yet. The warning fires at the start of the
warning date and the breach at the end of the deadline date, in the region's local time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from casework.calendar.policies import DayUnit, DeadlinePolicy, ExtensionAnchor
from casework.calendar.workdays import DEFAULT_REGION, Region, WorkingCalendar, add_working_days, working_days_between

# Every UK region keeps UK time. Loaded once at import, so workflow code never reads tz files.
_LONDON = ZoneInfo("Europe/London")
REGION_TIMEZONES: dict[Region, ZoneInfo] = {region: _LONDON for region in Region}


@dataclass(frozen=True)
class Pause:
    started_on: date
    ended_on: date | None = None


@dataclass(frozen=True)
class Schedule:
    deadline: date
    warning_on: date
    acknowledgement_due: date | None
    stage_deadlines: dict[str, date]  # by stage kind
    paused_days: tuple[int, ...]  # per pause, in the policy's unit; 0 for an open pause
    extension_days: int
    explanation: str

    @property
    def shift(self) -> int:
        return sum(self.paused_days) + self.extension_days


@dataclass(frozen=True)
class ExtensionPlan:
    days_added: int  # in the policy's unit
    target: date
    schedule: Schedule


@dataclass(frozen=True)
class ExtensionRefusal:
    field: str
    message: str


def add_days(policy: DeadlinePolicy, start: date, n: int, cal: WorkingCalendar) -> date:
    if policy.unit is DayUnit.WORKING:
        return add_working_days(start, n, cal)
    return start + timedelta(days=n)


def days_between(policy: DeadlinePolicy, start: date, end: date, cal: WorkingCalendar) -> int:
    """Days (in the policy's unit) after `start` up to and including `end`; 0 if `end` is not later."""
    if policy.unit is DayUnit.WORKING:
        return working_days_between(start, end, cal)
    return max(0, (end - start).days)


def paused_days(policy: DeadlinePolicy, pauses: Sequence[Pause], cal: WorkingCalendar) -> tuple[int, ...]:
    if not policy.pause_on_clarification:
        return tuple(0 for _ in pauses)
    return tuple(
        days_between(policy, p.started_on, p.ended_on, cal) if p.ended_on is not None else 0
        for p in pauses
    )


def compute_schedule(
    policy: DeadlinePolicy,
    received: date,
    pauses: Sequence[Pause],
    extension_days: Sequence[int],
    cal: WorkingCalendar,
    closed_day_names: Mapping[date, str] | None = None,
) -> Schedule:
    """Every deadline of a case. `closed_day_names` (bank holiday and closure names) only feed the
    explanation."""
    paused = paused_days(policy, pauses, cal)
    extended = sum(extension_days)
    shift = sum(paused) + extended
    deadline = add_days(policy, received, policy.response_days + shift, cal)
    warning_on = add_days(policy, received, policy.response_days - policy.warning_days + shift, cal)
    stage_deadlines = {
        kind: add_days(policy, received, days + shift, cal) for kind, days in policy.stage_days.items()
    }
    acknowledgement_due = (
        add_working_days(received, policy.acknowledgement_days, cal)
        if policy.acknowledgement_days is not None else None
    )
    explanation = _explain(policy, received, deadline, sum(paused), extended, cal, closed_day_names or {})
    return Schedule(deadline, warning_on, acknowledgement_due, stage_deadlines, paused, extended, explanation)


def plan_extension(
    policy: DeadlinePolicy,
    received: date,
    pauses: Sequence[Pause],
    extension_days: Sequence[int],
    anchor: ExtensionAnchor,
    working_days: int,
    today: date,
    cal: WorkingCalendar,
    closed_day_names: Mapping[date, str] | None = None,
) -> ExtensionPlan | ExtensionRefusal:
    """Extend by `working_days` counted from today or from the current deadline.

    Refused when it would not move the deadline later, or beyond the policy's extension cap. The
    count of extensions allowed is checked by the caller, which knows how many were granted.
    """
    if working_days < 1:
        return ExtensionRefusal("working_days", "working_days must be at least 1")
    current = compute_schedule(policy, received, pauses, extension_days, cal)
    start = today if anchor is ExtensionAnchor.TODAY else current.deadline
    target = add_working_days(start, working_days, cal)
    if target <= current.deadline:
        return ExtensionRefusal(
            "working_days",
            f"{working_days} working days from {anchor.value} ({format_day(start)}) is {format_day(target)}, "
            f"not later than the current deadline {format_day(current.deadline)}; an extension never "
            f"brings a deadline forward",
        )
    if policy.extension_cap_days is not None:
        cap = add_days(policy, received, policy.extension_cap_days + sum(current.paused_days), cal)
        if target > cap:
            return ExtensionRefusal(
                "working_days",
                f"{format_day(target)} is beyond the latest deadline {policy.name} allows "
                f"({policy.extension_cap_days} days from receipt: {format_day(cap)})",
            )
    added = days_between(policy, current.deadline, target, cal)
    schedule = compute_schedule(policy, received, pauses, [*extension_days, added], cal, closed_day_names)
    return ExtensionPlan(days_added=added, target=schedule.deadline, schedule=schedule)


def start_of_day(day: date, region: Region) -> datetime:
    """The UTC instant a local day begins in `region`."""
    return datetime.combine(day, time.min, REGION_TIMEZONES[region]).astimezone(timezone.utc)


def breach_instant(deadline: date, region: Region) -> datetime:
    """The deadline day is allowed in full: the case is late from the start of the next day."""
    return start_of_day(deadline + timedelta(days=1), region)


def local_date(instant: datetime, region: Region) -> date:
    return instant.astimezone(REGION_TIMEZONES[region]).date()


def case_today(now: datetime, region: Region = DEFAULT_REGION) -> date:
    """What "today" is for a case: the local date in its region (the UK by default) at `now`.
    The one notion of today for every rule about a case: a workflow passes `workflow.now()`, the
    API and activities the current instant. Never `date.today()`, which is the server's zone."""
    return local_date(now, region)


def _explain(policy: DeadlinePolicy, received: date, deadline: date, paused: int, extended: int,
             cal: WorkingCalendar, names: Mapping[date, str]) -> str:
    unit = "working days" if policy.unit is DayUnit.WORKING else "calendar days"
    parts = [f"received {format_day(received)}", f"{policy.response_days} {unit} ({policy.name})"]
    if paused:
        parts.append(f"+{paused} {unit} while the clock was stopped")
    if extended:
        parts.append(f"+{extended} {unit} extension")
    text = f"Due {format_day(deadline)}: " + ", ".join(parts)
    if policy.unit is DayUnit.WORKING:
        skipped = sorted(d for d in cal.closed_dates if received <= d <= deadline and d.weekday() < 5)
        if skipped:
            listed = "; ".join(f"{format_day(d)}{' (' + names[d] + ')' if d in names else ''}" for d in skipped)
            text += f"; not counted ({cal.region.value}): {listed}"
    return text


def format_day(d: date) -> str:
    """Mon 17 Aug 2020: the weekday matters when people check a working-day count."""
    return d.strftime("%a %d %b %Y")
