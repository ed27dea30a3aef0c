"""Working-day arithmetic against dates worked out by hand.

Each expected date was counted by hand from the UK bank holiday rules (including substitute days
and the one-off holidays of 2022) with the weekday of every date checked against a calendar, never
by calling the code under test. Case ids name the rule each row exercises.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from casework.calendar.workdays import (
    DEFAULT_REGION,
    CalendarRangeError,
    Region,
    WorkingCalendar,
    add_working_days,
    bank_holiday_names,
    build_calendar,
    next_working_day,
    roll_forward,
    working_days_between,
)

ENG = Region.ENGLAND_AND_WALES
SCT = Region.SCOTLAND
NIR = Region.NORTHERN_IRELAND

# Wide enough for every case below, including deadlines that cross into the next year.
YEARS = range(2019, 2030)


def calendar(region: Region, *extra_closures: str) -> WorkingCalendar:
    return build_calendar(region, YEARS, [date.fromisoformat(d) for d in extra_closures])


def d(iso: str) -> date:
    return date.fromisoformat(iso)


# (region, received, working days, due, extra closures)
ADD_WORKING_DAYS_CASES = [
    # The two published examples.
    pytest.param(ENG, "2020-08-17", 20, "2020-09-15", (), id="published-mon-17-aug-2020-over-august-bank-holiday"),
    pytest.param(ENG, "2020-01-04", 20, "2020-02-03", (), id="published-sat-4-jan-2020-rolls-to-monday"),
    # Plain weeks and weekends.
    pytest.param(ENG, "2024-06-05", 0, "2024-06-05", (), id="n0-on-working-day-is-same-day"),
    pytest.param(ENG, "2024-06-05", 1, "2024-06-06", (), id="wed-plus-1-is-thu"),
    pytest.param(ENG, "2024-06-07", 1, "2024-06-10", (), id="fri-plus-1-skips-weekend"),
    pytest.param(ENG, "2024-06-07", 5, "2024-06-14", (), id="fri-plus-5-is-next-fri"),
    pytest.param(ENG, "2024-06-08", 0, "2024-06-10", (), id="n0-on-saturday-rolls-to-monday"),
    pytest.param(ENG, "2024-06-09", 1, "2024-06-11", (), id="sunday-rolls-to-monday-then-plus-1"),
    # Easter: Good Friday 29 Mar 2024 everywhere, Easter Monday 1 Apr not in Scotland.
    pytest.param(ENG, "2024-03-28", 1, "2024-04-02", (), id="eng-easter-2024-skips-fri-and-mon"),
    pytest.param(ENG, "2024-03-29", 0, "2024-04-02", (), id="n0-on-good-friday-rolls-past-easter-monday"),
    pytest.param(ENG, "2024-03-29", 1, "2024-04-03", (), id="start-on-good-friday-plus-1"),
    pytest.param(SCT, "2024-03-28", 1, "2024-04-01", (), id="sct-easter-monday-is-a-working-day"),
    pytest.param(NIR, "2024-03-28", 1, "2024-04-02", (), id="nir-easter-monday-is-a-holiday"),
    pytest.param(ENG, "2020-03-30", 10, "2020-04-15", (), id="eng-10-days-across-easter-2020"),
    # Christmas and New Year, including substitute days when they fall at a weekend.
    pytest.param(ENG, "2020-12-24", 1, "2020-12-29", (), id="eng-2020-boxing-day-sat-substitute-mon-28"),
    pytest.param(ENG, "2021-12-24", 1, "2021-12-29", (), id="eng-2021-christmas-sat-sun-substitutes-27-28"),
    pytest.param(ENG, "2021-12-23", 3, "2021-12-30", (), id="eng-2021-christmas-three-days-span"),
    pytest.param(ENG, "2021-12-26", 0, "2021-12-29", (), id="n0-on-boxing-day-sunday-rolls-past-substitutes"),
    pytest.param(ENG, "2024-12-25", 0, "2024-12-27", (), id="n0-on-christmas-wed-rolls-past-boxing-day"),
    pytest.param(ENG, "2024-12-25", 1, "2024-12-30", (), id="start-on-christmas-2024-plus-1"),
    pytest.param(ENG, "2022-12-23", 1, "2022-12-28", (), id="eng-2022-christmas-sun-substitute-tue-27"),
    pytest.param(ENG, "2022-12-23", 4, "2023-01-03", (), id="eng-2022-into-2023-new-year-sun-substitute-mon-2"),
    pytest.param(SCT, "2022-12-23", 4, "2023-01-04", (), id="sct-2022-into-2023-2-january-substitute-tue-3"),
    pytest.param(ENG, "2021-12-31", 1, "2022-01-04", (), id="eng-new-year-2022-sat-substitute-mon-3"),
    pytest.param(SCT, "2021-12-31", 1, "2022-01-05", (), id="sct-new-year-2022-substitutes-mon-3-tue-4"),
    pytest.param(ENG, "2020-12-07", 20, "2021-01-07", (), id="eng-20-days-over-christmas-2020"),
    pytest.param(SCT, "2020-12-07", 20, "2021-01-08", (), id="sct-20-days-over-christmas-2020-2-jan-substitute"),
    pytest.param(ENG, "2023-12-29", 1, "2024-01-02", (), id="eng-2-january-2024-is-a-working-day"),
    pytest.param(SCT, "2023-12-29", 1, "2024-01-03", (), id="sct-2-january-2024-is-a-holiday"),
    # Summer bank holiday: first Monday of August in Scotland, last Monday in England.
    pytest.param(ENG, "2024-08-02", 1, "2024-08-05", (), id="eng-first-monday-august-is-working"),
    pytest.param(SCT, "2024-08-02", 1, "2024-08-06", (), id="sct-first-monday-august-is-holiday"),
    pytest.param(ENG, "2024-08-23", 1, "2024-08-27", (), id="eng-last-monday-august-is-holiday"),
    pytest.param(SCT, "2024-08-23", 1, "2024-08-26", (), id="sct-last-monday-august-is-working"),
    # St Andrew's Day (Scotland only).
    pytest.param(SCT, "2023-11-29", 1, "2023-12-01", (), id="sct-st-andrews-day-thu-2023"),
    pytest.param(SCT, "2024-11-29", 1, "2024-12-03", (), id="sct-st-andrews-day-sat-2024-substitute-mon"),
    pytest.param(ENG, "2024-11-29", 1, "2024-12-02", (), id="eng-no-st-andrews-substitute"),
    # Northern Ireland: St Patrick's Day and the Battle of the Boyne.
    pytest.param(NIR, "2026-03-16", 1, "2026-03-18", (), id="nir-st-patricks-day-tue-2026"),
    pytest.param(NIR, "2024-03-15", 1, "2024-03-19", (), id="nir-st-patricks-sun-2024-substitute-mon"),
    pytest.param(ENG, "2024-03-15", 1, "2024-03-18", (), id="eng-no-st-patricks-substitute"),
    pytest.param(NIR, "2024-07-11", 1, "2024-07-15", (), id="nir-12-july-fri-2024"),
    pytest.param(ENG, "2024-07-11", 1, "2024-07-12", (), id="eng-12-july-is-working"),
    pytest.param(NIR, "2026-07-10", 1, "2026-07-14", (), id="nir-12-july-sun-2026-substitute-mon"),
    # One-off holidays in 2022, and the late-May holiday that moved to make room for them.
    pytest.param(ENG, "2022-06-01", 1, "2022-06-06", (), id="eng-platinum-jubilee-thu-fri-2022"),
    pytest.param(ENG, "2022-05-27", 1, "2022-05-30", (), id="eng-last-monday-may-2022-was-working"),
    pytest.param(ENG, "2022-09-16", 1, "2022-09-20", (), id="eng-state-funeral-mon-19-sep-2022"),
    # Leap years.
    pytest.param(ENG, "2024-02-28", 1, "2024-02-29", (), id="leap-2024-wed-28-feb-to-29-feb"),
    pytest.param(ENG, "2024-02-29", 1, "2024-03-01", (), id="leap-2024-29-feb-to-1-mar"),
    pytest.param(ENG, "2024-02-26", 20, "2024-03-25", (), id="leap-2024-20-days-across-29-feb"),
    pytest.param(ENG, "2028-02-28", 1, "2028-02-29", (), id="leap-2028-mon-28-feb-to-tue-29-feb"),
    pytest.param(ENG, "2028-02-28", 2, "2028-03-01", (), id="leap-2028-mon-28-feb-plus-2"),
    pytest.param(ENG, "2023-02-28", 1, "2023-03-01", (), id="non-leap-2023-28-feb-to-1-mar"),
    # Extra closures recorded by an administrator.
    pytest.param(ENG, "2024-06-07", 1, "2024-06-11", ("2024-06-10",), id="extra-closure-monday"),
    pytest.param(ENG, "2024-06-05", 0, "2024-06-06", ("2024-06-05",), id="n0-on-extra-closure-rolls-forward"),
    pytest.param(ENG, "2024-12-23", 1, "2024-12-30", ("2024-12-24", "2024-12-27"), id="extra-closures-around-christmas"),
    pytest.param(
        ENG,
        "2024-12-24",
        1,
        "2025-01-02",
        ("2024-12-27", "2024-12-30", "2024-12-31"),
        id="extra-closures-bridge-christmas-to-new-year",
    ),
    pytest.param(SCT, "2024-06-07", 1, "2024-06-12", ("2024-06-10", "2024-06-11"), id="extra-closures-in-scotland"),
]


@pytest.mark.parametrize(("region", "received", "n", "due", "extra_closures"), ADD_WORKING_DAYS_CASES)
def test_add_working_days(region: Region, received: str, n: int, due: str, extra_closures: tuple[str, ...]) -> None:
    assert add_working_days(d(received), n, calendar(region, *extra_closures)) == d(due)


def test_received_monday_17_august_2020_is_due_tuesday_15_september() -> None:
    # Monday 31 August 2020 was the late summer bank holiday in England and Wales.
    assert add_working_days(d("2020-08-17"), 20, calendar(ENG)) == d("2020-09-15")


def test_received_saturday_4_january_2020_is_due_monday_3_february() -> None:
    # Treated as received on Monday 6 January; day 1 is Tuesday 7 January.
    assert add_working_days(d("2020-01-04"), 20, calendar(ENG)) == d("2020-02-03")


def test_negative_working_days_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_days(d("2024-06-05"), -1, calendar(ENG))


# (region, start, end, working days after start up to and including end, extra closures)
WORKING_DAYS_BETWEEN_CASES = [
    pytest.param(ENG, "2020-08-17", "2020-09-15", 20, (), id="published-example-interval"),
    pytest.param(ENG, "2020-01-04", "2020-02-03", 21, (), id="weekend-start-is-not-rolled"),
    pytest.param(ENG, "2024-06-05", "2024-06-05", 0, (), id="same-day"),
    pytest.param(ENG, "2024-06-10", "2024-06-05", 0, (), id="end-before-start"),
    pytest.param(ENG, "2024-06-07", "2024-06-10", 1, (), id="fri-to-mon"),
    pytest.param(ENG, "2024-06-08", "2024-06-09", 0, (), id="sat-to-sun"),
    pytest.param(ENG, "2021-12-24", "2021-12-29", 1, (), id="over-christmas-2021-substitutes"),
    pytest.param(ENG, "2024-03-28", "2024-04-05", 4, (), id="eng-over-easter"),
    pytest.param(SCT, "2024-03-28", "2024-04-05", 5, (), id="sct-over-easter"),
    pytest.param(ENG, "2024-06-07", "2024-06-14", 4, ("2024-06-12",), id="extra-closure-not-counted"),
]


@pytest.mark.parametrize(("region", "start", "end", "expected", "extra_closures"), WORKING_DAYS_BETWEEN_CASES)
def test_working_days_between(
    region: Region, start: str, end: str, expected: int, extra_closures: tuple[str, ...]
) -> None:
    assert working_days_between(d(start), d(end), calendar(region, *extra_closures)) == expected


@pytest.mark.parametrize("region", list(Region))
def test_working_days_between_counts_back_what_add_working_days_added(region: Region) -> None:
    cal = calendar(region)
    start, stop = d("2024-11-01"), d("2025-02-01")
    every_day = [start + timedelta(days=i) for i in range((stop - start).days)]
    for received in filter(cal.is_working_day, every_day):
        for n in (0, 1, 5, 20):
            assert working_days_between(received, add_working_days(received, n, cal), cal) == n


@pytest.mark.parametrize(
    ("region", "day", "rolled"),
    [
        pytest.param(ENG, "2024-06-05", "2024-06-05", id="working-day-unchanged"),
        pytest.param(ENG, "2024-06-08", "2024-06-10", id="saturday-to-monday"),
        pytest.param(ENG, "2021-12-25", "2021-12-29", id="christmas-2021-to-wednesday"),
        pytest.param(SCT, "2023-01-01", "2023-01-04", id="sct-new-year-2023-to-wednesday"),
    ],
)
def test_roll_forward(region: Region, day: str, rolled: str) -> None:
    assert roll_forward(d(day), calendar(region)) == d(rolled)


@pytest.mark.parametrize(
    ("day", "following"),
    [
        pytest.param("2024-06-05", "2024-06-06", id="wed-to-thu"),
        pytest.param("2024-06-07", "2024-06-10", id="fri-to-mon"),
        pytest.param("2024-06-08", "2024-06-10", id="sat-to-mon"),
        pytest.param("2024-08-23", "2024-08-27", id="fri-over-bank-holiday-monday"),
    ],
)
def test_next_working_day(day: str, following: str) -> None:
    assert next_working_day(d(day), calendar(ENG)) == d(following)


def test_default_region_is_england_and_wales() -> None:
    assert DEFAULT_REGION is ENG
    assert DEFAULT_REGION == "england-and-wales"


def test_calendar_needs_at_least_one_year() -> None:
    with pytest.raises(ValueError, match="at least one year"):
        build_calendar(ENG, [])


def test_region_accepts_its_string_value() -> None:
    cal = build_calendar("northern-ireland", [2024])
    assert cal.region is NIR
    assert d("2024-07-12") in cal.closed_dates


def test_calendar_refuses_dates_outside_its_years() -> None:
    cal = build_calendar(ENG, [2024])
    with pytest.raises(CalendarRangeError, match="2025-01-01"):
        add_working_days(d("2024-12-31"), 1, cal)


def test_hand_built_calendar_needs_no_holidays_package() -> None:
    cal = WorkingCalendar(region=ENG, closed_dates=frozenset({d("2030-01-01")}))
    assert add_working_days(d("2029-12-31"), 1, cal) == d("2030-01-02")


def test_importing_the_module_does_not_import_holidays() -> None:
    # Workflow code imports this module; `holidays` must only load when a calendar is built.
    script = "import sys, casework.calendar.workdays; sys.exit('holidays' in sys.modules)"
    repo_root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", script], cwd=repo_root, check=False).returncode == 0


def test_bank_holidays_are_computed_once_per_region_and_years_and_cannot_be_changed_by_a_caller() -> None:
    from casework.calendar.workdays import _bank_holidays

    years = range(2031, 2034)
    names = bank_holiday_names(SCT, years)
    computed = _bank_holidays.cache_info().misses
    names[date(2031, 6, 2)] = "A day a caller made up"
    again = bank_holiday_names(SCT, reversed(years))
    calendar = build_calendar(SCT, years)
    assert _bank_holidays.cache_info().misses == computed  # the same years, in any order: no recount
    assert date(2031, 6, 2) not in again and not calendar.is_working_day(date(2031, 12, 25))
    assert again[date(2032, 1, 2)] == "New Year Holiday" and again[date(2031, 12, 25)] == "Christmas Day"
