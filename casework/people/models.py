"""The tables of people administration besides app_user, team and team_member (casework.platform.db)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from casework.cases import limits
from casework.platform.db import Base

PERMISSION = 100  # a permission's name, `<area>.<what>`
ROLE = 40  # a role's name (app_user.roles holds these)


class ApiToken(Base):
    """A bearer token: only its SHA-256 digest is kept; the secret is shown once, when issued."""

    __tablename__ = "api_token"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(limits.NAME))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: never
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RolePermission(Base):
    """A permission an administrator granted to a role, beyond the role's defaults."""

    __tablename__ = "role_permission"
    role: Mapped[str] = mapped_column(String(ROLE), primary_key=True)
    permission: Mapped[str] = mapped_column(String(PERMISSION), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UserPermission(Base):
    """A permission an administrator granted to one user, beyond their roles'."""

    __tablename__ = "user_permission"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    permission: Mapped[str] = mapped_column(String(PERMISSION), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AuditEntry(Base):
    """One change to people, teams, tokens or grants: who, when, what, and the fields before and
    after (never a token's secret or digest). Only ever inserted."""

    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))  # the username
    action: Mapped[str] = mapped_column(String(60))  # user.created, token.revoked, permission.granted...
    subject_type: Mapped[str] = mapped_column(String(20))  # user | team | token | role
    subject: Mapped[str] = mapped_column(String(limits.NAME))  # username, team code, token id, role
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()

    __table_args__ = (Index("ix_audit_entry_subject", "subject_type", "subject", "occurred_at"),
                      Index("ix_audit_entry_occurred", "occurred_at", "id"))
