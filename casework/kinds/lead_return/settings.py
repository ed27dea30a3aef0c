"""The return settings that apply to a lead: its lead group's where set, else the global ones,
else the built-in defaults; each value with where it came from. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from casework.kinds.lead_return.contracts import ReturnCap

DEFAULTS: dict[str, Any] = {
    "enabled": False, "partners_may_start": False, "reasons": None, "allow_other": False,
    "notify_user": None, "email_introducer": True, "email_partner": True, "window_days": 0,
    "cap_count": 0, "cap_percent": Decimal(0), "auto_accept_reasons": [], "auto_accept_hours": 0,
    "replacements": False,
}
FIELDS = tuple(DEFAULTS)


class EffectiveSettings(BaseModel):
    enabled: bool
    partners_may_start: bool
    reasons: list[str] | None  # None: every active reason of the shared list
    allow_other: bool
    notify_user: str | None
    email_introducer: bool
    email_partner: bool
    window_days: int  # 0: unlimited
    cap_count: int  # 0: no cap by count
    cap_percent: Decimal  # 0: no cap by percentage
    auto_accept_reasons: list[str]
    auto_accept_hours: int  # 0: no auto-accept
    replacements: bool  # a decider may accept a return with a replacement lead owed to the partner
    sources: dict[str, str]  # each field: "lead_group:<id>", "global" or "default"

    def cap(self) -> ReturnCap | None:
        if not self.cap_count and not self.cap_percent:
            return None
        return ReturnCap(count=self.cap_count or None, percent=self.cap_percent or None)

    def window_refusal(self, referred_at: datetime | None, now: datetime) -> str | None:
        """Why a return asked for `now` is outside the window, or None."""
        if not self.window_days or referred_at is None:
            return None
        closes = referred_at + timedelta(days=self.window_days)
        if now > closes:
            return (f"the return window of {self.window_days} days from referral closed on "
                    f"{closes.date().isoformat()}")
        return None

    def auto_accept_at(self, reason: str, now: datetime) -> datetime | None:
        if self.auto_accept_hours and reason in self.auto_accept_reasons:
            return now + timedelta(hours=self.auto_accept_hours)
        return None


def effective(global_row: Mapping[str, Any] | None, group: str | None,
              group_row: Mapping[str, Any] | None) -> EffectiveSettings:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in FIELDS:
        for source, row in ((f"lead_group:{group}", group_row), ("global", global_row)):
            if row is not None and row.get(name) is not None:
                values[name], sources[name] = row[name], source
                break
        else:
            values[name], sources[name] = DEFAULTS[name], "default"
    return EffectiveSettings(**values, sources=sources)
