"""Reads and writes of users, teams, tokens and grants. Callers own the transaction; these only
execute statements (and write nothing to the audit trail: the routes do, with what changed)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, delete, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from casework.people.models import ApiToken, RolePermission, UserPermission
from casework.people.permissions import effective
from casework.platform.db import AppUser, Team, TeamMember
from casework.platform.security import hash_token, new_token

K = TypeVar("K", int, str)

# ---- authentication -------------------------------------------------------------------------


async def authenticate(session: AsyncSession, digest: str) -> tuple[AppUser, datetime | None] | None:
    """The active user a token digest belongs to, with their effective permissions set, and when
    the token expires; None for a token unknown, revoked or expired, or a deactivated user's."""
    row = (await session.execute(
        select(AppUser, ApiToken.expires_at).join(ApiToken, ApiToken.user_id == AppUser.id).where(
            ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None), AppUser.active,
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > func.now())))).first()
    if row is None:
        return None
    user, expires_at = row
    user.permissions = effective(user.roles, await grants_of(session, user))
    return user, expires_at


async def grants_of(session: AsyncSession, user: AppUser) -> list[str]:
    """The permissions granted to one of the user's roles or to the user."""
    by_role = select(RolePermission.permission).where(RolePermission.role.in_(list(user.roles)))
    by_user = select(UserPermission.permission).where(UserPermission.user_id == user.id)
    return list((await session.scalars(by_role.union(by_user))).all())


# ---- users and teams ------------------------------------------------------------------------


async def user_by_username(session: AsyncSession, username: str, lock: bool = False) -> AppUser | None:
    stmt = select(AppUser).where(AppUser.username == username)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def user_by_external_subject(session: AsyncSession, subject: str, lock: bool = False) -> AppUser | None:
    stmt = select(AppUser).where(AppUser.external_subject == subject)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def users_by_username(session: AsyncSession, usernames: list[str]) -> dict[str, AppUser]:
    rows = await session.scalars(select(AppUser).where(AppUser.username.in_(usernames)))
    return {user.username: user for user in rows}


async def _grouped(session: AsyncSession, keys: list[K], stmt: Select[K, str]) -> dict[K, list[str]]:
    """(key, value) rows as each key's values, in the statement's order; [] for a key with none."""
    found: dict[K, list[str]] = {key: [] for key in keys}
    for key, value in await session.execute(stmt):
        found[key].append(value)
    return found


async def teams_of(session: AsyncSession, user_ids: list[int]) -> dict[int, list[str]]:
    return await _grouped(session, user_ids, select(TeamMember.user_id, TeamMember.team_code)
                          .where(TeamMember.user_id.in_(user_ids)).order_by(TeamMember.team_code))


async def user_grants(session: AsyncSession, user_ids: list[int]) -> dict[int, list[str]]:
    return await _grouped(session, user_ids, select(UserPermission.user_id, UserPermission.permission)
                          .where(UserPermission.user_id.in_(user_ids)).order_by(UserPermission.permission))


async def list_users(session: AsyncSession, *, active: bool | None = None, role: str | None = None,
                     team: str | None = None) -> list[AppUser]:
    stmt = select(AppUser).order_by(AppUser.username)
    if active is not None:
        stmt = stmt.where(AppUser.active.is_(active))
    if role is not None:
        stmt = stmt.where(AppUser.roles.contains([role]))
    if team is not None:
        stmt = stmt.where(AppUser.id.in_(select(TeamMember.user_id).where(TeamMember.team_code == team)))
    return list((await session.scalars(stmt)).all())


async def create_user(session: AsyncSession, **values: object) -> AppUser | None:
    """The new user, or None when the username is taken."""
    user_id = await session.scalar(upsert(AppUser).values(**values)
                                   .on_conflict_do_nothing(index_elements=["username"]).returning(AppUser.id))
    return None if user_id is None else await session.get(AppUser, user_id)


async def _set_memberships(session: AsyncSession, kept: ColumnElement[bool], pairs: list[dict[str, Any]]) -> None:
    """Delete the team_member rows of one user or team that `kept` does not keep, add `pairs`."""
    await session.execute(delete(TeamMember).where(kept))
    if pairs:
        await session.execute(upsert(TeamMember).values(pairs).on_conflict_do_nothing())


