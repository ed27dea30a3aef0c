"""Content-addressed document storage in PostgreSQL (bytes are immutable; metadata lives on the case)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casework.db import DocumentBlob

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EML = "message/rfc822"


_INSERT_BLOBS = ("INSERT INTO document_blob (sha256, size, content) VALUES (%(sha256)s, %(size)s, %(content)s)"
                 " ON CONFLICT (sha256) DO NOTHING")


def _blob_rows(contents: Iterable[bytes]) -> list[dict[str, Any]]:
    return [{"sha256": hashlib.sha256(content).hexdigest(), "size": len(content), "content": content}
            for content in contents]


async def store_blob(session: AsyncSession, content: bytes) -> str:
    """Store bytes once, keyed by their SHA-256, in the session's transaction; returns the digest."""
    (row,) = _blob_rows([content])
    await (await session.connection()).exec_driver_sql(_INSERT_BLOBS, row)
    return row["sha256"]


async def store_blobs_on(conn: psycopg.AsyncConnection, contents: Iterable[bytes]) -> list[str]:
    """Store each of ``contents`` once on a psycopg connection (see
    ``casework.db.driver_connection``), in one round trip; returns their digests in order."""
    rows = _blob_rows(contents)
    if rows:
        async with conn.cursor() as cursor:
            await cursor.executemany(_INSERT_BLOBS, rows)
    return [row["sha256"] for row in rows]


async def load_blob(session: AsyncSession, digest: str) -> bytes | None:
    return await session.scalar(select(DocumentBlob.content).where(DocumentBlob.sha256 == digest))
