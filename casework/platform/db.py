"""PostgreSQL schema (SQLAlchemy 2.0) and engine/session factories.

The schema is created by Alembic migrations (casework/migrations), never by `create_all`.
Case tables are a projection written only by workflow activities; the API reads them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, cast
from weakref import WeakKeyDictionary

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    Time,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from casework.cases import limits
from casework.platform.config import to_sqlalchemy_url


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB}


class AppUser(Base):
    """A person who signs in with API tokens (casework.people.models.ApiToken) or with the
    organisation's identity provider (casework.people.sso)."""

    __tablename__ = "app_user"
    __allow_unmapped__ = True  # for `permissions`, which is no column
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Single sign-on: the identity provider's `sub` for this person, and when they first signed in so.
    external_subject: Mapped[str | None] = mapped_column(String(limits.EXTERNAL_SUBJECT), unique=True)
    first_sso_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The named permissions the user holds (casework.people.permissions.effective), worked out
    # when they authenticate (api.deps.get_current_user); empty on a user loaded otherwise.
    permissions: frozenset[str] = frozenset()


class Team(Base):
    __tablename__ = "team"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class TeamMember(Base):
    __tablename__ = "team_member"
    team_code: Mapped[str] = mapped_column(ForeignKey("team.code"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)


class CaseType(Base):
    __tablename__ = "case_type"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The kind of case this is a type of (casework.kinds.KINDS): its rules, workflow and routes.
    kind: Mapped[str] = mapped_column(String(40), default="complaint", server_default="complaint")
    name: Mapped[str] = mapped_column(String(200))
    reference_prefix: Mapped[str] = mapped_column(String(10), unique=True)
    stages: Mapped[list[Any]] = mapped_column(JSONB)
    outcome_options: Mapped[list[Any]] = mapped_column(JSONB)
    close_reasons: Mapped[list[Any]] = mapped_column(JSONB)
    escalation_type: Mapped[str | None] = mapped_column(ForeignKey("case_type.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # casework.calendar.policies.DeadlinePolicy data; NULL means the default preset (UK public sector).
    deadline_policy: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The team a new case of the type is routed to on registration (None: the triage queue).
    default_team: Mapped[str | None] = mapped_column(ForeignKey("team.code"))


class CalendarClosure(Base):
    """An extra closed day (office closure, or a bank holiday the `holidays` package lacks) in a region."""

    __tablename__ = "calendar_closure"
    region: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # closure | bank_holiday
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReferenceCounter(Base):
    __tablename__ = "reference_counter"
    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class CaseRegistration(Base):
    """Reserves a reference for an Idempotency-Key, so a retried registration starts one case."""

    __tablename__ = "case_registration"
    idempotency_key: Mapped[str] = mapped_column(String(limits.IDEMPOTENCY_KEY), primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Escalation(Base):
    """One stage-2 case per closed case; the reservation makes escalation idempotent."""

    __tablename__ = "escalation"
    original_reference: Mapped[str] = mapped_column(String(40), primary_key=True)
    escalated_reference: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def table_of(model: type[Base]) -> Table:
    """A mapped class's table (SQLAlchemy types `__table__` as any FROM clause)."""
    return cast(Table, model.__table__)


class CaseRecord(Base):
    """The core row of a case of any kind (see casework.cases.contracts.CaseCore); the channel,
    category, severity and description columns are complaint casework's, empty for other kinds."""

    __tablename__ = "case_record"
    reference: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), default="complaint", server_default="complaint")
    case_type: Mapped[str] = mapped_column(ForeignKey("case_type.code"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(40))
    stage_label: Mapped[str] = mapped_column(String(100))
    team: Mapped[str | None] = mapped_column(String(40))
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    assignee_name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(limits.CODE))
    category: Mapped[str | None] = mapped_column(String(limits.CATEGORY))
    severity: Mapped[str | None] = mapped_column(String(limits.CODE))
    description: Mapped[str | None] = mapped_column(Text)
    date_received: Mapped[date] = mapped_column(Date)
    complainant_name: Mapped[str] = mapped_column(String(limits.NAME))
    submitted_draft_id: Mapped[str | None] = mapped_column(String(36))
    drafted_by_id: Mapped[int | None] = mapped_column(Integer)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    sent_channel: Mapped[str | None] = mapped_column(String(20))
    sent_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(limits.CATEGORY))
    outcome_detail: Mapped[str | None] = mapped_column(Text)
    redress_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    close_reason: Mapped[str | None] = mapped_column(String(limits.CATEGORY))
    close_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registered_by: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    escalated_from: Mapped[str | None] = mapped_column(String(40))
    escalated_to: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The response clock (NULL deadline: a case registered before clocks existed).
    deadline: Mapped[date | None] = mapped_column(Date)
    deadline_warning_on: Mapped[date | None] = mapped_column(Date)
    acknowledgement_due: Mapped[date | None] = mapped_column(Date)
    deadline_policy: Mapped[str | None] = mapped_column(String(200))
    calendar_region: Mapped[str | None] = mapped_column(String(40))
    deadline_explanation: Mapped[str | None] = mapped_column(Text)
    deadline_warned: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    overdue: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    overdue_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_to_manager: Mapped[str | None] = mapped_column(String(200))
    clock_paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    deadline_met: Mapped[bool | None] = mapped_column(Boolean)
    stage_deadlines: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    clock_pauses: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")
    deadline_extensions: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")
    # Emails whose delivery was not confirmed (casework.cases.contracts.UnconfirmedDelivery).
    unconfirmed_deliveries: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")
    # A kind's own fields (CaseCore.kind_details()): a new kind keeps them here, not in columns of its own.
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")

    __table_args__ = (
        Index("ix_case_record_status_overdue", "status", "overdue"),
        Index("ix_case_record_kind_status", "kind", "status"),
        Index("ix_case_record_details", "details", postgresql_using="gin",
              postgresql_ops={"details": "jsonb_path_ops"}),
        Index("ix_case_record_unconfirmed_deliveries", "team",
              postgresql_where=text("unconfirmed_deliveries <> '[]'::jsonb")),
        Index("ix_case_record_team_status", "team", "status"),
        Index("ix_case_record_assignee_status", "assignee_id", "status"),
        Index("ix_case_record_stage", "stage"),
        Index("ix_case_record_type_status", "case_type", "status"),
        # Sort orders of the case search, each with the reference as its tie-break, so keyset
        # pagination walks an index in either direction.
        Index("ix_case_record_received_ref", "date_received", "reference"),
        Index("ix_case_record_deadline_ref", "deadline", "reference"),
        Index("ix_case_record_complainant_ref", "complainant_name", "reference"),
        # Reference prefix search (LIKE 'COMP/0001%') whatever the database collation.
        Index("ix_case_record_reference_pattern", "reference",
              postgresql_ops={"reference": "varchar_pattern_ops"}),
        # Partial names, case-insensitive (ILIKE '%smi%'). Without fastupdate, new rows go straight
        # into the index rather than a pending list that every search scans until the next vacuum.
        Index("ix_case_record_complainant_trgm", "complainant_name", postgresql_using="gin",
              postgresql_ops={"complainant_name": "gin_trgm_ops"},
              postgresql_with={"fastupdate": "off"}),
        # Overdue = flagged overdue, or open with a deadline in the past: one small index per half.
        Index("ix_case_record_flagged_overdue", "reference", postgresql_where=text("overdue")),
        Index("ix_case_record_open_deadline", "deadline",
              postgresql_where=text("status = 'open'")),
        # A team's open cases by deadline.
        Index("ix_case_record_open_team_deadline", "team", "deadline",
              postgresql_where=text("status = 'open'")),
        # Overdue cases in date-received order, a team's or all, each way of being overdue apart
        # (casework.reporting.search.overdue_ways): walked in the page's order, stopping when full.
        # The deadline in the second way's lets the walk test "deadline passed" without the row.
        Index("ix_case_record_team_overdue_received", "team", "date_received", "reference",
              postgresql_where=text("overdue")),
        Index("ix_case_record_team_late_received", "team", "date_received", "reference", "deadline",
              postgresql_where=text("status = 'open' AND deadline_met IS NULL AND NOT overdue")),
        Index("ix_case_record_overdue_received", "date_received", "reference",
              postgresql_where=text("overdue")),
        Index("ix_case_record_late_received", "date_received", "reference", "deadline",
              postgresql_where=text("status = 'open' AND deadline_met IS NULL AND NOT overdue")),
    )


class CaseCorrespondent(Base):
    __tablename__ = "case_correspondent"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str] = mapped_column(ForeignKey("case_record.reference"), index=True)
    relationship: Mapped[str] = mapped_column(String(limits.CODE))
    is_primary: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(limits.NAME))
    email: Mapped[str | None] = mapped_column(String(limits.EMAIL))
    phone: Mapped[str | None] = mapped_column(String(limits.PHONE))
    address_lines: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    postcode: Mapped[str | None] = mapped_column(String(limits.POSTCODE))
    external_reference: Mapped[str | None] = mapped_column(String(limits.EXTERNAL_REFERENCE))
    authority_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    authority_received_on: Mapped[date | None] = mapped_column(Date)
    authority_document_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (
        # A correspondent by the exact name a part of a name found in correspondent_name.
        Index("ix_case_correspondent_name", "name", "case_reference"),
        Index("ix_case_correspondent_email_lower", text("lower(email)")),
        Index("ix_case_correspondent_phone_digits", text("regexp_replace(phone, '[^0-9]', '', 'g')")),
        Index("ix_case_correspondent_postcode", "postcode",
              postgresql_ops={"postcode": "varchar_pattern_ops"}),
        Index("ix_case_correspondent_external_reference", "external_reference"),
    )


