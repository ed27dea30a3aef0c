"""Reference data: who the signed-in user is."""

from __future__ import annotations

from pydantic import Field

from api.schemas.people import UserCore


class UserRead(UserCore):
    permissions: list[str] = Field(description="what you may do: your roles' defaults and grants")
