"""Single sign-on: who a verified OpenID Connect token's claims say its bearer is, and the user it
signs in (casework.people.oidc verifies the token first).

- The user is found by the `sub` claim (their external subject, set by an administrator or when
  they were provisioned) or, with OIDC_USER_CLAIM=email, by email address; a user found by email
  is linked to the `sub` on their first sign-in and must keep it.
- A user nobody matches is created on the spot only with OIDC_PROVISION_USERS=true (and, when
  OIDC_GROUP_ROLES is set, only if their groups grant a role): otherwise an administrator creates
  them first.
- The roles named in OIDC_GROUP_ROLES and the teams named in OIDC_GROUP_TEAMS follow the groups
  claim at every sign-in; roles and teams the mappings do not name stay as administered here.
- A deactivated user is refused, however valid the token.

Callers own the transaction; provisioning, a first sign-in and a change of roles or teams are
written to the audit trail in it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from casework.cases import limits
from casework.people import audit
from casework.people import service as people
from casework.people.permissions import effective
from casework.platform.config import Settings
from casework.platform.db import AppUser


class SignInRefused(Exception):
    """A valid token that signs nobody in here; the message says why."""


@dataclass(frozen=True)
class SignIn:
    """What a verified token says about its bearer (hashable: the cache key of their sign-in)."""

    subject: str
    email: str | None
    username: str
    display_name: str
    groups: tuple[str, ...]


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (Keycloak's `realm_access.roles`)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def sign_in_from(claims: dict[str, Any], settings: Settings) -> SignIn:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > limits.EXTERNAL_SUBJECT:
        raise SignInRefused("the token's sub claim is missing or too long")
    email = claims.get("email")
    if not isinstance(email, str) or not email or len(email) > limits.EMAIL or claims.get("email_verified") is False:
        email = None
    groups = claim_at(claims, settings.oidc_groups_claim)
    if isinstance(groups, str):
        groups = groups.split()
    named = claim_at(claims, settings.oidc_username_claim)
    name = claims.get("name")
    username = usable_username(named if isinstance(named, str) else email or subject)
    return SignIn(subject=subject, email=email, username=username,
                  display_name=name[:limits.NAME] if isinstance(name, str) and name.strip() else username,
                  groups=tuple(sorted({g for g in groups if isinstance(g, str)})) if isinstance(groups, list) else ())


def usable_username(value: str) -> str:
    """A username our rules accept (letters, digits, `. _ @ -`, 100 at most) made from a claim."""
    cleaned = re.sub(r"[^A-Za-z0-9._@-]", "-", value.strip()).lstrip("._@-")[:100]
    return cleaned or "user"


def mapped(groups: tuple[str, ...], mapping: dict[str, list[str]]) -> set[str]:
    """What the groups map to (roles or team codes)."""
    return {value for group in groups for value in mapping.get(group, [])}


async def sign_in(session: AsyncSession, who: SignIn, settings: Settings) -> AppUser:
    """The active user the token signs in, with their effective permissions; SignInRefused if none."""
    user = await _matching_user(session, who, settings)
    if user is None:
        user = await _provision(session, who, settings)
    if not user.active:
        raise SignInRefused(f"user '{user.username}' is deactivated")
    if user.first_sso_sign_in_at is None:
        user.external_subject = who.subject
        user.first_sso_sign_in_at = func.now()
        await audit.record(session, user, "user.first_sign_in", "user", user.username,
                           after={"external_subject": who.subject})
    await _follow_groups(session, user, who, settings)
    await session.flush()
    await session.refresh(user)
    user.permissions = effective(user.roles, await people.grants_of(session, user))
    return user


async def _matching_user(session: AsyncSession, who: SignIn, settings: Settings) -> AppUser | None:
    by_subject = await people.user_by_external_subject(session, who.subject, lock=True)
    if settings.oidc_user_claim == "sub" or by_subject is not None:
        return by_subject
    if who.email is None:
        raise SignInRefused("the token carries no verified email claim, which OIDC_USER_CLAIM=email needs")
    found = list((await session.scalars(select(AppUser).where(func.lower(AppUser.email) == who.email.lower())
                                        .with_for_update())).all())
    if len(found) > 1:
        raise SignInRefused(f"more than one user has the email address {who.email}: an administrator must "
                            "set the external subject of the right one")
    if found and found[0].external_subject not in (None, who.subject):
        raise SignInRefused(f"the user with the email address {who.email} signs in as another subject")
    return found[0] if found else None


async def _provision(session: AsyncSession, who: SignIn, settings: Settings) -> AppUser:
    if not settings.oidc_provision_users:
        how = (f"the external subject {who.subject!r}" if settings.oidc_user_claim == "sub"
               else f"the email address {who.email!r}")
        raise SignInRefused(f"no user here has {how}: an administrator must create them first")
    roles = mapped(who.groups, settings.oidc_group_roles)
    if settings.oidc_group_roles and not roles:
        raise SignInRefused("none of your groups grants a role here")
    # A username taken by someone else gets a suffix from the subject: a claim never takes over
    # an account it does not already own.
    for username in (who.username, f"{who.username[:93]}-{hashlib.sha256(who.subject.encode()).hexdigest()[:6]}"):
        user_id = await session.scalar(upsert(AppUser).values(
            username=username, display_name=who.display_name, email=who.email, roles=sorted(roles), active=True,
            external_subject=who.subject, first_sso_sign_in_at=func.now(),
        ).on_conflict_do_nothing().returning(AppUser.id))
        if user_id is not None:
            break
        raced = await people.user_by_external_subject(session, who.subject)
        if raced is not None:  # another API process provisioned them meanwhile
            return raced
    else:
        raise SignInRefused(f"the usernames {who.username!r} and its variant are taken")
    user = await session.get(AppUser, user_id)
    assert user is not None
    teams = await _mapped_teams(session, who, settings)
    await people.set_user_teams(session, user.id, sorted(teams))
    await audit.record(session, user, "user.provisioned", "user", user.username, after={
        "display_name": user.display_name, "email": user.email, "roles": sorted(roles), "teams": sorted(teams),
        "active": True, "external_subject": who.subject})
    return user


async def _mapped_teams(session: AsyncSession, who: SignIn, settings: Settings) -> set[str]:
    """The teams the groups map to that exist (a mapping naming a team not created yet grants nothing)."""
    wanted = mapped(who.groups, settings.oidc_group_teams)
    return await people.existing_teams(session, sorted(wanted)) if wanted else set()


async def _follow_groups(session: AsyncSession, user: AppUser, who: SignIn, settings: Settings) -> None:
    """Make the roles and teams the mappings name match the token's groups."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if settings.oidc_group_roles:
        managed = mapped(tuple(settings.oidc_group_roles), settings.oidc_group_roles)
        roles = sorted((set(user.roles) - managed) | mapped(who.groups, settings.oidc_group_roles))
        if roles != sorted(user.roles):
            before["roles"], after["roles"] = sorted(user.roles), roles
            user.roles = roles
    if settings.oidc_group_teams:
        managed = mapped(tuple(settings.oidc_group_teams), settings.oidc_group_teams)
        current = set((await people.teams_of(session, [user.id]))[user.id])
        teams = sorted((current - managed) | await _mapped_teams(session, who, settings))
        if teams != sorted(current):
            before["teams"], after["teams"] = sorted(current), teams
            await people.set_user_teams(session, user.id, teams)
    if after:
        await audit.record(session, user, "user.synced", "user", user.username, before=before, after=after)
