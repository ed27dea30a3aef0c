"""Reference data: who the signed-in user is."""

from __future__ import annotations

from pydantic import Field

from api.schemas.base import Read


class UserRead(Read):
    id: int
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    teams: list[str]
    permissions: list[str] = Field(description="what you may do: your roles' defaults and grants")