class CorrespondentName(Base):
    """Every name a correspondent has had, once (a trigger on case_correspondent adds new ones;
    names no correspondent bears any more stay, matching nobody: erasing a person must delete their
    name here too, where no one else bears it). A search by part of a name
    matches these, then the correspondents by exact name: the trigram index grows with the
    different names, not with the correspondents (many share a name)."""

    __tablename__ = "correspondent_name"
    name: Mapped[str] = mapped_column(String(limits.NAME), primary_key=True)

    __table_args__ = (
        Index("ix_correspondent_name_trgm", "name", postgresql_using="gin",
              postgresql_ops={"name": "gin_trgm_ops"}, postgresql_with={"fastupdate": "off"}),
    )


class CaseDocument(Base):
    __tablename__ = "case_document"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str | None] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str | None] = mapped_column(String(60))
    filename: Mapped[str] = mapped_column(String(limits.FILENAME))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("document_blob.sha256"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Who uploaded it (POST /uploads): until attached to a case, only they may read or attach it.
    uploaded_by_id: Mapped[int | None] = mapped_column(Integer)
    added_by_id: Mapped[int | None] = mapped_column(Integer)  # None: before it was kept, or the system's


class DocumentBlob(Base):
    """Content-addressed file bytes; immutable, so storing one is never a case mutation."""

    __tablename__ = "document_blob"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class CaseClarification(Base):
    __tablename__ = "case_clarification"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str] = mapped_column(ForeignKey("case_record.reference"), index=True)
    channel: Mapped[str | None] = mapped_column(String(20))  # None: sent outside the system
    questions: Mapped[str] = mapped_column(Text)
    reply_by: Mapped[date] = mapped_column(Date)
    sent_on: Mapped[date | None] = mapped_column(Date)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reply: Mapped[str | None] = mapped_column(Text)
    reply_received_on: Mapped[date | None] = mapped_column(Date)
    replied_by: Mapped[str | None] = mapped_column(String(200))
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply_attachment_ids: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")


