"""Reference data: who the signed-in user is."""

from __future__ import annotations

from api.schemas.base import Read


class UserRead(Read):
    id: int
    username: str
    display_name: str
    email: str | None
    roles: list[str]
