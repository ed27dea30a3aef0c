"""People administration: users, teams, API tokens, permissions granted to roles and users, and
the audit trail of every change to them. Everything here needs `people.administer`.

A change clears this process's cache of tokens, users, teams and grants at once; other API
processes see it when their entries expire (api.deps.ShortLivedCache, 10 s).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from api import errors
from api.deps import CurrentUser, SessionDep, require_permission
from api.schemas.base import IsoDateTime
from api.schemas.people import (
    AuditRead,
    GrantCreate,
    PermissionName,
    PermissionRead,
    RoleName,
    TeamCreate,
    TeamRead,
    TeamUpdate,
    TokenCreate,
    TokenIssued,
    TokenRead,
    UserAdminRead,
    UserCreate,
    UserUpdate,
)
from casework.cases import limits
from casework.cases.stages import ADMIN
from casework.people import audit
from casework.people import service as people
from casework.people.models import ApiToken
from casework.people.permissions import NAME, PEOPLE_ADMINISTER, known_roles, registry
from casework.platform.db import AppUser, Team

router = APIRouter(prefix="/admin", tags=["people"])

TOKEN_LIFETIME = timedelta(days=90)  # a token's default
LONGEST_TOKEN_LIFETIME = timedelta(days=731)


async def administrator(user: CurrentUser) -> AppUser:
    require_permission(user, PEOPLE_ADMINISTER, "administering people")
    return user


Administrator = Annotated[AppUser, Depends(administrator)]


def _conflict(message: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail={"message": message})


async def _commit(request: Request, session: AsyncSession) -> None:
    """Commit the change; this process sees it at once (the cache of who a token is, what they
    hold, teams and members is cleared)."""
    await session.commit()
    request.app.state.cache.clear()


# ---- users ----------------------------------------------------------------------------------


def _user_fields(user: AppUser, teams: list[str]) -> dict[str, Any]:
    return {"display_name": user.display_name, "email": user.email, "roles": sorted(user.roles),
            "teams": sorted(teams), "active": user.active, "external_subject": user.external_subject}


async def _user_read(session: AsyncSession, user: AppUser) -> UserAdminRead:
    teams = (await people.teams_of(session, [user.id]))[user.id]
    granted = (await people.user_grants(session, [user.id]))[user.id]
    return UserAdminRead(id=user.id, username=user.username, **_user_fields(user, teams),
                         first_sso_sign_in_at=user.first_sso_sign_in_at, granted_permissions=granted)


async def _user(session: AsyncSession, username: str, lock: bool = False) -> AppUser:
    user = await people.user_by_username(session, username, lock=lock)
    if user is None:
        raise errors.not_found(f"user {username}")
    return user


async def _check_roles(session: AsyncSession, roles: list[str]) -> None:
    known = known_roles(await people.granted_roles(session))
    unknown = sorted(set(roles) - known)
    if unknown:
        raise errors.unprocessable("roles", f"unknown role(s) {', '.join(unknown)}: known are "
                                            f"{', '.join(sorted(known))} (grant a permission to a new role first)")


async def _check_subject(session: AsyncSession, subject: str | None, user: AppUser | None = None) -> None:
    """409 if another user signs in as this external subject."""
    holder = await people.user_by_external_subject(session, subject) if subject is not None else None
    if holder is not None and holder is not user:
        raise _conflict(f"user '{holder.username}' already signs in as external subject {subject!r}")


async def _check_teams(session: AsyncSession, teams: list[str]) -> None:
    unknown = sorted(set(teams) - await people.existing_teams(session, teams))
    if unknown:
        raise errors.unprocessable("teams", f"unknown team(s) {', '.join(unknown)}")


@router.get("/users", response_model=list[UserAdminRead])
async def list_users(session: SessionDep, admin: Administrator, active: bool | None = None,
                     role: Annotated[str | None, Query(max_length=40)] = None,
                     team: Annotated[str | None, Query(max_length=limits.CODE)] = None) -> Any:
    """Users by username, filtered by being active, a role or a team."""
    users = await people.list_users(session, active=active, role=role, team=team)
    ids = [u.id for u in users]
    teams, granted = await people.teams_of(session, ids), await people.user_grants(session, ids)
    return [UserAdminRead(id=u.id, username=u.username, **_user_fields(u, teams[u.id]),
                          first_sso_sign_in_at=u.first_sso_sign_in_at, granted_permissions=granted[u.id])
            for u in users]


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserAdminRead,
             responses={409: {"description": "the username is taken, or another user has the external subject"}})
async def create_user(body: UserCreate, request: Request, session: SessionDep, admin: Administrator) -> Any:
    """A new user (409 if the username is taken). They sign in with a token issued next, or with
    single sign-on when `external_subject` is their identity provider's `sub`."""
    await _check_roles(session, body.roles)
    await _check_teams(session, body.teams)
    await _check_subject(session, body.external_subject)
    user = await people.create_user(session, username=body.username, display_name=body.display_name,
                                    email=body.email, roles=sorted(set(body.roles)), active=body.active,
                                    external_subject=body.external_subject)
    if user is None:
        raise _conflict(f"username '{body.username}' is taken")
    await people.set_user_teams(session, user.id, body.teams)
    await audit.record(session, admin, "user.created", "user", user.username,
                       after=_user_fields(user, body.teams))
    await _commit(request, session)
    return await _user_read(session, user)