class CaseContribution(Base):
    __tablename__ = "case_contribution"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str] = mapped_column(ForeignKey("case_record.reference"), index=True)
    team: Mapped[str] = mapped_column(String(40))
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    assignee_name: Mapped[str | None] = mapped_column(String(200))
    request: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    details: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_on: Mapped[date | None] = mapped_column(Date)
    kind: Mapped[str | None] = mapped_column(String(limits.CODE))
    channel: Mapped[str | None] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(320))
    attachment_ids: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")

    __table_args__ = (Index("ix_case_contribution_status_due", "status", "due_date"),)


class CaseNote(Base):
    __tablename__ = "case_note"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str] = mapped_column(ForeignKey("case_record.reference"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    edited_by: Mapped[str | None] = mapped_column(String(200))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CaseTask(Base):
    """A task on a case (casework.cases.contracts.Task), projected from the case's workflow."""

    __tablename__ = "case_task"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str] = mapped_column(ForeignKey("case_record.reference"), index=True)
    title: Mapped[str] = mapped_column(String(limits.NAME))
    description: Mapped[str | None] = mapped_column(Text)
    team: Mapped[str | None] = mapped_column(String(limits.CODE))
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    assignee_name: Mapped[str | None] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    due_time: Mapped[time | None] = mapped_column(Time)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))  # open | done | cancelled
    result: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    overdue_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_by_id: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assignment: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        # "My tasks" and "my team's tasks" of a status, overdue first then soonest due: an index walk.
        Index("ix_case_task_assignee_list", "assignee_id", "status", text("overdue DESC"), "due_at"),
        Index("ix_case_task_team_list", "team", "status", text("overdue DESC"), "due_at"),
    )


