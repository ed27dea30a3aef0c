"""The template library: which letters and emails exist, what they may say, and which one is used.

Every purpose (acknowledgement, clarification request, ...) has a shipped default under
``templates/letters/{purpose}.docx`` and ``templates/emails/{purpose}.{subject.txt,txt,html}``.
Admins upload new versions to the database, globally or for one case type; old versions are kept.
A letter or email is rendered from, in order: the latest version for the case's type, the latest
global version, the shipped file.

``PURPOSES`` holds the placeholder reference: every name a template of a purpose may use, with a
sample value and what it means. Uploads are checked against it (unknown names and syntax errors
are refused with the paragraph or line), and the samples are what a template is test-rendered
with. The README section on templates prints the same reference for people.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import jinja2
import psycopg
from jinja2 import meta, nodes
from psycopg.rows import namedtuple_row
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from casework.cases.contracts import Channel, TemplateRef
from casework.platform.db import TemplateVersion
from casework.documents.store import load_blob, store_blob
from casework.documents.rendering import (
    EMAIL_PARTS,
    RenderedEmail,
    TemplateError,
    letter_sources,
    new_environment,
    render_email_parts,
    render_letter,
)

# ---------------------------------------------------------------------------------------------
# The placeholder reference


@dataclass(frozen=True)
class Placeholder:
    sample: Any
    description: str


Fields = dict[str, Union[Placeholder, "Fields"]]


CASE_FIELDS: Fields = {
    "case": {
        "reference": Placeholder("COMP/000123/26", "the case reference"),
        "type_name": Placeholder("Complaint", "the case type's name"),
        "date_received": Placeholder(date(2026, 1, 5), "when the complaint arrived (a date)"),
        "category": Placeholder("Billing", "the complaint category"),
        "description": Placeholder(
            "I was charged twice for my March bill.", "the complaint as recorded; newlines kept"
        ),
        "channel": Placeholder("email", "how the complaint arrived (phone, email, letter, ...)"),
        "escalated_from": Placeholder(
            "", "for a stage-2 case, the reference of the stage-1 case; otherwise empty"
        ),
    },
    "complainant": {
        "name": Placeholder("Jane Citizen", "the primary complainant's name"),
        "email": Placeholder("jane@example.net", "their email address, or empty"),
        "phone": Placeholder("020 7946 0000", "their phone number, or empty"),
        "address_lines": Placeholder(
            ["1 High Street", "Anytown"], "postal address lines (a list; may be empty)"
        ),
        "postcode": Placeholder("AB1 2CD", "postcode, or empty"),
    },
    "team": {"name": Placeholder("Central Complaints Hub", "the team the case is allocated to")},
    "sender": {"name": Placeholder("Dev Drafter", "the person sending the letter or email")},
    "letter_date": Placeholder(date(2026, 1, 7), "today's date (a date)"),
}

RECIPIENT_FIELDS: Fields = {
    "recipient": {"name": Placeholder("Billing Complaints", "who the message is addressed to")},
}

EXTRA_FIELDS: dict[str, Fields] = {
    "acknowledgement": {},
    "stage2_acknowledgement": {},
    "clarification": {
        "clarification": {
            "questions": Placeholder(
                ["Which account was charged?", "On what date?"],
                "the questions: free text (newlines kept) or a list of questions",
            ),
            "reply_by": Placeholder(date(2026, 1, 21), "the date to reply by (a date)"),
        },
    },
    "contribution": {
        **RECIPIENT_FIELDS,
        "contribution": {
            "request": Placeholder("Was the customer charged twice?", "what is asked for"),
            "due_date": Placeholder(date(2026, 1, 14), "the date the contribution is due (a date)"),
            "team_name": Placeholder("Billing Complaints", "the team asked"),
            "assignee_name": Placeholder("", "the person asked, or empty when the whole team is"),
        },
    },
    "response": {
        "response": {
            "summary": Placeholder(
                "We have refunded the second payment.", "the drafter's own opening text, or empty"
            ),
            "standard_lines": Placeholder(
                [{"topic": "Refunds", "category": "Billing",
                  "text": "Refunds are paid within 5 working days."}],
                "the standard lines chosen by the drafter: a list of {topic, category, text}; "
                "empty when sending the covering email",
            ),
        },
    },
    "holding_response": {
        "holding": {
            "reason": Placeholder("We are waiting for information from another team.",
                                  "why the response is delayed"),
            "new_due_date": Placeholder(date(2026, 2, 16), "when the response is now due (a date)"),
        },
    },
}

# Purposes that are not about one complaint: they get their own context, not CASE_FIELDS.
# The digest context is what casework.digests.subscriptions.build_digest renders.
DIGEST_FIELDS: Fields = {
    **RECIPIENT_FIELDS,
    "team": {"code": Placeholder("CENTRAL", "the team's code"),
             "name": Placeholder("Central Complaints Hub", "the team the digest is about")},
    "digest": {
        "date": Placeholder(date(2026, 1, 12), "the digest's date in its time zone (a date)"),
        "schedule": Placeholder("daily at 08:00 Europe/London", "when the digest is sent, in words"),
        "case_type": Placeholder("", "the only case type included, or empty for all"),
        "owner": Placeholder("Cora Coordinator", "who set the digest up"),
        "unsubscribe_url": Placeholder("https://casework.example.org/digests/unsubscribe?token=x",
                                       "the signed unsubscribe link"),
    },
    "stats": {
        "code": Placeholder("CENTRAL", "the team's code"),
        "name": Placeholder("Central Complaints Hub", "the team's name"),
        "open": Placeholder(12, "open cases"),
        "unallocated": Placeholder(2, "open cases with the team but nobody assigned"),
        "overdue": Placeholder(1, "open cases past their deadline"),
        "due_soon": Placeholder(4, "open cases due within 5 working days"),
        "due_soon_until": Placeholder(date(2026, 1, 19), "the end of that window (a date)"),
        "by_stage": Placeholder([{"stage": "draft", "label": "Draft response", "open": 5}],
                                "open cases per stage: a list of {stage, label, open}"),
        "members": Placeholder(
            [{"username": "drafter", "display_name": "Dev Drafter", "member": True, "open": 3,
              "overdue": 1}],
            "per person: a list of {username, display_name, member, open, overdue}"),
    },
    "cases": Placeholder(
        [{"reference": "COMP/000123/26", "complainant_name": "Jane Citizen", "case_type": "COMP",
          "stage": "draft", "stage_label": "Draft response", "team": "CENTRAL",
          "assignee_name": "Dev Drafter", "date_received": date(2026, 1, 5),
          "deadline": date(2026, 2, 2), "overdue": False, "status": "open"}],
        "the first 50 open cases, by deadline: a list of {reference, complainant_name, case_type, "
        "stage, stage_label, team, assignee_name, date_received, deadline, overdue, status}",
    ),
    "total_cases": Placeholder(12, "how many open cases the team has"),
    "more": Placeholder(0, "how many are in the attachment but not listed in the email"),
    "attachment_name": Placeholder("CENTRAL-open-cases-2026-01-12.xlsx", "the attached case list"),
}

RETURN_DECISION_FIELDS: Fields = {
    **RECIPIENT_FIELDS,
    "sender": {"name": Placeholder("Mo Manager", "who decided")},
    "lead": {
        "reference": Placeholder("LEAD-4711", "the lead's reference"),
        "name": Placeholder("Jane Citizen", "the lead's name"),
    },
    "return_request": {
        "reason": Placeholder("Duplicate lead", "the return reason (or the partner's own words)"),
        "decision": Placeholder("accepted", "accepted or declined"),
        "notes": Placeholder("Lead already supplied in December.", "the decision notes, or empty"),
        "decided_on": Placeholder(date(2026, 1, 9), "the decision date (a date)"),
    },
}


@dataclass(frozen=True)
class Purpose:
    key: str
    label: str
    channels: tuple[Channel, ...]
    fields: Fields


BOTH = (Channel.LETTER, Channel.EMAIL)

PURPOSES: dict[str, Purpose] = {
    p.key: p
    for p in (
        Purpose("acknowledgement", "Acknowledgement", BOTH, {**CASE_FIELDS}),
        Purpose("clarification", "Clarification request", BOTH,
                {**CASE_FIELDS, **EXTRA_FIELDS["clarification"]}),
        Purpose("contribution", "Contribution request", BOTH,
                {**CASE_FIELDS, **EXTRA_FIELDS["contribution"]}),
        Purpose("response", "Response", BOTH, {**CASE_FIELDS, **EXTRA_FIELDS["response"]}),
        Purpose("holding_response", "Holding response", BOTH,
                {**CASE_FIELDS, **EXTRA_FIELDS["holding_response"]}),
        Purpose("stage2_acknowledgement", "Stage 2 acknowledgement", BOTH, {**CASE_FIELDS}),
        Purpose("digest", "Digest", (Channel.EMAIL,), DIGEST_FIELDS),
        Purpose("return_decision", "Lead return decision", (Channel.EMAIL,), RETURN_DECISION_FIELDS),
    )
}


def sample_context(purpose: str) -> dict[str, Any]:
    """The context a template of ``purpose`` is test-rendered with: every placeholder's sample."""
    return copy.deepcopy(_samples(PURPOSES[purpose].fields))


