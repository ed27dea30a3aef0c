"""How often a recalculation reads a region's closures (casework.calendar.schedules), on the real
PostgreSQL: a calendar change's recalculations reuse the closures their process read since the
change, and never ones read before it; other recalculations read them afresh."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from casework.calendar import schedules
from casework.calendar.policies import policy_from_preset
from casework.calendar.workdays import Region, add_working_days, build_calendar, next_working_day
from casework.cases.contracts import CalendarChange, CaseClock
from casework.cases.jobs import ComputeDeadlinesInput
from casework.platform.db import CalendarClosure
from workflows.engine.clock import _calendar_as_of

REGION = Region.NORTHERN_IRELAND
RECEIVED = date(2033, 3, 1)  # no other test closes days this far ahead in this region


def job(as_of: datetime | None) -> ComputeDeadlinesInput:
    policy = policy_from_preset("uk-public-sector", region=REGION.value)
    return ComputeDeadlinesInput(reference="NI-1", policy=policy, date_received=RECEIVED, today=RECEIVED,
                                 calendar_as_of=as_of)


async def now(sessionmaker) -> datetime:
    async with sessionmaker() as session:
        return await session.scalar(select(func.now()))


async def test_a_calendar_changes_recalculations_read_the_closures_once_and_never_older_than_the_change(
        engine, sessionmaker):
    cal = build_calendar(REGION, range(2033, 2035))
    due = add_working_days(RECEIVED, 20, cal)
    closed = next_working_day(RECEIVED, cal)
    before_change = await now(sessionmaker)
    first = await schedules.compute_deadlines(engine, job(before_change))
    assert first.deadline == due and first.calendar_as_of >= before_change
    kept = schedules.closures_as_of(REGION, before_change)
    assert kept is not None  # read once; the next recalculation as of then reuses it

    async with sessionmaker() as session, session.begin():
        await session.execute(insert(CalendarClosure).values(region=REGION.value, day=closed, kind="closure",
                                                             reason="Office move", created_by="test"))
    try:
        changed = await now(sessionmaker)  # what the change's notice says
        assert schedules.closures_as_of(REGION, changed) is None  # read before the change: not enough
        moved = await schedules.compute_deadlines(engine, job(changed))
        assert moved.deadline == next_working_day(due, cal)
        assert "Office move" in moved.explanation and moved.calendar_as_of >= changed
        again = schedules.closures_as_of(REGION, changed)
        assert again is not None and again is not kept
        # The next case told of the same change counts it from what was read for the first.
        assert (await schedules.compute_deadlines(engine, job(changed))).deadline == moved.deadline
        # Without an instant (a pause ended, registration): read now, whatever is kept.
        assert (await schedules.compute_deadlines(engine, job(None))).calendar_as_of > moved.calendar_as_of
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(CalendarClosure).where(CalendarClosure.region == REGION.value,
                                                                CalendarClosure.day == closed))


def test_a_case_asks_for_closures_no_older_than_every_change_it_was_told_of_or_its_dates_count() -> None:
    policy = policy_from_preset("uk-public-sector")
    one, two, three = (datetime.fromisoformat(f"2033-03-0{d}T09:00:00+00:00") for d in (1, 2, 3))
    clock = CaseClock(policy=policy, deadline=RECEIVED, warning_on=RECEIVED, calendar_as_of=two)

    def told(*instants: datetime | None) -> list[CalendarChange]:
        return [CalendarChange(region="x", description="d", requested_by="r", calendar_as_of=i) for i in instants]

    assert _calendar_as_of(clock, told(three, one)) == three
    # Notices of two changes arrived out of order: the later one's dates are not undone.
    assert _calendar_as_of(clock, told(one)) == two
    # A notice from a sender that names no instant: read afresh.
    assert _calendar_as_of(clock, told(three, None)) is None
    assert _calendar_as_of(clock.model_copy(update={"calendar_as_of": None}), told(one)) == one
