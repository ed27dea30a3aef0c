"""What every request and response body is built from: trimmed text fields, bodies that refuse
unknown fields (422 naming the field), reads from database rows.

Every text a request body carries is checked for what PostgreSQL cannot store (a NUL byte, a lone
surrogate): a 422 naming the field, never a step that fails in the worker. Lengths come from
casework.cases.limits, the same numbers the columns are declared with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from types import NoneType
from typing import Annotated, Any, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from casework.calendar.bounds import (
    DEFAULT_EARLIEST_DATE_RECEIVED,
    DEFAULT_HORIZON_DAYS,
    ahead_refusal,
    received_refusal,
)
from casework.calendar.deadlines import case_today
from casework.cases import limits

# NUL, which no PostgreSQL text holds, and UTF-16 surrogates, which are not characters at all
# (JSON's "\ud800" escape makes one) and cannot be encoded as UTF-8.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: str) -> str | None:
    """What is wrong with `value` for storage, or None when it can be stored."""
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain a NUL character (\\u0000)"
    return "must not contain a lone surrogate (an unpaired \\ud800-\\udfff)"


# How much of an offending input a 422 echoes back: enough to recognise it, never the whole of it.
ECHO_LIMIT = 100


def clip(value: str, limit: int = ECHO_LIMIT) -> str:
    """`value` safe to echo in a JSON answer: lone surrogates written as escapes (they cannot be
    encoded as UTF-8), at most `limit` characters, an ellipsis saying it was cut."""
    if UNSTORABLE.search(value) is not None:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value if len(value) <= limit else value[:limit] + "…"


def check_storable(value: Any) -> Any:
    """`value` unchanged, or ValueError if it holds (at any depth of lists and dicts) a text
    PostgreSQL cannot store."""
    if isinstance(value, str):
        problem = unstorable(value)
        if problem is not None:
            raise ValueError(problem)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            check_storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item)
    return value


# For text that enters outside a body model (a form field): Annotated[str, Form(), Storable].
Storable = AfterValidator(check_storable)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.TEXT)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.NAME)]
# Codes (a case's channel and severity, a relationship) and categories: the columns' lengths.
CodeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.CODE)]
CategoryText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                max_length=limits.CATEGORY)]
# A record's id in the system of record that owns it (a CRM or ERP): its id in paths and references.
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=limits.EXTERNAL_REFERENCE, pattern=r"^[^/\s]+$")]
UploadIds = Annotated[
    list[Annotated[str, StringConstraints(max_length=36)]],
    Field(max_length=20, description="upload_ids from POST /uploads"),
]


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


# A date, written YYYY-MM-DD only: pydantic would also read a number as seconds since 1970, so a
# search from `received_from=20260101` would start in August 1970.
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("a time is written YYYY-MM-DDTHH:MM[:SS][+HH:MM]")


# A moment, written as ISO 8601 only (not a number of seconds since 1970).
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]


class Strict(BaseModel):
    """A request body: unknown fields refused, and every text field (nested lists included)
    refused with a 422 naming it when it holds a NUL or a lone surrogate."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return check_storable(value)

    @field_validator("*", mode="before")
    @classmethod
    def _as_typed(cls, value: Any, info: ValidationInfo) -> Any:
        """A flag is true or false, a date YYYY-MM-DD: pydantic would also read 0 or "yes" as a
        flag, and a number as seconds since 1970."""
        kinds = _plain_types(cls.model_fields[info.field_name].annotation) if info.field_name else set()
        if value is None or not kinds:
            return value
        if kinds <= {bool, NoneType} and not isinstance(value, bool):
            raise ValueError("true or false")
        if kinds <= {date, NoneType}:
            return _iso_date(value)
        if kinds <= {datetime, time, NoneType} and isinstance(value, (int, float)):
            raise ValueError("a time is written as ISO 8601 text")
        return value


def _plain_types(annotation: Any) -> set[Any]:
    """The types a field's annotation allows, through Optional, unions and Annotated."""
    if get_origin(annotation) is Annotated:
        return _plain_types(get_args(annotation)[0])
    if get_args(annotation) and get_origin(annotation) not in (list, dict, tuple, set, frozenset):
        return set().union(*(_plain_types(arg) for arg in get_args(annotation)))
    return {annotation}


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


def _due_any_time(value: date) -> date:
    today = case_today(datetime.now(timezone.utc))
    return _due_ahead(value) if value > today else _on_or_before_today(value)


# A date something was or is due by, for a request recorded after the event: in the past (not before
# EARLIEST_DATE_RECEIVED; the workflow also refuses one before the case was received) or ahead
# within DATE_HORIZON_DAYS.
DueOrPastDate = Annotated[date, AfterValidator(_due_any_time)]
