"""Content-addressed document storage in PostgreSQL (bytes are immutable; metadata lives on the case)."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from casework.db import DocumentBlob

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EML = "message/rfc822"


async def store_blob(session: AsyncSession, content: bytes) -> str:
    """Store bytes once, keyed by their SHA-256; returns the digest."""
    digest = hashlib.sha256(content).hexdigest()
    await session.execute(
        insert(DocumentBlob)
        .values(sha256=digest, size=len(content), content=content)
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    return digest


async def load_blob(session: AsyncSession, digest: str) -> bytes | None:
    return await session.scalar(select(DocumentBlob.content).where(DocumentBlob.sha256 == digest))
