"""The deadline storm of `make bench` (bench/deadlines.py) makes N deadlines pass at one instant by
removing a closure: its dates must put every case's deadline, counted without closures, on a day
already past, and with the first closure on a day not yet past. Pure date arithmetic, no services;
the scenario itself is run by `python -m bench --quick --only deadlines`."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bench.deadlines import REGION, storm_dates
from casework.calendar.workdays import add_working_days, build_calendar

# A Saturday, a Monday after a weekend, a Tuesday after a Northern Irish bank holiday (St Patrick's
# Day, Tue 17 Mar 2026: Wednesday), Christmas week, the turn of a year.
DAYS = [date(2026, 12, 5), date(2026, 12, 7), date(2026, 3, 18), date(2026, 12, 29), date(2027, 1, 4)]


@pytest.mark.parametrize("today", DAYS, ids=[d.isoformat() for d in DAYS])
@pytest.mark.parametrize("response_days", [20, 60])
def test_the_first_closure_holds_every_deadline_off_and_its_removal_makes_it_passed(today, response_days):
    received, d0, d1, d2 = storm_dates(today, response_days)
    years = range(today.year - 1, today.year + 2)
    open_calendar = build_calendar(REGION, years)
    assert add_working_days(received, response_days, open_calendar) == d0 < today
    # The latest such day received: a day later and the deadline would not have passed yet.
    assert add_working_days(received + timedelta(days=1), response_days, open_calendar) >= today
    assert add_working_days(received, response_days, build_calendar(REGION, years, [d0])) == d1 >= today
    assert add_working_days(received, response_days, build_calendar(REGION, years, [d0, d1])) == d2 > d1
