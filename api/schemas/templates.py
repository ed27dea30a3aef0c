"""The template library: email templates uploaded, previews asked for, versions read back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.base import CodeText, Read, ShortText, Strict, Text


class EmailTemplateUpload(Strict):
    subject: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    html: Annotated[str, StringConstraints(min_length=1, max_length=500_000)]
    case_type: CodeText | None = Field(None, description="only for this case type; null for all")
    note: Text | None = None


class TemplatePreviewRequest(Strict):
    case_reference: ShortText | None = Field(None, description="render against this case")
    version_id: ShortText | None = Field(None, description="this version; default: the one in use")
    format: Annotated[str, StringConstraints(pattern="^(docx|pdf)$")] = "docx"


class TemplateVersionRead(Read):
    id: str
    purpose: str
    channel: str
    case_type: str | None
    version: int
    filename: str | None
    note: str | None
    uploaded_by: str
    uploaded_at: datetime
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    download_url: str | None = None


class EmailPreview(BaseModel):
    template: str
    subject: str
    text: str
    html: str