def _samples(fields: Fields) -> dict[str, Any]:
    return {
        name: value.sample if isinstance(value, Placeholder) else _samples(value)
        for name, value in fields.items()
    }


def placeholder_names(purpose: str) -> list[str]:
    """Every dotted placeholder name of a purpose, e.g. ``case.reference``."""
    return list(_names(PURPOSES[purpose].fields, ""))


def _names(fields: Fields, prefix: str) -> Iterable[str]:
    for name, value in fields.items():
        if isinstance(value, Placeholder):
            yield prefix + name
        else:
            yield from _names(value, f"{prefix}{name}.")


# ---------------------------------------------------------------------------------------------
# Contexts built from a case


def case_context(
    *,
    reference: str,
    type_name: str,
    date_received: date,
    category: str,
    description: str,
    channel: str,
    escalated_from: str | None,
    complainant: Any,
    team_name: str | None,
    sender_name: str,
    letter_date: date,
) -> dict[str, Any]:
    """CASE_FIELDS filled from a case; ``complainant`` is anything with the correspondent fields."""
    return {
        "case": {
            "reference": reference,
            "type_name": type_name,
            "date_received": date_received,
            "category": category,
            "description": description,
            "channel": channel,
            "escalated_from": escalated_from or "",
        },
        "complainant": {
            "name": complainant.name,
            "email": complainant.email or "",
            "phone": complainant.phone or "",
            "address_lines": list(complainant.address_lines or []),
            "postcode": complainant.postcode or "",
        },
        "team": {"name": team_name or "Complaints Team"},
        "sender": {"name": sender_name},
        "letter_date": letter_date,
    }


