"""What every request and response body is built from: trimmed text fields, bodies that refuse
unknown fields (422 naming the field), reads from database rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from casework.calendar.bounds import (
    DEFAULT_EARLIEST_DATE_RECEIVED,
    DEFAULT_HORIZON_DAYS,
    ahead_refusal,
    received_refusal,
)
from casework.calendar.deadlines import case_today

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
UploadIds = Annotated[
    list[Annotated[str, StringConstraints(max_length=36)]],
    Field(max_length=20, description="upload_ids from POST /uploads"),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


@dataclass
class DateBounds:
    """The configured bounds of dates typed into a body (EARLIEST_DATE_RECEIVED, DATE_HORIZON_DAYS);
    `api.main.create_app` sets them from its settings."""

    earliest_date_received: date = DEFAULT_EARLIEST_DATE_RECEIVED
    horizon_days: int = DEFAULT_HORIZON_DAYS


DATE_BOUNDS = DateBounds()


def configure_date_bounds(earliest_date_received: date, horizon_days: int) -> None:
    DATE_BOUNDS.earliest_date_received = earliest_date_received
    DATE_BOUNDS.horizon_days = horizon_days


def _due_ahead(value: date) -> date:
    # The field's name is in the 422's loc; the message names the bound.
    refusal = ahead_refusal("the date", value, case_today(datetime.now(timezone.utc)), DATE_BOUNDS.horizon_days)
    if refusal is not None:
        raise ValueError(refusal)
    return value


# A date something is due by: today at the earliest, at most DATE_HORIZON_DAYS ahead.
DueDate = Annotated[date, AfterValidator(_due_ahead)]


def _on_or_before_today(value: date) -> date:
    refusal = received_refusal("the date", value, case_today(datetime.now(timezone.utc)),
                               DATE_BOUNDS.earliest_date_received)
    if refusal is not None:
        raise ValueError(refusal)
    return value


# A date something happened (sent, received): today at the latest, not before EARLIEST_DATE_RECEIVED;
# the workflow also refuses one before the case's own date received.
PastDate = Annotated[date, AfterValidator(_on_or_before_today)]
