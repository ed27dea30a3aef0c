"""Files sent to the API: checked (type, size, a draft printable), stored once by content, and
turned into the case documents a step adds."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

from fastapi import UploadFile

from api import errors
from api.deps import SessionDep, SettingsDep
from api.schemas.base import unstorable
from casework.cases import limits, repository
from casework.cases.contracts import DocumentRef
from casework.documents import pdf, safety
from casework.documents.store import store_blob
from casework.platform.db import AppUser, CaseDocument

ALLOWED_UPLOAD_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".doc": "application/msword",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".eml": "message/rfc822",
}
# A draft response is printed for the post room or sent as a PDF, so it must be one of these.
DRAFT_TYPES = (".docx", ".odt", ".pdf")
KEYED_DOCUMENT_NAMESPACE = uuid.UUID("0f8a3f0e-6b2c-4f4e-9a55-3c1d2b7e8a90")


def keyed_document_id(reference: str, user_id: int, idempotency_key: str | None) -> str | None:
    """The id of the document a request with an Idempotency-Key adds to a case: the same on every
    retry. A new id on the retry could reach the workflow while PostgreSQL already holds the first
    attempt's (its workflow task lost to a restart after the projection ran, with the same state
    version): the case would name a document PostgreSQL does not have."""
    if idempotency_key is None:
        return None
    return str(uuid.uuid5(KEYED_DOCUMENT_NAMESPACE, f"{reference}/{user_id}/{idempotency_key}"))


def check_filename(filename: str) -> str:
    """`filename`, or a 422 on `file` if its column cannot hold it (too long, a NUL, a surrogate)."""
    problem = unstorable(filename)
    if problem is not None:
        raise errors.unprocessable("file", f"the file's name {problem}")
    if len(filename) > limits.FILENAME:
        raise errors.unprocessable("file", f"the file's name is longer than {limits.FILENAME} characters")
    return filename


async def store_upload(session: SessionDep, settings: SettingsDep, user: AppUser,
                       file: UploadFile, kind: str, document_id: str | None = None) -> DocumentRef:
    filename = check_filename(safety.safe_filename(file.filename or ""))
    suffix = ("." + filename.rsplit(".", 1)[-1].lower()) if "." in filename else ""
    if suffix not in ALLOWED_UPLOAD_TYPES:
        raise errors.unprocessable("file", f"file type '{suffix or filename}' is not allowed; use one of "
                                   f"{', '.join(sorted(ALLOWED_UPLOAD_TYPES))}")
    if kind == "draft" and suffix not in DRAFT_TYPES:
        raise errors.unprocessable("file", f"a draft response must be {', '.join(DRAFT_TYPES)} "
                                   f"(it is printed or sent as a PDF), not '{suffix}'")
    limit = settings.max_draft_bytes if kind == "draft" else settings.max_upload_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise errors.unprocessable("file", f"file is larger than {limit} bytes")
    if not content:
        raise errors.unprocessable("file", "file is empty")
    try:
        # By content, not only by name; a package's unpacked size is bounded before anything opens it.
        await asyncio.to_thread(safety.check_content, suffix, content)
    except safety.UnsafeFile as exc:
        raise errors.unprocessable("file", str(exc)) from exc
    if kind == "draft":
        try:
            await asyncio.to_thread(pdf.check_printable, content, ALLOWED_UPLOAD_TYPES[suffix])
        except pdf.PdfError as exc:
            raise errors.unprocessable("file", str(exc)) from exc
    digest = await store_blob(session, content)
    await session.commit()
    return DocumentRef(id=document_id or str(uuid.uuid4()), kind=kind, filename=filename,
                       content_type=ALLOWED_UPLOAD_TYPES[suffix], size=len(content), sha256=digest,
                       added_by=user.display_name, added_by_id=user.id,
                       added_at=datetime.now(timezone.utc))


def refuse_unclaimed(upload_ids: list[str], claimed: list[CaseDocument]) -> None:
    """Refuse upload ids that could not be claimed with one 422 naming `attachment_ids`: no such
    upload, another user's, and one already attached are told apart by no one."""
    missing = set(upload_ids) - {u.id for u in claimed}
    if missing:
        raise errors.unprocessable("attachment_ids", "no upload of yours, not yet attached, has the id "
                                   f"{', '.join(sorted(missing))}")


def document_ref(row: CaseDocument, kind: str) -> DocumentRef:
    return DocumentRef(id=row.id, kind=kind, filename=row.filename, content_type=row.content_type,
                       size=row.size, sha256=row.sha256, added_by=row.added_by,
                       added_by_id=row.added_by_id, added_at=row.added_at)


async def reply_attachments(session: SessionDep, user: AppUser, reference: str, upload_ids: list[str],
                            purpose: str) -> list[DocumentRef]:
    """Uploads (the user's own) sent with a reply, as case documents. Uploads already on this case
    are accepted so a retried request (same Idempotency-Key) gets the same answer rather than a 422."""
    uploads = await repository.claim_uploads(session, upload_ids, user.id, also_on_case=reference)
    refuse_unclaimed(upload_ids, uploads)
    return [document_ref(u, "attachment").model_copy(update={"purpose": purpose}) for u in uploads]
