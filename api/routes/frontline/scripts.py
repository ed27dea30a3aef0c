"""The frontline call script as an administrator-edited template of the template library: the
brand, the follow-up script and, per contact channel, the acknowledgement, apology and next steps
(casework/documents/call_scripts.py). A new version applies to new contacts; a case keeps what it
was told."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api import errors
from api.deps import CurrentUser, SessionDep, SettingsDep, require_permission
from api.routes.templates import MANAGE_TEMPLATES
from api.schemas.frontline import CallScriptTemplateRead, CallScriptUpload
from casework.cases import limits, repository
from casework.documents import call_scripts, template_library
from casework.documents.rendering import TemplateError

router = APIRouter(prefix="/admin/templates/frontline-script", tags=["template library"])
CaseTypeQuery = Annotated[str | None, Query(max_length=limits.CODE, description="for this case type")]


def _read(script: call_scripts.ScriptTemplate) -> CallScriptTemplateRead:
    return CallScriptTemplateRead(
        source="library" if script.source == "library" else "shipped", description=script.describe(),
        version_id=script.version_id, version=script.version, case_type=script.case_type, note=script.note,
        uploaded_by=script.uploaded_by, uploaded_at=script.uploaded_at, brand=script.brand,
        follow_up=script.follow_up, placeholders=script.placeholders,
        **{channel: script.channels[channel] for channel in call_scripts.CONTACT_CHANNELS})


async def _known_case_type(session: SessionDep, code: str | None, location: str = "query") -> str | None:
    if code and await repository.get_case_type(session, code) is None:
        raise errors.unprocessable("case_type", f"unknown case type '{code}'", location=location)
    return code or None


@router.get("", response_model=CallScriptTemplateRead)
async def call_script_in_use(session: SessionDep, settings: SettingsDep, user: CurrentUser,
                             case_type: CaseTypeQuery = None) -> Any:
    """The call script new contacts get (for a case type): the latest version for it, else the
    latest for all case types, else the shipped default; with its placeholders."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    code = await _known_case_type(session, case_type)
    return _read(await call_scripts.in_use(session, settings.templates_dir, settings.frontline_brand,
                                           code or settings.frontline_case_type))


@router.get("/versions", response_model=list[CallScriptTemplateRead])
async def call_script_versions(session: SessionDep, user: CurrentUser, case_type: CaseTypeQuery = None) -> Any:
    """Every version, newest first: who added it and when. Filter by case type."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    return [_read(script) for script in await call_scripts.versions(session, case_type)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CallScriptTemplateRead)
async def upload_call_script(body: CallScriptUpload, session: SessionDep, user: CurrentUser) -> Any:
    """Add a new version of the call script, for all case types or one. Every text is checked
    against the placeholders (422 naming the text, e.g. `phone.apology`, and the unknown name) and
    test-rendered before it is stored. New contacts get it at once; cases keep what they were told."""
    require_permission(user, MANAGE_TEMPLATES, "managing templates")
    code = await _known_case_type(session, body.case_type, location="body")
    script = call_scripts.ScriptTemplate(
        brand=body.brand, follow_up=body.follow_up,
        channels={channel: getattr(body, channel).model_dump() for channel in call_scripts.CONTACT_CHANNELS})
    try:
        call_scripts.check(script)
    except TemplateError as exc:
        raise errors.template_refused(call_scripts.part_of(exc), exc) from exc
    row = await template_library.add_version(
        session, version_id=str(uuid.uuid4()), purpose=call_scripts.PURPOSE, channel=call_scripts.MEDIUM,
        case_type=code, parts=script.parts(), note=body.note, uploaded_by=user.display_name,
        uploaded_by_id=user.id, uploaded_at=datetime.now(timezone.utc))
    await session.commit()
    return _read(call_scripts.from_row(row))