class TimelineEntry(Base):
    __tablename__ = "timeline_event"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str] = mapped_column(ForeignKey("case_record.reference"))
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60))
    summary: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (Index("ix_timeline_case_occurred", "case_reference", "occurred_at", "seq"),)


class OutboxMessage(Base):
    """One row per letter or email, keyed by a business key: checked before sending, so a retried
    activity or request never delivers twice."""

    __tablename__ = "outbox_message"
    business_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    # None for messages about no single case (digests).
    case_reference: Mapped[str | None] = mapped_column(String(40), index=True)
    purpose: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(320))
    message_id: Mapped[str | None] = mapped_column(String(255))
    document_id: Mapped[str | None] = mapped_column(String(36))
    # pending: nothing sent yet | sending: handed to SMTP, outcome not yet recorded | sent
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The activity's result (CorrespondenceResult), so a retry returns exactly what was recorded;
    # while `sending` it already names the stored .eml, the very bytes handed to the server.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class TemplateVersion(Base):
    """An uploaded letter (.docx), email (subject + text + HTML) or script (named texts) template;
    never changed, only superseded by a newer version in the same scope (purpose, channel, case
    type or global)."""

    __tablename__ = "template_version"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(20))  # letter | email | script
    case_type: Mapped[str | None] = mapped_column(ForeignKey("case_type.code"))  # None: all types
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(ForeignKey("document_blob.sha256"))
    subject: Mapped[str | None] = mapped_column(Text)
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    parts: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # a script's named texts (channel 'script')
    note: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_by_id: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


Index(
    "uq_template_version_scope",
    TemplateVersion.purpose,
    TemplateVersion.channel,
    func.coalesce(TemplateVersion.case_type, ""),
    TemplateVersion.version,
    unique=True,
)


class StandardLine(Base):
    """A reusable response paragraph for a category and topic. At most one line per topic is not
    retired; it can be chosen until its expiry date."""

    __tablename__ = "standard_line"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    category: Mapped[str | None] = mapped_column(String(limits.CATEGORY))
    topic: Mapped[str] = mapped_column(String(limits.NAME))
    text: Mapped[str] = mapped_column(Text)
    expires_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(String(200))
    replaced_by: Mapped[str | None] = mapped_column(String(36))


Index(
    "uq_standard_line_live_topic",
    func.lower(StandardLine.category),
    func.lower(StandardLine.topic),
    unique=True,
    postgresql_where=StandardLine.retired_at.is_(None),
)


class UserCaseType(Base):
    """Case types a user is granted. A user with no rows here may see every case type."""

    __tablename__ = "user_case_type"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"),
                                         primary_key=True)
    case_type: Mapped[str] = mapped_column(ForeignKey("case_type.code"), primary_key=True)


