"""Administration: the calendar's closures and bank holidays."""

from __future__ import annotations

import datetime as dt
from datetime import date
from typing import Literal

from pydantic import field_validator

from api.schemas.base import ShortText, Strict
from casework.calendar.workdays import supported_refusal


class ClosureCreate(Strict):
    date: date
    reason: ShortText
    kind: Literal["closure", "bank_holiday"] = "closure"

    @field_validator("date")
    @classmethod
    def _supported(cls, value: dt.date) -> dt.date:
        refusal = supported_refusal("date", value)
        if refusal is not None:
            raise ValueError(refusal)
        return value
