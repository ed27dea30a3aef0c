"""The template library, for admins: list, download, upload new versions, preview against a case.

A template is addressed by purpose and channel: /admin/templates/response/letter. Uploads are
checked against the placeholder reference before they are stored; a refused upload gets 422 with
the paragraph (letters) or line (emails) and the unknown name.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile, status
from sqlalchemy import select

from api import errors
from api.casesteps import authorise_case
from api.deps import CurrentUser, SessionDep, SettingsDep, require_permission
from api.openapi import RETRY_AFTER
from api.schemas.base import Storable
from api.schemas.templates import EmailPreview, EmailTemplateUpload, TemplatePreviewRequest, TemplateVersionRead
from api.uploads import check_filename
from casework.calendar.deadlines import case_today
from casework.cases import repository
from casework.cases.contracts import Channel
from casework.cases.roles import Role
from casework.documents import pdf, printing, safety, template_library
from casework.documents.rendering import TemplateError
from casework.documents.store import DOCX, load_blob
from casework.people.permissions import declare
from casework.platform.db import TemplateVersion

router = APIRouter(prefix="/admin/templates", tags=["template library"])
MANAGE_TEMPLATES = declare("templates.manage", "list, upload and preview letter and email templates", {Role.ADMIN})
PURPOSE = "/{purpose}/{channel}"


def _purpose_and_channel(purpose: str, channel: str) -> tuple[template_library.Purpose, Channel]:
    spec = template_library.PURPOSES.get(purpose)
    if spec is None:
        raise errors.unprocessable("purpose", f"unknown purpose '{purpose}'; one of: "
                                   f"{', '.join(template_library.PURPOSES)}", location="path")
    if channel not in {c.value for c in spec.channels}:
        raise errors.unprocessable("channel", f"'{purpose}' templates exist for: "
                                   f"{', '.join(c.value for c in spec.channels)}", location="path")
    return spec, Channel(channel)


def _version_read(row: TemplateVersion, *, with_bodies: bool = False) -> TemplateVersionRead:
    letter = row.channel == Channel.LETTER.value
    return TemplateVersionRead(
        id=row.id, purpose=row.purpose, channel=row.channel, case_type=row.case_type,
        version=row.version, filename=row.filename, note=row.note, uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
        subject=row.subject if with_bodies else None,
        text=row.text_body if with_bodies else None,
        html=row.html_body if with_bodies else None,
        download_url=f"/admin/templates/versions/{row.id}/file" if letter else None,
    )


async def _case_type(session: SessionDep, code: str | None) -> str | None:
    if code is None:
        return None
    if await repository.get_case_type(session, code) is None:
        raise errors.unprocessable("case_type", f"unknown case type '{code}'")
    return code


def _download(content: bytes, filename: str, media_type: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


# ---- reading ---------------------------------------------------------------------------------


@router.get("")
async def list_templates(session: SessionDep, settings: SettingsDep, user: CurrentUser,
                         case_type: str | None = None) -> list[dict[str, Any]]:
    """Every purpose and channel: its placeholders, and which template is in use (for a case type)."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    case_type = await _case_type(session, case_type)
    listing = []
    for spec in template_library.PURPOSES.values():
        channels = []
        for channel in spec.channels:
            try:
                in_use = await template_library.resolve(session, settings.templates_dir, spec.key,
                                                        channel, case_type)
                ref: dict[str, Any] | None = {**in_use.ref.model_dump(mode="json"),
                                              "description": in_use.ref.describe()}
            except template_library.TemplateMissing:
                ref = None
            any_version = await session.scalar(
                select(TemplateVersion.id).where(TemplateVersion.purpose == spec.key,
                                                 TemplateVersion.channel == channel.value).limit(1))
            channels.append({"channel": channel.value, "in_use": ref,
                             "has_versions": any_version is not None,
                             "versions_url": f"/admin/templates/{spec.key}/{channel.value}/versions"})
        listing.append({"purpose": spec.key, "label": spec.label, "channels": channels,
                        "placeholders": template_library.placeholder_names(spec.key)})
    return listing


