"""Documents: an upload before its case exists, and a case document as read."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from api.schemas.base import Read


class DocumentRead(Read):
    id: str
    kind: str
    purpose: str | None
    filename: str
    content_type: str
    size: int
    version: int
    added_by: str
    added_at: datetime
    download_url: str = ""


class UploadRead(BaseModel):
    upload_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
