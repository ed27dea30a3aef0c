"""Dependencies: database session, Temporal client, the authenticated user and permission checks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.errors import RETRY_AFTER_SECONDS
from api.schemas.base import clip, unstorable
from casework.cases.contracts import Actor
from casework.cases.stages import missing_permission
from casework.cases.visibility import Viewer, viewer_for
from casework.people import service as people
from casework.people import sso
from casework.people.oidc import ProviderUnreachable, TokenRefused, TokenVerifier, looks_like_jwt
from casework.people.permissions import kind_permission_names
from casework.platform import logs
from casework.platform.config import Settings
from casework.platform.db import AppUser, Base, reading
from casework.platform.security import hash_token

BEARER_SCHEME = "bearer"  # the security scheme's name in the OpenAPI document
bearer = HTTPBearer(
    auto_error=False, scheme_name=BEARER_SCHEME, bearerFormat="API token or OpenID Connect JWT",
    description="An API token (issued by an administrator; `make run` prints the demo users') or, where "
                "single sign-on is configured, an access token (JWT) from the organisation's identity provider.")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


# Dependencies are coroutines even when they need not be: FastAPI runs a plain function in a
# worker thread, a hand-off that costs more than the function.
async def get_client(request: Request) -> Client:
    return request.app.state.temporal


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def refuse_unstorable_parameters(request: Request) -> None:
    """Every route's: a path or query parameter holding what no text column can (a NUL, a lone
    surrogate) is refused with a 422 naming it, before anything looks it up."""
    named = [("path", k, v) for k, v in request.path_params.items()]
    named += [("query", k, v) for k, v in request.query_params.multi_items()]
    for location, name, value in named:
        for part in (name, value):
            problem = unstorable(part) if isinstance(part, str) else None
            if problem is not None:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[
                    {"loc": [location, clip(name)], "msg": f"{clip(name)} {problem}", "type": "value_error"}])


SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_client)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

# A case is addressed as /cases/{prefix}/{number}/{year}: COMP/000123/26 is /cases/COMP/000123/26.
CASE_PATH = "/{prefix}/{number}/{year}"


async def case_reference(prefix: str, number: str, year: str) -> str:
    """The reference of the case a path addresses (its workflow id too)."""
    return f"{prefix}/{number}/{year}"


# The case a route's path names; the route's path must contain CASE_PATH.
CaseRef = Annotated[str, Depends(case_reference)]


# An id in the path after the case's (/notes/{note_id}) is taken through a dependency too: FastAPI
# lists a route's own parameters before its dependencies', and the OpenAPI document (and clients
# generated from it) keep the path's order, prefix, number, year, then the id.
async def _clarification_id(clarification_id: str) -> str:
    return clarification_id


async def _contribution_id(contribution_id: str) -> str:
    return contribution_id


async def _note_id(note_id: str) -> str:
    return note_id


ClarificationId = Annotated[str, Depends(_clarification_id)]
ContributionId = Annotated[str, Depends(_contribution_id)]
NoteId = Annotated[str, Depends(_note_id)]


async def _delivery_id(delivery_id: str) -> str:
    return delivery_id


DeliveryId = Annotated[str, Depends(_delivery_id)]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200,
           description="Retrying a request with the same key has exactly one effect"),
]


class ShortLivedCache:
    """Values kept for a few seconds: who a token belongs to and what they may see (saving three
    queries on every request), and the reference data steps look up (case types, teams, users,
    team membership). A revoked token, a change of team or grants, or a deactivated user takes
    effect within `ttl`; a change made through this API process is forgotten at once.

    When an entry expires, concurrent requests for it wait on one load instead of each running
    its own query (at twenty requests in flight, each expiry had sent up to twenty queries at
    once, and the connections past the pool's size were opened only to be closed)."""

    def __init__(self, ttl: float = 10.0, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[Any, asyncio.Future] = {}

    def get(self, key: Any) -> Any:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: Any) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything (a change to people or grants may touch any entry)."""
        self._entries.clear()

    async def get_or_load(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value, or `load()`'s, shared by every caller waiting meanwhile. A None
        result is returned but not kept. `load` must not use the caller's session: a caller
        that is cancelled does not cancel the load the others wait on."""
        value = self.get(key)
        if value is not None:
            return value
        pending = self._loading.get(key)
        if pending is None:
            pending = self._loading[key] = asyncio.ensure_future(self._load(key, load))
        return await asyncio.shield(pending)

    async def _load(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = await load()
            if value is not None:
                self.put(key, value)
            return value
        finally:
            del self._loading[key]


async def cached_lookup(request: Request, key: Any, load: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """`load(session)`'s result through the short-lived cache, loaded on its own read-only session
    (rows come back detached). None (not found) is not kept, so a row added is seen at once."""
    sessionmaker = request.app.state.sessionmaker

    async def fetch() -> Any:
        async with reading(sessionmaker) as session:
            value = await load(session)
            if isinstance(value, Base):
                session.expunge(value)
            return value

    cache: ShortLivedCache = request.app.state.cache
    return await cache.get_or_load(key, fetch)


def _unauthorised(reason: str, *, error: bool = True) -> HTTPException:
    """401 saying why, in the body and in WWW-Authenticate (RFC 6750: an error code only when a
    token was sent)."""
    challenge = 'Bearer realm="casework"'
    if error:
        # RFC 6750 allows printable ASCII but a quote or backslash there (the body keeps the message whole).
        description = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in reason)
        challenge += f', error="invalid_token", error_description="{description}"'
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": challenge})


async def get_current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AppUser:
    """The active user whose token this is, with their effective permissions: an API token, or a
    JWT from the identity provider when single sign-on is configured. A token revoked or a user
    deactivated or re-granted through another API process is seen within the cache's ttl (through
    this one, at once: the change clears the cache); an expired token, at once."""
    if credentials is None:
        raise _unauthorised("missing bearer token: send 'Authorization: Bearer <token>'", error=False)
    verifier: TokenVerifier | None = request.app.state.oidc
    if looks_like_jwt(credentials.credentials):
        if verifier is None:
            raise _unauthorised("single sign-on is not configured here: send an API token")
        user = await _signed_in(request, verifier, credentials.credentials)
        logs.user.set(user.username)
        return user
    digest = hash_token(credentials.credentials)
    found = await cached_lookup(request, digest, lambda session: people.authenticate(session, digest))
    if found is None or (found[1] is not None and found[1] <= datetime.now(timezone.utc)):
        raise _unauthorised("invalid, expired or revoked token" if verifier is None else
                            "invalid, expired or revoked API token, and not a JWT from the identity provider")
    logs.user.set(found[0].username)
    return found[0]


async def _signed_in(request: Request, verifier: TokenVerifier, token: str) -> AppUser:
    """The user an identity provider's token signs in (casework.people.sso). The token is checked
    on every request; who it signs in is cached like an API token's user."""
    try:
        who = sso.sign_in_from(await verifier.claims(token), verifier.settings)
    except (TokenRefused, sso.SignInRefused) as exc:
        raise _unauthorised(str(exc)) from None
    except ProviderUnreachable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc),
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    sessionmaker = request.app.state.sessionmaker
    cache: ShortLivedCache = request.app.state.cache

    async def load() -> AppUser | sso.SignInRefused:
        async with sessionmaker() as session:
            try:
                async with session.begin():
                    user = await sso.sign_in(session, who, verifier.settings)
            except sso.SignInRefused as exc:
                return exc  # kept as long as a user would be: a refusal costs no transaction each time
            session.expunge(user)
        cache.forget(("viewer", user.id))  # the groups may have changed their teams
        return user

    found = await cache.get_or_load(("oidc", who), load)
    if isinstance(found, sso.SignInRefused):
        raise _unauthorised(str(found))
    return found


CurrentUser = Annotated[AppUser, Depends(get_current_user)]


def actor_of(user: AppUser) -> Actor:
    """The user as a step's actor, with the permissions of case steps they hold (the workflow
    checks the step's again)."""
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 roles=list(user.roles), permissions=sorted(user.permissions & kind_permission_names()))


async def get_viewer(request: Request, user: CurrentUser) -> Viewer:
    return await cached_lookup(request, ("viewer", user.id), lambda session: viewer_for(session, user))


# What the current user may see (see casework/cases/visibility.py).
ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def require_permission(user: AppUser, permission: str, what: str | None = None) -> None:
    """403 naming the permission, unless the user holds it (casework/people/permissions.py)."""
    if permission not in user.permissions:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=missing_permission(permission, what))
