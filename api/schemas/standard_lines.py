"""Standard lines drafters choose from: added, their expiry moved, read back."""

from __future__ import annotations

from datetime import date, datetime

from api.schemas.base import CategoryText, Read, ShortText, Strict, Text


class StandardLineCreate(Strict):
    category: CategoryText
    topic: ShortText
    text: Text
    expires_on: date


class StandardLineUpdate(Strict):
    expires_on: date


class StandardLineRead(Read):
    id: str
    category: str
    topic: str
    text: str
    expires_on: date
    status: str  # live | expired | retired
    created_by: str
    created_at: datetime
    retired_at: datetime | None
    retired_by: str | None
    replaced_by: str | None
