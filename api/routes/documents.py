"""Uploads (before a case exists) and downloads of any case document, letter or email."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, HTTPException, Request, Response, UploadFile, status
from sqlalchemy.dialects.postgresql import insert

from api import errors
from api.casesteps import authorise_case
from api.deps import CurrentUser, SessionDep, SettingsDep
from api.schemas.documents import UploadRead
from api.uploads import store_upload
from casework.documents.store import load_blob
from casework.platform.db import CaseDocument

router = APIRouter(tags=["documents"])


@router.post("/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadRead)
async def upload(session: SessionDep, settings: SettingsDep, user: CurrentUser,
                 file: Annotated[UploadFile, File()]) -> Any:
    """Upload an attachment before registering; pass its upload_id in `attachment_ids`."""
    ref = await store_upload(session, settings, user, file, "attachment")
    await session.execute(
        insert(CaseDocument).values(case_reference=None, uploaded_by_id=user.id, **ref.model_dump())
        .on_conflict_do_nothing(index_elements=["id"])
    )
    await session.commit()
    return UploadRead(upload_id=ref.id, filename=ref.filename, content_type=ref.content_type,
                      size=ref.size, sha256=ref.sha256)


@router.get("/documents/{document_id}", response_class=Response)
async def download(document_id: str, request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Download a document: an upload, a draft, a letter (.docx and its print-ready .pdf), a sent
    email (.eml) or the response PDF sent with it.

    A case's documents are visible to whoever may see the case (a partner's user: only those it
    uploaded itself, api/partner_view.py); an upload not yet attached, only to the user who
    uploaded it (404 otherwise)."""
    row = await session.get(CaseDocument, document_id)
    if row is not None and row.case_reference is not None:
        try:  # the case routes' own check: may this user read the document's case
            case = await authorise_case(request, user, row.case_reference)
        except HTTPException as exc:
            if exc.status_code != status.HTTP_404_NOT_FOUND:
                raise
            row = None  # "not found" names the document, never the case it is on
        else:
            if case.viewer.partners is not None and row.uploaded_by_id != user.id:
                row = None
    elif row is not None and row.uploaded_by_id != user.id:
        row = None
    content = await load_blob(session, row.sha256) if row else None
    if row is None or content is None:
        raise errors.not_found(f"document {document_id}")
    disposition = f"attachment; filename*=UTF-8''{quote(row.filename)}"
    return Response(content, media_type=row.content_type,
                    headers={"Content-Disposition": disposition})