class DigestSubscription(Base):
    """A scheduled digest email: one team's statistics and case list, mailed to its owner or to
    the team's mailbox. Each row has one Temporal Schedule with id ``digest-<id>``."""

    __tablename__ = "digest_subscription"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    team: Mapped[str] = mapped_column(ForeignKey("team.code"))
    recipient: Mapped[str] = mapped_column(String(10))  # me | team
    case_type: Mapped[str | None] = mapped_column(ForeignKey("case_type.code"))
    frequency: Mapped[str] = mapped_column(String(10))  # daily | weekdays | weekly
    time_of_day: Mapped[time] = mapped_column(Time)
    time_zone: Mapped[str] = mapped_column(String(limits.TIME_ZONE))
    day_of_week: Mapped[str | None] = mapped_column(String(10))  # weekly only: monday..sunday
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def make_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    # Twenty kept: at twenty steps in flight, connections past a pool of ten were opened for one
    # request and closed after it (43 new PostgreSQL sessions per 100 cases walked in the bench).
    # At most 30 per process, within PostgreSQL's default of 100 for an API and a worker. Last in,
    # first out: the busiest connections (their backends' caches and prepared statements warm)
    # are reused first, and the rest stay idle.
    options = {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 10, "pool_use_lifo": True,
               **kwargs}
    engine = create_async_engine(to_sqlalchemy_url(database_url), **options)
    # The driver pool beside it checks its connections the same way: a connection PostgreSQL dropped
    # (a restart) is replaced on checkout instead of failing the request (the API's engines). The
    # worker's skip the round trip: every activity retries.
    _CHECKED[engine.sync_engine] = bool(options["pool_pre_ping"])
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


# Connections for the statements every step runs (see driver_connection), at most this many per
# process besides the engine's own pool.
DRIVER_POOL_SIZE = 20
# How long a caller waits for a connection. While PostgreSQL is unreachable the pool keeps trying
# to connect, and every caller waits this long before its attempt fails (and is retried): a step's
# local attempts then fall back to a regular activity operations can see within a minute.
DRIVER_POOL_TIMEOUT = 10.0
_DRIVER_POOLS: WeakKeyDictionary[Engine, AsyncConnectionPool] = WeakKeyDictionary()
_CHECKED: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()
_CONFIGURE: WeakKeyDictionary[Engine, Callable[[psycopg.AsyncConnection], Awaitable[None]]] = WeakKeyDictionary()


def configure_driver_connections(engine: AsyncEngine,
                                 configure: Callable[[psycopg.AsyncConnection], Awaitable[None]]) -> None:
    """Have `configure` called on each connection `engine`'s driver pool opens from now on (tracing)."""
    _CONFIGURE[engine.sync_engine] = configure


def driver_pool(engine: AsyncEngine) -> AsyncConnectionPool:
    """The psycopg pool beside `engine`'s (same database, same settings), opened on first use."""
    pool = _DRIVER_POOLS.get(engine.sync_engine)
    if pool is None:
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = _DRIVER_POOLS[engine.sync_engine] = AsyncConnectionPool(
            conninfo, min_size=1, max_size=DRIVER_POOL_SIZE, kwargs={"autocommit": True},
            timeout=DRIVER_POOL_TIMEOUT, open=False, name="casework-driver",
            configure=_CONFIGURE.get(engine.sync_engine),
            check=AsyncConnectionPool.check_connection if _CHECKED.get(engine.sync_engine, True) else None)
    return pool


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[psycopg.AsyncConnection]:
    """A psycopg ``AsyncConnection`` in autocommit (open a transaction with ``conn.transaction()``)
    for the statements every step runs: the worker's projection, letters, emails and deadlines,
    the API's registration. They run prepared (``prepare=True``: PostgreSQL plans them
    once per connection) and skip SQLAlchemy, whose execution layer a fixed statement does not
    need and whose pool checkout (session events, isolation level set and restored, reset) cost
    0.23 ms of CPU against psycopg_pool's 0.03 (see docs/performance.md). The pool opens connections as
    they are needed, up to DRIVER_POOL_SIZE, and drops one that comes back broken."""
    pool = driver_pool(engine)
    if pool.closed:
        await pool.open()
    async with pool.connection() as conn:
        yield conn


async def dispose_engine(engine: AsyncEngine) -> None:
    """Close `engine`'s connections, those of its driver pool included."""
    pool = _DRIVER_POOLS.pop(engine.sync_engine, None)
    if pool is not None:
        await pool.close()
    await engine.dispose()


@asynccontextmanager
async def reading(sessionmaker: async_sessionmaker) -> AsyncIterator[AsyncSession]:
    """A session for reads only, each statement on its own (autocommit): no BEGIN and ROLLBACK
    round trips around them. Under PostgreSQL's READ COMMITTED every statement sees its own
    snapshot anyway, so the reads see what they would in a transaction. Not for writes."""
    async with sessionmaker() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
