"""People administration: users, teams, tokens, permissions and the audit trail, as sent and read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from api.schemas.base import Read, ShortText, Strict
from api.schemas.cases import EMAIL
from casework.cases import limits
from casework.people.models import PERMISSION, ROLE

Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                            pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]
RoleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ROLE,
                                            pattern=r"^[a-z][a-z0-9_]*$")]
TeamCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.CODE,
                                            pattern=r"^[A-Z0-9][A-Z0-9_-]*$")]
ExternalSubject = Annotated[str, StringConstraints(min_length=1, max_length=limits.EXTERNAL_SUBJECT)]
PermissionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=PERMISSION)]


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if not EMAIL.match(value.strip()):
        raise ValueError("not a valid email address")
    return value.strip()


EmailAddress = Annotated[str, StringConstraints(max_length=limits.EMAIL), AfterValidator(_email)]


class UserCreate(Strict):
    username: Username
    display_name: ShortText
    email: EmailAddress | None = None
    roles: list[RoleName] = Field(default_factory=list, max_length=20)
    teams: list[TeamCode] = Field(default_factory=list, max_length=100)
    active: bool = True
    external_subject: ExternalSubject | None = Field(default=None, description=(
        "the identity provider's `sub` for this person: they sign in with its tokens (single sign-on)"))


class UserUpdate(Strict):
    """Only the fields sent change; `email: null` removes the address."""

    display_name: ShortText | None = None
    email: EmailAddress | None = None
    roles: list[RoleName] | None = Field(default=None, max_length=20)
    teams: list[TeamCode] | None = Field(default=None, max_length=100)
    active: bool | None = None
    external_subject: ExternalSubject | None = Field(default=None, description="`null` unlinks single sign-on")


class UserCore(Read):
    id: int
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    teams: list[str]


class UserAdminRead(UserCore):
    active: bool
    external_subject: str | None = Field(description="the identity provider's `sub` (single sign-on)")
    first_sso_sign_in_at: datetime | None = Field(description="when they first signed in with single sign-on")
    granted_permissions: list[str] = Field(description="granted to this user, beyond their roles'")


class TeamCreate(Strict):
    code: TeamCode
    name: ShortText
    email: EmailAddress | None = None
    manager: Username | None = Field(default=None, description="the manager's username")
    members: list[Username] = Field(default_factory=list, max_length=1000, description="usernames")


class TeamUpdate(Strict):
    """Only the fields sent change; `members` replaces the whole membership."""

    name: ShortText | None = None
    email: EmailAddress | None = None
    manager: Username | None = None
    members: list[Username] | None = Field(default=None, max_length=1000)


class TeamRead(Read):
    code: str
    name: str
    email: str | None
    manager: str | None
    members: list[str]


class TokenCreate(Strict):
    name: ShortText = Field(description="what the token is for, e.g. 'CRM sync'")
    expires_at: datetime | None = Field(
        default=None, description="when it stops working (ISO 8601 with a time zone); by default in 90 days, "
                                  "at most two years ahead")


class TokenRead(Read):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(TokenRead):
    token: str = Field(description="the secret: shown this once, never again")


class GrantCreate(Strict):
    permission: PermissionName


class PermissionRead(Read):
    name: str
    description: str
    default_roles: list[str] = Field(description="roles that hold it without a grant (admin holds every one)")
    granted_roles: list[str]
    granted_users: list[str]


class AuditRead(Read):
    id: int
    occurred_at: datetime
    actor: str
    action: str
    subject_type: str
    subject: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
