"""How far back and ahead a date a person types may reach: pure checks shared by the API's request
bodies (422 naming the field) and the workflow's Update validators (`invalid(field, ...)`).

Without them, a reply-by date of 9999-12-31 overflowed the deadline clock's date arithmetic inside
the workflow (a workflow task failing for ever), and a sent date of 0001-01-01 marked a deadline met.
The API applies the configured bounds (`EARLIEST_DATE_RECEIVED`, `DATE_HORIZON_DAYS`); the workflow
applies the widest bounds any configuration allows (`FLOOR`, `MAX_HORIZON_DAYS`), which keep every
date it computes from well inside the calendar's supported years.
"""

from __future__ import annotations

from datetime import date, timedelta

# The widest bounds any configuration may set, and what the workflow enforces whatever is configured.
FLOOR = date(1990, 1, 1)
MAX_HORIZON_DAYS = 5 * 366

# The most days a deadline policy gives from receipt to the response (and a list value's target).
MAX_RESPONSE_DAYS = 366

# The most working days one extension may add (about a year).
MAX_EXTENSION_WORKING_DAYS = 250

# Defaults of the settings (casework.platform.config).
DEFAULT_EARLIEST_DATE_RECEIVED = date(2000, 1, 1)
DEFAULT_HORIZON_DAYS = 366


def received_refusal(field: str, value: date, today: date,
                     floor: date = DEFAULT_EARLIEST_DATE_RECEIVED) -> str | None:
    """Why `value` cannot be the day something was received (not before `floor`, not after today)."""
    if value > today:
        return f"{field} cannot be in the future"
    if value < floor:
        return f"{field} cannot be before {floor.isoformat()}"
    return None


def ahead_refusal(field: str, value: date, today: date,
                  horizon_days: int = DEFAULT_HORIZON_DAYS) -> str | None:
    """Why `value` cannot be a date in the future something is due (not past, not beyond the horizon)."""
    if value < today:
        return f"{field} must not be in the past"
    latest = today + timedelta(days=horizon_days)
    if value > latest:
        return f"{field} must be on or before {latest.isoformat()} ({horizon_days} days ahead)"
    return None


def sent_refusal(field: str, value: date, today: date, received: date) -> str | None:
    """Why `value` cannot be the day a response was sent: between the day received and today."""
    if value > today:
        return f"{field} cannot be in the future"
    if value < received:
        return f"{field} cannot be before the case was received ({received.isoformat()})"
    return None
