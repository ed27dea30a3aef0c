"""Working-day arithmetic for response deadlines: pure functions over a plain-data calendar.

Deadlines are counted in working days (Monday to Friday, excluding bank holidays and any extra
closures an administrator records). The counting rule, fixed by the service's published examples:

* a complaint received on a weekend, bank holiday or closure day is treated as received on the
  next working day;
* that (rolled) day of receipt is day 0, and the first working day after it is day 1.

So a complaint received on Monday 17 August 2020 with a 20-working-day target is due on Tuesday
15 September 2020 (Monday 31 August was a bank holiday), and one received on Saturday 4 January
2020 is treated as received on Monday 6 January and is due on Monday 3 February.

The arithmetic never touches the `holidays` package: it works on a `WorkingCalendar`, which is
nothing but a region and a set of closed dates. Only `build_calendar` imports `holidays`, and it
does so lazily, so this module stays safe to import from Temporal workflow code. Bank holiday data
changes between releases of `holidays` (one-off holidays are added as they are announced), so a
deadline that must replay deterministically should be computed from a calendar built once and
passed in, not rebuilt inside the workflow.
"""

from __future__ import annotations

from calendar import SATURDAY, SUNDAY
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

_ONE_DAY = timedelta(days=1)
_WEEKEND = frozenset({SATURDAY, SUNDAY})

# The `holidays` package's country code for the United Kingdom.
_UK_COUNTRY_CODE = "GB"


class Region(StrEnum):
    """UK jurisdictions with their own bank holidays.

    England and Wales share one list of bank holidays, so both use the English calendar.
    """

    ENGLAND_AND_WALES = "england-and-wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern-ireland"


DEFAULT_REGION = Region.ENGLAND_AND_WALES

# Subdivision codes used by `holidays` for the UK (ISO 3166-2:GB).
_HOLIDAYS_SUBDIVISION: dict[Region, str] = {
    Region.ENGLAND_AND_WALES: "ENG",
    Region.SCOTLAND: "SCT",
    Region.NORTHERN_IRELAND: "NIR",
}


# The days a calendar may be asked about at all (closures, dates a person types): the bank holiday
# data and the clock's date arithmetic are sound well inside these, and nothing a case needs lies outside.
SUPPORTED_FIRST = date(1990, 1, 1)
SUPPORTED_LAST = date(2100, 12, 31)


def supported_refusal(field: str, d: date) -> str | None:
    """Why `d` is outside the calendar's supported range, or None."""
    if not SUPPORTED_FIRST <= d <= SUPPORTED_LAST:
        return (f"{field} must be between {SUPPORTED_FIRST.isoformat()} and {SUPPORTED_LAST.isoformat()}, "
                "the days the calendar supports")
    return None


class CalendarRangeError(ValueError):
    """A date fell outside the years a calendar was built for.

    Raised rather than guessing, because treating an unknown year as holiday-free would silently
    produce a deadline that lands on a bank holiday.
    """


@dataclass(frozen=True)
class WorkingCalendar:
    """The days a region is closed, as plain data.

    `closed_dates` holds bank holidays and extra closures; weekends are implied and need not be
    listed. `covered_years` are the years whose bank holidays were loaded; asking about a day
    outside them raises `CalendarRangeError`. An empty `covered_years` means the caller vouches
    for `closed_dates` being complete, and no range check is made.
    """

    region: Region
    closed_dates: frozenset[date]
    covered_years: frozenset[int] = frozenset()

    def is_working_day(self, d: date) -> bool:
        """True if `d` is a weekday on which the organisation is open."""
        if self.covered_years and d.year not in self.covered_years:
            first, last = min(self.covered_years), max(self.covered_years)
            span = str(first) if first == last else f"{first} to {last}"
            raise CalendarRangeError(f"{d.isoformat()} is outside the years this calendar covers ({span})")
        return d.weekday() not in _WEEKEND and d not in self.closed_dates


def build_calendar(
    region: Region | str,
    years: Iterable[int],
    extra_closures: Iterable[date] = (),
) -> WorkingCalendar:
    """Load the region's bank holidays for `years` and add the administrator's extra closures.

    Pass every year a deadline might reach: a case received in December needs next year too.
    """
    region = Region(region)
    covered_years = frozenset(years)
    if not covered_years:
        # An empty calendar would count every weekday as working and skip the range check.
        raise ValueError("build_calendar needs at least one year")
    bank_holidays = _bank_holidays(region, tuple(sorted(covered_years)))
    return WorkingCalendar(
        region=region,
        closed_dates=frozenset(bank_holidays) | frozenset(extra_closures),
        covered_years=covered_years,
    )


def roll_forward(d: date, cal: WorkingCalendar) -> date:
    """The first working day on or after `d`: when a complaint received on a closed day counts as received."""
    while not cal.is_working_day(d):
        d += _ONE_DAY
    return d


def next_working_day(d: date, cal: WorkingCalendar) -> date:
    """The first working day strictly after `d`."""
    return roll_forward(d + _ONE_DAY, cal)


def add_working_days(start: date, n: int, cal: WorkingCalendar) -> date:
    """The date `n` working days after `start`, rolling a closed `start` forward first.

    The rolled start is day 0, so `n == 0` returns it unchanged.
    """
    if n < 0:
        raise ValueError(f"working days to add must not be negative, got {n}")
    d = roll_forward(start, cal)
    for _ in range(n):
        d = next_working_day(d, cal)
    return d


def working_days_between(start: date, end: date, cal: WorkingCalendar) -> int:
    """How many working days fall after `start` and on or before `end`; 0 if `end` is not after `start`.

    Used to measure how many working days a paused case lost. Unlike `add_working_days`, `start`
    is not rolled forward, so a pause beginning on a closed day counts only the working days after it.
    """
    count = 0
    d = start + _ONE_DAY
    while d <= end:
        if cal.is_working_day(d):
            count += 1
        d += _ONE_DAY
    return count


def bank_holiday_names(region: Region | str, years: Iterable[int]) -> dict[date, str]:
    """The region's bank holidays with their names, for explaining a deadline to a person."""
    return dict(_bank_holidays(Region(region), tuple(sorted(set(years)))))


@lru_cache(maxsize=64)
def _bank_holidays(region: Region, years: tuple[int, ...]) -> Mapping[date, str]:
    """Bank holidays by date, as the installed `holidays` release has them (fixed for the process:
    computing them took 2 ms, on every deadline computation)."""
    import holidays  # Imported here so that importing this module never loads it.

    found = holidays.country_holidays(_UK_COUNTRY_CODE, subdiv=_HOLIDAYS_SUBDIVISION[region], years=list(years))
    return MappingProxyType(dict(found.items()))


def holidays_version() -> str:
    """Which release of the bank holiday data a calendar was built from (it changes between releases)."""
    import holidays

    return f"holidays {holidays.__version__}"