async def context_for_case(session: AsyncSession, reference: str, *, sender_name: str,
                           today: date) -> dict[str, Any] | None:
    """CASE_FIELDS from the case as PostgreSQL holds it (for previews and generated drafts)."""
    from casework.cases import repository

    row = await repository.get_case(session, reference)
    if row is None:
        return None
    case_type = await repository.get_case_type(session, row.case_type)
    people = (await repository.case_children(session, reference))["correspondents"]
    team = await repository.get_team(session, row.team) if row.team else None
    return case_context(
        reference=row.reference, type_name=case_type.name, date_received=row.date_received,
        category=row.category, description=row.description, channel=row.channel,
        escalated_from=row.escalated_from, complainant=people[0],  # primary first
        team_name=team.name if team else None, sender_name=sender_name, letter_date=today,
    )


# What a purpose's extra values are when the caller gives none (e.g. the covering email of a
# response carries no standard lines: they are in the attached document).
PURPOSE_DEFAULTS: dict[str, dict[str, Any]] = {
    "response": {"response": {"summary": "", "standard_lines": []}},
}


def with_purpose_values(purpose: str, context: dict[str, Any],
                        extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(context)
    for key, default in PURPOSE_DEFAULTS.get(purpose, {}).items():
        merged[key] = {**default, **(extra.get(key) or {})}
    for key, value in extra.items():
        merged.setdefault(key, value)
    return merged


# ---------------------------------------------------------------------------------------------
# Checking a template before it is accepted


_UNSUPPORTED = (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)


def check_source(source: str, fields: Fields, *, template: str, paragraph: int | None = None) -> None:
    """Refuse a syntax error or an unknown placeholder, naming where it is.

    Names are checked statically, so an unknown name inside a branch the sample context would not
    take (``{% if false %}{{ case.typo }}{% endif %}``) is found too. Loop variables and
    ``{% set %}`` names are the template's own and are left to the test render.
    """
    environment = new_environment(autoescape=False)

    def refuse(message: str, line: int | None, placeholder: str | None = None) -> TemplateError:
        # Within a letter paragraph the line is nearly always 1: the paragraph says where.
        return TemplateError(template, message, paragraph=paragraph,
                             line=None if paragraph is not None else line, placeholder=placeholder)

    try:
        tree = environment.parse(source)
        environment.compile(source)  # unknown filters and tests are compile-time errors
    except jinja2.TemplateSyntaxError as exc:
        raise refuse(exc.message or str(exc), exc.lineno) from exc
    for node in tree.find_all(_UNSUPPORTED):
        raise refuse("include, extends and import are not available in templates", node.lineno)
    free = meta.find_undeclared_variables(tree)
    problems: list[tuple[int, str]] = []
    for node in tree.find_all(nodes.Name):
        if (node.ctx == "load" and node.name in free and node.name not in fields
                and node.name not in environment.globals):
            problems.append((node.lineno, node.name))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        path = _dotted(node)
        if path and path[0] in free and path[0] in fields:
            unknown = _unknown_part(path, fields)
            if unknown:
                problems.append((node.lineno, unknown))
    if problems:
        line, name = min(problems)
        raise refuse(f"unknown placeholder '{name}'", line, placeholder=name)


def _dotted(node: nodes.Node) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
        else:
            return None  # a computed key: only the test render can tell
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    parts.append(node.name)
    return parts[::-1]


def _unknown_part(path: list[str], fields: Fields) -> str | None:
    current: Any = fields
    for depth, part in enumerate(path):
        if isinstance(current, Placeholder):
            return None  # an attribute of a value (a str method, a date's year): not ours to judge
        if part not in current:
            return ".".join(path[: depth + 1])
        current = current[part]
    return None


def check_letter(content: bytes, purpose: str, *, name: str) -> None:
    """Refuse a .docx template that has a syntax error or unknown placeholder, or will not render."""
    fields = PURPOSES[purpose].fields
    for where, number, source in letter_sources(content, name=name):
        check_source(source, fields, template=where, paragraph=number)
    render_letter(content, sample_context(purpose), name=name)


def check_email(parts: Mapping[str, str], purpose: str, *, name: str) -> None:
    fields = PURPOSES[purpose].fields
    for part, suffix in EMAIL_PARTS.items():
        check_source(parts[part], fields, template=f"{name}{suffix}")
    render_email_parts(parts, sample_context(purpose), name=name)


# ---------------------------------------------------------------------------------------------
# Which template is used


class TemplateMissing(LookupError):
    pass


@dataclass
class ResolvedTemplate:
    ref: TemplateRef
    name: str  # what errors call it
    letter: bytes | None = None
    email: dict[str, str] | None = field(default=None)

    def render_letter(self, context: Mapping[str, Any]) -> bytes:
        assert self.letter is not None
        return render_letter(self.letter, context, name=self.name)

    def render_email(self, context: Mapping[str, Any]) -> RenderedEmail:
        assert self.email is not None
        return render_email_parts(self.email, context, name=self.name)


def shipped_paths(templates_dir: Path, purpose: str, channel: Channel) -> dict[str, Path]:
    if channel is Channel.LETTER:
        return {"letter": templates_dir / "letters" / f"{purpose}.docx"}
    return {part: templates_dir / "emails" / f"{purpose}{suffix}" for part, suffix in EMAIL_PARTS.items()}


def version_name(row: Any) -> str:
    scope = row.case_type or "all"
    base = f"{row.purpose}-v{row.version}-{scope}"
    return f"{base}.docx" if row.channel == Channel.LETTER.value else f"emails/{base}"


# Every letter and email resolves its template, so this is one statement, the letter's bytes
# included, that the worker runs prepared (see resolve_on). With no case type, the comparison with
# NULL matches nothing, leaving the global versions.
_LATEST_VERSION = (
    "SELECT v.id, v.purpose, v.channel, v.case_type, v.version, v.subject, v.text_body, v.html_body,"
    " b.content FROM template_version v LEFT JOIN document_blob b ON b.sha256 = v.sha256"
    " WHERE v.purpose = %(purpose)s AND v.channel = %(channel)s"
    " AND (v.case_type IS NULL OR v.case_type = %(case_type)s)"
    " ORDER BY v.case_type IS NULL, v.version DESC LIMIT 1"
)


def _latest_parameters(purpose: str, channel: Channel, case_type: str | None) -> dict[str, Any]:
    return {"purpose": purpose, "channel": channel.value, "case_type": case_type or None}


async def resolve(session: AsyncSession, templates_dir: Path, purpose: str, channel: Channel,
                  case_type: str | None) -> ResolvedTemplate:
    """The latest version for the case type, else the latest global version, else the shipped file."""
    result = await (await session.connection()).exec_driver_sql(
        _LATEST_VERSION, _latest_parameters(purpose, channel, case_type))
    return _resolved(result.first(), templates_dir, purpose, channel)


async def resolve_on(conn: psycopg.AsyncConnection, templates_dir: Path, purpose: str, channel: Channel,
                     case_type: str | None) -> ResolvedTemplate:
    """`resolve` on a psycopg connection (``casework.platform.db.driver_connection``), prepared."""
    async with conn.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(_LATEST_VERSION, _latest_parameters(purpose, channel, case_type), prepare=True)
        return _resolved(await cursor.fetchone(), templates_dir, purpose, channel)


def _resolved(row: Any, templates_dir: Path, purpose: str, channel: Channel) -> ResolvedTemplate:
    """The template `_LATEST_VERSION` found (`row`), or the shipped one if it found none."""
    if row is None:
        return shipped(templates_dir, purpose, channel)
    return _version(row, row.content)


def shipped(templates_dir: Path, purpose: str, channel: Channel) -> ResolvedTemplate:
    ref = TemplateRef(purpose=purpose, channel=channel, source="shipped")
    paths = shipped_paths(templates_dir, purpose, channel)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise TemplateMissing(f"no {purpose} {channel.value} template: {', '.join(missing)} missing")
    if channel is Channel.LETTER:
        return ResolvedTemplate(ref, paths["letter"].name, letter=paths["letter"].read_bytes())
    return ResolvedTemplate(ref, f"emails/{purpose}",
                            email={part: path.read_text("utf-8") for part, path in paths.items()})


async def load_version(session: AsyncSession, row: TemplateVersion) -> ResolvedTemplate:
    content = await load_blob(session, row.sha256) if row.channel == Channel.LETTER.value else None
    return _version(row, content)


def _version(row: Any, letter: bytes | None) -> ResolvedTemplate:
    """A stored version (a TemplateVersion or a row of its columns) with its letter's bytes."""
    ref, name = version_ref(row), version_name(row)
    if row.channel == Channel.LETTER.value:
        if letter is None:
            raise TemplateMissing(f"template version {row.id} has lost its file")
        return ResolvedTemplate(ref, name, letter=bytes(letter))
    return ResolvedTemplate(ref, name, email={"subject": row.subject, "text": row.text_body, "html": row.html_body})


def version_ref(row: Any) -> TemplateRef:
    return TemplateRef(purpose=row.purpose, channel=Channel(row.channel), source="library",
                       version_id=row.id, version=row.version, case_type=row.case_type)


async def add_version(
    session: AsyncSession, *, version_id: str, purpose: str, channel: Channel,
    case_type: str | None, uploaded_by: str, uploaded_by_id: int, uploaded_at: Any,
    letter: bytes | None = None, filename: str | None = None,
    email: Mapping[str, str] | None = None, note: str | None = None,
) -> TemplateVersion:
    """Store a checked template as the next version in its scope. The caller commits."""
    scope_key = f"template:{purpose}:{channel.value}:{case_type or ''}"
    # Serialise uploads to one scope so version numbers have no gaps or duplicates.
    await session.execute(text("select pg_advisory_xact_lock(hashtext(:key))"), {"key": scope_key})
    latest = await session.scalar(
        select(func.max(TemplateVersion.version)).where(
            TemplateVersion.purpose == purpose,
            TemplateVersion.channel == channel.value,
            TemplateVersion.case_type.is_(None) if case_type is None
            else TemplateVersion.case_type == case_type,
        )
    )
    row = TemplateVersion(
        id=version_id, purpose=purpose, channel=channel.value, case_type=case_type,
        version=(latest or 0) + 1, note=note, uploaded_by=uploaded_by,
        uploaded_by_id=uploaded_by_id, uploaded_at=uploaded_at,
    )
    if letter is not None:
        row.sha256 = await store_blob(session, letter)
        row.filename = filename
    if email is not None:
        row.subject, row.text_body, row.html_body = email["subject"], email["text"], email["html"]
    session.add(row)
    await session.flush()
    return row
