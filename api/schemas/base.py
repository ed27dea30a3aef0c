"""What every request and response body is built from: trimmed text fields, bodies that refuse
unknown fields (422 naming the field), reads from database rows."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