@router.get(PURPOSE + "/versions", response_model=list[TemplateVersionRead])
async def list_versions(purpose: str, channel: str, session: SessionDep, user: CurrentUser,
                        case_type: str | None = None) -> Any:
    """Every uploaded version, newest first: who uploaded it and when. Filter by case type."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    _purpose_and_channel(purpose, channel)
    stmt = (select(TemplateVersion)
            .where(TemplateVersion.purpose == purpose, TemplateVersion.channel == channel)
            .order_by(TemplateVersion.uploaded_at.desc(), TemplateVersion.version.desc()))
    if case_type:
        stmt = stmt.where(TemplateVersion.case_type == case_type)
    return [_version_read(row) for row in (await session.scalars(stmt)).all()]


@router.get("/versions/{version_id}", response_model=TemplateVersionRead)
async def get_version(version_id: str, session: SessionDep, user: CurrentUser) -> Any:
    """One version; an email version includes its subject, text and HTML."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    row = await session.get(TemplateVersion, version_id)
    if row is None:
        raise errors.not_found(f"template version {version_id}")
    return _version_read(row, with_bodies=True)


@router.get("/versions/{version_id}/file", response_class=Response)
async def download_version(version_id: str, session: SessionDep, user: CurrentUser) -> Response:
    """The .docx of a letter version, to edit and upload as the next version."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    row = await session.get(TemplateVersion, version_id)
    content = await load_blob(session, row.sha256) if row is not None and row.sha256 else None
    if row is None or content is None:
        raise errors.not_found(f"letter template version {version_id}")
    return _download(content, template_library.version_name(row), DOCX)


def _letter_as(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a route answering a letter as a file and an email as JSON (which FastAPI documents)."""
    return {200: {"description": "a letter as a file; an email as JSON",
                  "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in media_types}}}


@router.get(PURPOSE + "/shipped", responses=_letter_as(DOCX))
async def download_shipped(purpose: str, channel: str, settings: SettingsDep,
                           user: CurrentUser) -> Any:
    """The shipped default: a letter's .docx, or an email's subject, text and HTML."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    _, kind = _purpose_and_channel(purpose, channel)
    try:
        shipped = template_library.shipped(settings.templates_dir, purpose, kind)
    except template_library.TemplateMissing as exc:
        raise errors.not_found(str(exc)) from exc
    if shipped.letter is not None:
        return _download(shipped.letter, f"{purpose}.docx", DOCX)
    return shipped.email


# ---- uploading -------------------------------------------------------------------------------


@router.post("/{purpose}/letter", status_code=status.HTTP_201_CREATED, response_model=TemplateVersionRead)
async def upload_letter(
    purpose: str, session: SessionDep, settings: SettingsDep, user: CurrentUser,
    file: Annotated[UploadFile, File(description="the letter template (.docx)")],
    case_type: Annotated[str | None, Form(description="only for this case type"), Storable] = None,
    note: Annotated[str | None, Form(max_length=2000), Storable] = None,
) -> Any:
    """Upload a new version of a letter template, for all case types or one."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    _purpose_and_channel(purpose, Channel.LETTER.value)
    case_type = await _case_type(session, case_type or None)
    filename = check_filename(safety.safe_filename(file.filename or ""))
    if not filename.lower().endswith(".docx"):
        raise errors.unprocessable("file", "a letter template must be a .docx file")
    content = await file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        raise errors.unprocessable("file", f"file is larger than {settings.max_upload_bytes} bytes")
    try:
        # A .docx by content, and a package within limits, before python-docx opens it.
        await asyncio.to_thread(safety.check_content, ".docx", content)
    except safety.UnsafeFile as exc:
        raise errors.unprocessable("file", str(exc)) from exc
    try:
        await asyncio.to_thread(template_library.check_letter, content, purpose, name=filename)
    except TemplateError as exc:
        raise errors.template_refused("file", exc) from exc
    except Exception as exc:  # python-docx raises several unrelated types for a damaged file
        raise errors.unprocessable("file", f"not a readable .docx file: {exc}") from exc
    row = await template_library.add_version(
        session, version_id=str(uuid.uuid4()), purpose=purpose, channel=Channel.LETTER,
        case_type=case_type, letter=content, filename=filename, note=note,
        uploaded_by=user.display_name, uploaded_by_id=user.id, uploaded_at=datetime.now(timezone.utc))
    await session.commit()
    return _version_read(row)


@router.post("/{purpose}/email", status_code=status.HTTP_201_CREATED, response_model=TemplateVersionRead)
async def upload_email(purpose: str, body: EmailTemplateUpload, session: SessionDep,
                       user: CurrentUser) -> Any:
    """Upload a new version of an email template (subject, plain text and HTML together)."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    _purpose_and_channel(purpose, Channel.EMAIL.value)
    case_type = await _case_type(session, body.case_type)
    parts = {"subject": body.subject, "text": body.text, "html": body.html}
    try:
        template_library.check_email(parts, purpose, name=f"emails/{purpose}")
    except TemplateError as exc:
        part = next((p for p, suffix in (("subject", ".subject.txt"), ("html", ".html"), ("text", ".txt"))
                     if exc.template.endswith(suffix)), "text")
        raise errors.template_refused(part, exc) from exc
    row = await template_library.add_version(
        session, version_id=str(uuid.uuid4()), purpose=purpose, channel=Channel.EMAIL,
        case_type=case_type, email=parts, note=body.note, uploaded_by=user.display_name,
        uploaded_by_id=user.id, uploaded_at=datetime.now(timezone.utc))
    await session.commit()
    return _version_read(row, with_bodies=True)


# ---- preview ---------------------------------------------------------------------------------


@router.post(PURPOSE + "/preview", responses={**_letter_as(DOCX, pdf.PDF), 503: {
    "description": "PDF_RENDERER=libreoffice and LibreOffice did not convert the letter", **RETRY_AFTER}})
async def preview(purpose: str, channel: str, body: TemplatePreviewRequest, request: Request,
                  session: SessionDep, settings: SettingsDep, user: CurrentUser) -> Any:
    """Render a template against a case: the version given, or the one that case would get.

    Case data fills the case, complainant, team and sender placeholders; the rest (questions,
    standard lines, ...) are the reference's samples. A letter comes back as .docx or PDF, an
    email as its subject, text and HTML.
    """
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    _, kind = _purpose_and_channel(purpose, channel)
    context = template_library.sample_context(purpose)
    case_type = None
    if body.case_reference:
        try:  # the case routes' own check: may this user read the case (a missing one is refused alike)
            await authorise_case(request, user, body.case_reference)
        except HTTPException as exc:
            if exc.status_code != status.HTTP_404_NOT_FOUND:
                raise
            raise errors.unprocessable("case_reference", f"no case {body.case_reference}") from exc
        row = await repository.get_case(session, body.case_reference)
        if row is None:
            raise errors.unprocessable("case_reference", f"no case {body.case_reference}")
        case_type = row.case_type
        if "case" in context:
            of_case = await template_library.context_for_case(
                session, row.reference, sender_name=user.display_name, today=case_today(datetime.now(timezone.utc)))
            context.update(of_case or {})
    if body.version_id:
        version = await session.get(TemplateVersion, body.version_id)
        if version is None or (version.purpose, version.channel) != (purpose, channel):
            raise errors.unprocessable("version_id", f"no {purpose} {channel} template version "
                                       f"{body.version_id}")
        template = await template_library.load_version(session, version)
    else:
        try:
            template = await template_library.resolve(session, settings.templates_dir, purpose, kind,
                                                      case_type)
        except template_library.TemplateMissing as exc:
            raise errors.not_found(str(exc)) from exc
    try:
        if kind is Channel.EMAIL:
            rendered = template.render_email(context)
            return EmailPreview(template=template.ref.describe(), subject=rendered.subject,
                                text=rendered.text, html=rendered.html)
        content = await asyncio.to_thread(template.render_letter, context)
    except TemplateError as exc:
        raise errors.template_refused("version_id", exc) from exc
    stem = f"preview-{purpose}"
    if body.format == "pdf":
        try:
            printed = await asyncio.to_thread(printing.printer_for(settings).letter_pdf, content,
                                              title=f"Preview: {purpose}")
        except printing.OfficeError as exc:
            raise errors.printer_unavailable(exc) from exc
        return _download(printed, f"{stem}.pdf", pdf.PDF)
    return _download(content, f"{stem}.docx", DOCX)
