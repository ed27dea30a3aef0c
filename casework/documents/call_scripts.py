"""Call scripts: what a frontline agent says to a complainant, kept in the template library.

A script version is one row of the library (`template_version`, purpose `frontline_script`,
channel `script`) holding named texts in `parts`: the brand, the follow-up call script, and per
contact channel (phone, live chat, email) the acknowledgement, the apology and the next steps.
Like letters and emails, an administrator adds versions, globally or for one case type; the one in
use is the latest for the case's type, else the latest global one, else the shipped file
(`templates/scripts/frontline_script.json`, whose brand is FRONTLINE_BRAND). Uploads are checked
against `SCRIPT_FIELDS` (unknown names and syntax errors refused, naming the part), then
test-rendered with the samples.

Intake renders the script in use for the contact's channel with the case's values, and the case
keeps what was rendered: a later version changes what new contacts hear, never an earlier case's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casework.documents.rendering import TemplateError, new_environment
from casework.documents.template_library import Fields, Placeholder, check_source, field_names, field_samples
from casework.platform.db import TemplateVersion

PURPOSE = "frontline_script"
MEDIUM = "script"  # the library's channel for a template of named texts
CONTACT_CHANNELS = ("phone", "live_chat", "email")
CONTACT_PARTS = ("acknowledgement", "apology", "next_steps")
# The follow-up is rendered at intake with this for the agent: the workflow fills in whoever
# follows up when it promises the follow-up (workflows/frontline/workflow.py follow_up_script).
AGENT_TO_FILL = "[AGENT NAME]"

SCRIPT_FIELDS: Fields = {
    "brand": Placeholder("Casework", "the brand the agent speaks for (the script's own brand)"),
    "agent": {"name": Placeholder("Hana Handler", "the agent speaking: who takes the contact; in the follow-up, "
                                                  "who follows up")},
    "complainant": {"name": Placeholder("Alex Caller", "the complainant's name")},
    "case": {
        "reference": Placeholder("FRONT/000123/26", "the case reference"),
        "issue": Placeholder("Broadband", "what the complaint is about"),
        "channel": Placeholder("phone", "how this contact came in: phone, live_chat or email"),
        "received_on": Placeholder(date(2026, 1, 5), "when the complaint arrived (a date)"),
        "owner": Placeholder("Hana Handler", "the case owner's name, or empty while nobody owns it"),
        "resolution": Placeholder("", "how it was resolved in this interaction, or empty"),
    },
}


@dataclass
class ScriptTemplate:
    """The texts of one version (or of the shipped file)."""

    brand: str
    follow_up: str
    channels: dict[str, dict[str, str]]
    source: str = "shipped"  # "library" | "shipped"
    version_id: str | None = None
    version: int | None = None
    case_type: str | None = None
    note: str | None = None
    uploaded_by: str | None = None
    uploaded_at: datetime | None = None
    placeholders: list[str] = field(default_factory=lambda: field_names(SCRIPT_FIELDS))

    def describe(self) -> str:
        if self.source != "library":
            return f"{PURPOSE} (shipped default)"
        return f"{PURPOSE} v{self.version} for {self.case_type or 'all case types'}"

    def parts(self) -> dict[str, Any]:
        return {"brand": self.brand, "follow_up": self.follow_up, "channels": self.channels}


@dataclass(frozen=True)
class RenderedScript:
    brand: str
    follow_up: str
    acknowledgement: str
    apology: str
    next_steps: str


def shipped(templates_dir: Path, default_brand: str) -> ScriptTemplate:
    data = json.loads((templates_dir / "scripts" / f"{PURPOSE}.json").read_text("utf-8"))
    return ScriptTemplate(brand=data["brand"] or default_brand, follow_up=data["follow_up"],
                          channels=data["channels"])


def from_row(row: TemplateVersion) -> ScriptTemplate:
    parts = row.parts or {}
    return ScriptTemplate(brand=parts["brand"], follow_up=parts["follow_up"], channels=parts["channels"],
                          source="library", version_id=row.id, version=row.version, case_type=row.case_type,
                          note=row.note, uploaded_by=row.uploaded_by, uploaded_at=row.uploaded_at)


async def in_use(session: AsyncSession, templates_dir: Path, default_brand: str,
                 case_type: str | None) -> ScriptTemplate:
    """The latest version for the case type, else the latest global one, else the shipped file."""
    row = await session.scalar(
        select(TemplateVersion)
        .where(TemplateVersion.purpose == PURPOSE, TemplateVersion.channel == MEDIUM,
               (TemplateVersion.case_type.is_(None) | (TemplateVersion.case_type == case_type)) if case_type
               else TemplateVersion.case_type.is_(None))
        .order_by(TemplateVersion.case_type.is_(None), TemplateVersion.version.desc()).limit(1))
    return from_row(row) if row is not None else shipped(templates_dir, default_brand)


async def versions(session: AsyncSession, case_type: str | None) -> list[ScriptTemplate]:
    stmt = (select(TemplateVersion).where(TemplateVersion.purpose == PURPOSE, TemplateVersion.channel == MEDIUM)
            .order_by(TemplateVersion.uploaded_at.desc(), TemplateVersion.version.desc()))
    if case_type:
        stmt = stmt.where(TemplateVersion.case_type == case_type)
    return [from_row(row) for row in (await session.scalars(stmt)).all()]


def _sources(script: ScriptTemplate) -> list[tuple[str, str, str]]:
    """(field, name, text) of every text but the brand, which is plain text."""
    found = [("follow_up", f"{PURPOSE}/follow_up", script.follow_up)]
    for channel in CONTACT_CHANNELS:
        for part in CONTACT_PARTS:
            found.append((f"{channel}.{part}", f"{PURPOSE}/{channel}/{part}", script.channels[channel][part]))
    return found


_ENVIRONMENT = new_environment(autoescape=False)  # spoken or typed text, not HTML


@lru_cache(maxsize=256)
def _compiled(source: str) -> jinja2.Template:
    # Compiling is far slower than rendering, and every contact renders the same few texts.
    return _ENVIRONMENT.from_string(source)


def _render(name: str, source: str, context: Mapping[str, Any]) -> str:
    try:
        return " ".join(_compiled(source).render(context).split())
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(name, exc.message or str(exc), line=exc.lineno) from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(name, str(exc)) from exc


def check(script: ScriptTemplate) -> None:
    """Refuse a syntax error or an unknown placeholder in any text, naming it (TemplateError.template
    names the part, e.g. frontline_script/phone/apology), then test-render every text with the samples."""
    samples = {**field_samples(SCRIPT_FIELDS), "brand": script.brand}
    for _, name, source in _sources(script):
        check_source(source, SCRIPT_FIELDS, template=name)
        _render(name, source, samples)


def part_of(error: TemplateError) -> str:
    """The request field a refused text came from: `follow_up` or `phone.apology`, say."""
    return error.template.removeprefix(f"{PURPOSE}/").replace("/", ".")


def render(script: ScriptTemplate, channel: str, *, agent: str, complainant: str, reference: str, issue: str,
           received_on: date, owner: str | None, resolution: str | None) -> RenderedScript:
    """The script for one contact, with the case's values filled in."""
    context = {"brand": script.brand, "agent": {"name": agent}, "complainant": {"name": complainant},
               "case": {"reference": reference, "issue": issue, "channel": channel, "received_on": received_on,
                        "owner": owner or "", "resolution": resolution or ""}}
    texts = script.channels[channel]
    return RenderedScript(
        brand=script.brand,
        follow_up=_render(f"{PURPOSE}/follow_up", script.follow_up,
                          {**context, "agent": {"name": AGENT_TO_FILL}}),
        **{part: _render(f"{PURPOSE}/{channel}/{part}", texts[part], context) for part in CONTACT_PARTS})
