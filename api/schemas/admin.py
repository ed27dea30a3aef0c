"""Administration: the calendar's closures and bank holidays."""

from __future__ import annotations

from datetime import date
from typing import Literal

from api.schemas.base import ShortText, Strict


class ClosureCreate(Strict):
    date: date
    reason: ShortText
    kind: Literal["closure", "bank_holiday"] = "closure"