async def set_user_teams(session: AsyncSession, user_id: int, teams: list[str]) -> None:
    await _set_memberships(session, (TeamMember.user_id == user_id) & TeamMember.team_code.not_in(teams),
                           [{"team_code": t, "user_id": user_id} for t in teams])


async def existing_teams(session: AsyncSession, codes: list[str]) -> set[str]:
    return set((await session.scalars(select(Team.code).where(Team.code.in_(codes)))).all())


async def team_by_code(session: AsyncSession, code: str, lock: bool = False) -> Team | None:
    return await session.get(Team, code, with_for_update=lock)


async def list_teams(session: AsyncSession) -> list[Team]:
    return list((await session.scalars(select(Team).order_by(Team.code))).all())


async def members_of(session: AsyncSession, codes: list[str]) -> dict[str, list[str]]:
    return await _grouped(session, codes, select(TeamMember.team_code, AppUser.username)
                          .join(AppUser, AppUser.id == TeamMember.user_id)
                          .where(TeamMember.team_code.in_(codes)).order_by(AppUser.username))


async def usernames_by_id(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    return dict((await session.execute(select(AppUser.id, AppUser.username).where(AppUser.id.in_(ids)))).all())


async def create_team(session: AsyncSession, **values: object) -> Team | None:
    """The new team, or None when the code is taken."""
    code = await session.scalar(upsert(Team).values(**values)
                                .on_conflict_do_nothing(index_elements=["code"]).returning(Team.code))
    return None if code is None else await session.get(Team, code)


async def set_team_members(session: AsyncSession, code: str, user_ids: list[int]) -> None:
    await _set_memberships(session, (TeamMember.team_code == code) & TeamMember.user_id.not_in(user_ids),
                           [{"team_code": code, "user_id": u} for u in user_ids])


# ---- tokens ---------------------------------------------------------------------------------


async def issue_token(session: AsyncSession, user_id: int, name: str,
                      expires_at: datetime | None) -> tuple[ApiToken, str]:
    """A new token row and its secret (shown once: only the digest is kept)."""
    secret = new_token()
    token_id = str(uuid.uuid4())
    await session.execute(insert(ApiToken).values(id=token_id, user_id=user_id, name=name,
                                                  token_hash=hash_token(secret), expires_at=expires_at))
    token = await session.get(ApiToken, token_id)
    assert token is not None
    return token, secret


async def tokens_of(session: AsyncSession, user_id: int) -> list[ApiToken]:
    return list((await session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                       .order_by(ApiToken.created_at.desc(), ApiToken.id))).all())


async def token_of(session: AsyncSession, user_id: int, token_id: str) -> ApiToken | None:
    return await session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
                                .with_for_update())


# ---- grants ---------------------------------------------------------------------------------


async def role_grants(session: AsyncSession) -> list[RolePermission]:
    return list((await session.scalars(select(RolePermission).order_by(RolePermission.role))).all())


async def granted_roles(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(RolePermission.role).distinct())).all())


async def user_grant_holders(session: AsyncSession) -> list[tuple[str, str]]:
    """(permission, username) of every grant to a user."""
    rows = await session.execute(select(UserPermission.permission, AppUser.username)
                                 .join(AppUser, AppUser.id == UserPermission.user_id).order_by(AppUser.username))
    return [(permission, username) for permission, username in rows]


async def grant_to_role(session: AsyncSession, role: str, permission: str, by: str) -> bool:
    """Whether the grant is new."""
    return await session.scalar(upsert(RolePermission).values(role=role, permission=permission, granted_by=by)
                                .on_conflict_do_nothing().returning(RolePermission.role)) is not None


async def revoke_from_role(session: AsyncSession, role: str, permission: str) -> bool:
    """Whether there was such a grant."""
    return await session.scalar(delete(RolePermission).where(RolePermission.role == role, RolePermission.permission
                                                             == permission).returning(RolePermission.role)) is not None


async def grant_to_user(session: AsyncSession, user_id: int, permission: str, by: str) -> bool:
    return await session.scalar(upsert(UserPermission).values(user_id=user_id, permission=permission, granted_by=by)
                                .on_conflict_do_nothing().returning(UserPermission.user_id)) is not None


async def revoke_from_user(session: AsyncSession, user_id: int, permission: str) -> bool:
    return await session.scalar(delete(UserPermission).where(
        UserPermission.user_id == user_id, UserPermission.permission == permission)
        .returning(UserPermission.user_id)) is not None
