"""Reference lists and their values, as sent and read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from api.schemas.base import CategoryText, Read, Strict
from casework.calendar.bounds import MAX_RESPONSE_DAYS
from casework.cases import limits

ValueCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.CATEGORY,
                                             pattern=r"^[^/\s][^/]*$")]


class ListValueIn(Strict):
    label: CategoryText = Field(description="what people see; renaming keeps every case's value")
    parent: ValueCode | None = Field(None, description="the parent value's code, for a list under another")
    active: bool = Field(True, description="false retires it: kept on old cases, no longer offered")
    position: int = Field(0, ge=0, le=100_000, description="its place in pickers (then by label)")
    target_working_days: int | None = Field(
        None, ge=1, le=MAX_RESPONSE_DAYS,
        description="for a list whose values carry a target (lead complaint types): cases filed with this "
                    "value are due within this many working days; none: the case type's deadline policy")


class ListValueRead(Read):
    code: str
    label: str
    parent: str | None = Field(validation_alias="parent_code")
    active: bool
    position: int
    target_working_days: int | None = None


class ListValueAdminRead(ListValueRead):
    updated_at: datetime
    updated_by: str


class ListRead(Read):
    name: str
    description: str
    parent: str | None = Field(description="the list its values hang under")
    targets: bool = Field(False, description="its values may carry a working-day target (target_working_days)")
    active_values: int
    retired_values: int