@router.get("/users/{username}", response_model=UserAdminRead)
async def get_user(username: str, session: SessionDep, admin: Administrator) -> Any:
    return await _user_read(session, await _user(session, username))


@router.patch("/users/{username}", response_model=UserAdminRead)
async def update_user(username: str, body: UserUpdate, request: Request, session: SessionDep,
                      admin: Administrator) -> Any:
    """Change what is sent. `active: false` deactivates the user: their tokens stop working (in
    this process at once, in every other within 10 s)."""
    user = await _user(session, username, lock=True)
    teams = (await people.teams_of(session, [user.id]))[user.id]
    before = _user_fields(user, teams)
    sent = body.model_fields_set
    for field in ("display_name", "roles", "active"):
        if field in sent and getattr(body, field) is None:
            raise errors.unprocessable(field, f"{field} cannot be null")
    if body.active is False and user.id == admin.id:
        raise _conflict("you cannot deactivate yourself")
    if body.roles is not None:
        await _check_roles(session, body.roles)
        if user.id == admin.id and ADMIN in user.roles and ADMIN not in body.roles:
            raise _conflict("you cannot take the admin role from yourself")
        user.roles = sorted(set(body.roles))
    if body.teams is not None:
        await _check_teams(session, body.teams)
        await people.set_user_teams(session, user.id, body.teams)
        teams = body.teams
    if body.display_name is not None:
        user.display_name = body.display_name
    if "email" in sent:
        user.email = body.email
    if "external_subject" in sent and body.external_subject != user.external_subject:
        await _check_subject(session, body.external_subject, user)
        user.external_subject = body.external_subject
        user.first_sso_sign_in_at = None  # a new link: its first sign-in is audited again
    if body.active is not None:
        user.active = body.active
    was, now = audit.changed(before, _user_fields(user, teams))
    if now:
        action = "user.deactivated" if now.get("active") is False else "user.updated"
        await audit.record(session, admin, action, "user", user.username, before=was, after=now)
    await _commit(request, session)
    return await _user_read(session, user)


# ---- tokens ---------------------------------------------------------------------------------


def _token_read(token: ApiToken) -> TokenRead:
    return TokenRead(id=token.id, name=token.name, created_at=token.created_at, expires_at=token.expires_at,
                     revoked_at=token.revoked_at)


@router.get("/users/{username}/tokens", response_model=list[TokenRead])
async def list_tokens(username: str, session: SessionDep, admin: Administrator) -> Any:
    """The user's tokens, newest first, revoked and expired ones included; never a secret."""
    user = await _user(session, username)
    return [_token_read(t) for t in await people.tokens_of(session, user.id)]


