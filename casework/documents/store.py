"""Content-addressed document storage in PostgreSQL (bytes are immutable; metadata lives on the case)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casework.platform.db import DocumentBlob

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EML = "message/rfc822"


# Any number of blobs in one statement, which a data-modifying CTE can also carry beside another
# write (the worker's outbox statements do). The contents travel as a binary array (%b): in text
# form psycopg escapes every byte of every file in Python, 1.7 ms of CPU for 80 KB against 0.2.
INSERT_BLOBS = ("INSERT INTO document_blob (sha256, size, content)"
                " SELECT sha256, octet_length(content), content"
                " FROM unnest(%(blob_sha256)s::varchar[], %(blob_content)b::bytea[]) AS blob(sha256, content)"
                " ON CONFLICT (sha256) DO NOTHING")


def blob_parameters(contents: Iterable[bytes]) -> dict[str, list]:
    """The parameters of INSERT_BLOBS for ``contents``."""
    contents = list(contents)
    return {"blob_sha256": [hashlib.sha256(content).hexdigest() for content in contents],
            "blob_content": contents}


async def store_blob(session: AsyncSession, content: bytes) -> str:
    """Store bytes once, keyed by their SHA-256, in the session's transaction; returns the digest."""
    parameters = blob_parameters([content])
    await (await session.connection()).exec_driver_sql(INSERT_BLOBS, parameters)
    return parameters["blob_sha256"][0]


async def load_blob(session: AsyncSession, digest: str) -> bytes | None:
    return await session.scalar(select(DocumentBlob.content).where(DocumentBlob.sha256 == digest))