@router.post("/users/{username}/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenIssued)
async def issue_token(username: str, body: TokenCreate, session: SessionDep, admin: Administrator) -> Any:
    """A new token for the user. The answer holds the secret, shown this once: only its SHA-256
    digest is stored."""
    now = datetime.now(timezone.utc)
    expires_at = body.expires_at or now + TOKEN_LIFETIME
    if expires_at.tzinfo is None:
        raise errors.unprocessable("expires_at", "expires_at needs a time zone (e.g. 2027-01-31T17:00:00Z)")
    if expires_at <= now:
        raise errors.unprocessable("expires_at", "expires_at must be in the future")
    if expires_at > now + LONGEST_TOKEN_LIFETIME:
        raise errors.unprocessable("expires_at", "expires_at must be at most two years ahead")
    user = await _user(session, username)
    token, secret = await people.issue_token(session, user.id, body.name, expires_at)
    await audit.record(session, admin, "token.issued", "token", token.id,
                       after={"user": user.username, "name": token.name, "expires_at": token.expires_at})
    await session.commit()
    return TokenIssued(**_token_read(token).model_dump(), token=secret)


@router.delete("/users/{username}/tokens/{token_id}", response_model=TokenRead)
async def revoke_token(username: str, token_id: str, request: Request, session: SessionDep,
                       admin: Administrator) -> Any:
    """Revoke a token: refused (401) in this process at once, in every other within 10 s.
    Revoking it again changes nothing."""
    user = await _user(session, username)
    token = await people.token_of(session, user.id, token_id)
    if token is None:
        raise errors.not_found(f"token {token_id} of {username}")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(timezone.utc)
        await audit.record(session, admin, "token.revoked", "token", token.id,
                           before={"user": user.username, "revoked_at": None},
                           after={"user": user.username, "revoked_at": token.revoked_at})
    await _commit(request, session)
    return _token_read(token)


# ---- teams ----------------------------------------------------------------------------------


def _team_fields(team: Team, manager: str | None, members: list[str]) -> dict[str, Any]:
    return {"name": team.name, "email": team.email, "manager": manager, "members": sorted(members)}


async def _team_read(session: AsyncSession, team: Team) -> TeamRead:
    members = (await people.members_of(session, [team.code]))[team.code]
    names = await people.usernames_by_id(session, [team.manager_id] if team.manager_id else [])
    return TeamRead(code=team.code, **_team_fields(team, names.get(team.manager_id or 0), members))


async def _users_named(session: AsyncSession, field: str, usernames: list[str]) -> list[AppUser]:
    found = await people.users_by_username(session, usernames)
    unknown = sorted(set(usernames) - set(found))
    if unknown:
        raise errors.unprocessable(field, f"unknown user(s) {', '.join(unknown)}")
    return [found[name] for name in dict.fromkeys(usernames)]


async def _team(session: AsyncSession, code: str, lock: bool = False) -> Team:
    team = await people.team_by_code(session, code, lock=lock)
    if team is None:
        raise errors.not_found(f"team {code}")
    return team


@router.get("/teams", response_model=list[TeamRead])
async def list_teams(session: SessionDep, admin: Administrator) -> Any:
    teams = await people.list_teams(session)
    members = await people.members_of(session, [t.code for t in teams])
    managers = await people.usernames_by_id(session, [t.manager_id for t in teams if t.manager_id])
    return [TeamRead(code=t.code, **_team_fields(t, managers.get(t.manager_id or 0), members[t.code]))
            for t in teams]


@router.post("/teams", status_code=status.HTTP_201_CREATED, response_model=TeamRead,
             responses={409: {"description": "the team code is taken"}})
async def create_team(body: TeamCreate, request: Request, session: SessionDep, admin: Administrator) -> Any:
    """A new team (409 if the code is taken)."""
    manager = (await _users_named(session, "manager", [body.manager]))[0] if body.manager else None
    members = await _users_named(session, "members", body.members)
    team = await people.create_team(session, code=body.code, name=body.name, email=body.email,
                                    manager_id=manager.id if manager else None)
    if team is None:
        raise _conflict(f"team code '{body.code}' is taken")
    await people.set_team_members(session, team.code, [m.id for m in members])
    await audit.record(session, admin, "team.created", "team", team.code,
                       after=_team_fields(team, body.manager, [m.username for m in members]))
    await _commit(request, session)
    return await _team_read(session, team)


@router.get("/teams/{code}", response_model=TeamRead)
async def get_team(code: str, session: SessionDep, admin: Administrator) -> Any:
    return await _team_read(session, await _team(session, code))


@router.patch("/teams/{code}", response_model=TeamRead)
async def update_team(code: str, body: TeamUpdate, request: Request, session: SessionDep,
                      admin: Administrator) -> Any:
    """Change what is sent; `members` replaces the membership, `manager: null` removes the manager."""
    team = await _team(session, code, lock=True)
    before_read = await _team_read(session, team)
    before = before_read.model_dump(exclude={"code"})
    sent = body.model_fields_set
    if "name" in sent and body.name is None:
        raise errors.unprocessable("name", "name cannot be null")
    if body.name is not None:
        team.name = body.name
    if "email" in sent:
        team.email = body.email
    if "manager" in sent:
        manager = (await _users_named(session, "manager", [body.manager]))[0] if body.manager else None
        team.manager_id = manager.id if manager else None
    members = before_read.members
    if body.members is not None:
        found = await _users_named(session, "members", body.members)
        await people.set_team_members(session, team.code, [m.id for m in found])
        members = [m.username for m in found]
    manager_name = body.manager if "manager" in sent else before_read.manager
    was, now = audit.changed(before, _team_fields(team, manager_name, members))
    if now:
        await audit.record(session, admin, "team.updated", "team", team.code, before=was, after=now)
    await _commit(request, session)
    return await _team_read(session, team)


# ---- permissions ----------------------------------------------------------------------------


def _known_permission(name: str, location: str = "body", field: str = "permission") -> str:
    if name not in registry():
        hint = "" if NAME.fullmatch(name) else " (permissions are named <area>.<what>)"
        raise errors.unprocessable(field, f"unknown permission '{name}'{hint}; GET /admin/permissions lists them",
                                   location)
    return name


@router.get("/permissions", response_model=list[PermissionRead])
async def list_permissions(session: SessionDep, admin: Administrator) -> Any:
    """Every named permission, what it allows, and who holds it: the roles that do by default,
    the roles and users it was granted to (admin holds every permission)."""
    by_role: dict[str, list[str]] = {}
    for grant in await people.role_grants(session):
        by_role.setdefault(grant.permission, []).append(grant.role)
    by_user: dict[str, list[str]] = {}
    for permission, username in await people.user_grant_holders(session):
        by_user.setdefault(permission, []).append(username)
    return [PermissionRead(name=p.name, description=p.description, default_roles=sorted(p.default_roles),
                           granted_roles=by_role.get(p.name, []), granted_users=by_user.get(p.name, []))
            for p in registry().values()]


@router.post("/roles/{role}/permissions", status_code=status.HTTP_201_CREATED)
async def grant_to_role(role: RoleName, body: GrantCreate, request: Request, session: SessionDep,
                        admin: Administrator) -> dict[str, Any]:
    """Grant a permission to every user with `role` (a new role name may be started this way).
    Granting it again changes nothing."""
    permission = _known_permission(body.permission)
    if role == ADMIN or role in registry()[permission].default_roles:
        raise _conflict(f"role {role} holds {permission} by default")
    if await people.grant_to_role(session, role, permission, admin.username):
        await audit.record(session, admin, "permission.granted", "role", role, after={"permission": permission})
    await _commit(request, session)
    return {"role": role, "permission": permission}


@router.delete("/roles/{role}/permissions/{permission}")
async def revoke_from_role(role: RoleName, permission: PermissionName, request: Request,
                           session: SessionDep, admin: Administrator) -> dict[str, Any]:
    """Take back a permission granted to a role (a role's defaults cannot be taken back: 409)."""
    _known_permission(permission, "path")
    if role == ADMIN or role in registry()[permission].default_roles:
        raise _conflict(f"role {role} holds {permission} by default, which cannot be revoked")
    if not await people.revoke_from_role(session, role, permission):
        raise errors.not_found(f"a grant of {permission} to role {role}")
    await audit.record(session, admin, "permission.revoked", "role", role, before={"permission": permission})
    await _commit(request, session)
    return {"role": role, "permission": permission}


@router.post("/users/{username}/permissions", status_code=status.HTTP_201_CREATED,
             response_model=UserAdminRead)
async def grant_to_user(username: str, body: GrantCreate, request: Request, session: SessionDep,
                        admin: Administrator) -> Any:
    """Grant a permission to one user, whatever their roles. Granting it again changes nothing."""
    permission = _known_permission(body.permission)
    user = await _user(session, username)
    if await people.grant_to_user(session, user.id, permission, admin.username):
        await audit.record(session, admin, "permission.granted", "user", user.username,
                           after={"permission": permission})
    await _commit(request, session)
    return await _user_read(session, user)


@router.delete("/users/{username}/permissions/{permission}", response_model=UserAdminRead)
async def revoke_from_user(username: str, permission: PermissionName, request: Request,
                           session: SessionDep, admin: Administrator) -> Any:
    """Take back a permission granted to the user (what their roles give stays)."""
    _known_permission(permission, "path")
    user = await _user(session, username)
    if not await people.revoke_from_user(session, user.id, permission):
        raise errors.not_found(f"a grant of {permission} to {username}")
    await audit.record(session, admin, "permission.revoked", "user", user.username,
                       before={"permission": permission})
    await _commit(request, session)
    return await _user_read(session, user)


# ---- the audit trail ------------------------------------------------------------------------


@router.get("/audit", response_model=list[AuditRead])
async def audit_trail(
    session: SessionDep, admin: Administrator,
    actor: Annotated[str | None, Query(max_length=100, description="who made the change (username)")] = None,
    action: Annotated[str | None, Query(max_length=60, description="e.g. user.created, token.revoked")] = None,
    subject_type: Annotated[str | None, Query(max_length=20, description="user, team, token or role")] = None,
    subject: Annotated[str | None, Query(max_length=limits.NAME,
                                         description="a username, team code, token id or role")] = None,
    since: IsoDateTime | None = None, until: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0, le=limits.MAX_OFFSET)] = 0,
) -> Any:
    """Changes to people, teams, tokens and grants, newest first: who, when, what, before and after."""
    return await audit.entries(session, actor=actor, action=action, subject_type=subject_type, subject=subject,
                               since=since, until=until, limit=limit, offset=offset)
