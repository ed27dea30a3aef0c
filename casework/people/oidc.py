"""Single sign-on: bearer JWTs from the organisation's OpenID Connect provider, verified with PyJWT
against the provider's published keys (JWKS). The signature, issuer, audience, expiry and
not-before are all checked, and so are the client it was issued to (when OIDC_AUTHORIZED_PARTIES
lists them) and, where the provider says so, that it is an access token; what the token says
about its bearer is then mapped to our user by casework.people.sso.

The keys are fetched from OIDC_JWKS_URL or the issuer's discovery document, kept for
OIDC_JWKS_CACHE_SECONDS, and fetched again early when a token names a key id we do not hold (the
provider rotated its keys), at most once every OIDC_JWKS_REFRESH_SECONDS: tokens with made-up key
ids cannot make us hammer the provider.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt

from casework.platform.config import Settings

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 5.0  # seconds the provider has to answer a discovery or JWKS request
REQUIRED_CLAIMS = ["iss", "aud", "exp", "sub"]
# Where providers name the client a token was issued to, in the order they are looked at.
CLIENT_CLAIMS = ("azp", "appid", "client_id", "cid")
# Keycloak says what a token is in its `typ` claim: only its access tokens ("Bearer") reach an API.
NOT_ACCESS_TOKENS = frozenset({"id", "refresh", "logout"})


class TokenRefused(Exception):
    """The token is not one we accept; the message says why (it goes back to the caller)."""


class ProviderUnreachable(Exception):
    """The provider's keys could not be fetched and none are held: the token cannot be checked."""


def looks_like_jwt(credential: str) -> bool:
    """A JWS in compact form is three base64url parts; an API token (secrets.token_urlsafe) has no dot."""
    return credential.count(".") == 2


class ProviderKeys:
    """The provider's signing keys, fetched when first needed and cached."""

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer
        self.jwks_url = settings.oidc_jwks_url
        self.cache_seconds = settings.oidc_jwks_cache_seconds
        self.refresh_seconds = settings.oidc_jwks_refresh_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # when the keys held were fetched
        self._tried_at: float | None = None  # when a fetch was last started, whatever came of it
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many times the JWKS was fetched (tests and diagnostics)

    async def key(self, kid: str) -> jwt.PyJWK:
        if self._fetched_at is None or time.monotonic() - self._fetched_at >= self.cache_seconds:
            await self._refresh()
        if kid not in self._keys:
            await self._refresh()
        if not self._keys:
            raise ProviderUnreachable("the identity provider's signing keys could not be fetched")
        try:
            return self._keys[kid]
        except KeyError:
            raise TokenRefused(f"the token is signed with key '{kid}', which the identity provider "
                               "does not publish") from None

    async def _refresh(self) -> None:
        """Fetch the keys again, unless another request did so meanwhile or one was tried less than
        refresh_seconds ago (a provider that is down is not asked on every request either)."""
        tried = self._tried_at
        async with self._lock:
            if self._tried_at != tried:
                return  # fetched (or tried) while this request waited for the lock
            if tried is not None and time.monotonic() - tried < self.refresh_seconds:
                return
            self._tried_at = time.monotonic()
            try:
                self._keys = await self._fetch()
                self._fetched_at = time.monotonic()
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                # Keys held are kept: a provider briefly out of reach does not sign everyone out.
                log.warning("could not fetch the identity provider's keys: %s: %s", type(exc).__name__, exc)

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        self.fetches += 1
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
            url = self.jwks_url or await self._jwks_url_from_discovery(client)
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not answer a JWK Set")
        # Signing keys only: never an encryption key, never a symmetric one.
        usable = [k for k in document.get("keys", []) if isinstance(k, dict)
                  and k.get("use", "sig") == "sig" and k.get("kty") != "oct" and isinstance(k.get("kid"), str)]
        return {key.key_id: key for key in jwt.PyJWKSet(usable) if key.key_id}

    async def _jwks_url_from_discovery(self, client: httpx.AsyncClient) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        discovery = response.json()
        if not isinstance(discovery, dict):
            raise ValueError(f"{url} did not answer a discovery document")
        if discovery.get("issuer") != self.issuer:
            # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer asked.
            raise ValueError(f"{url} names issuer {discovery.get('issuer')!r}, not {self.issuer!r}")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise ValueError(f"{url} has no jwks_uri")
        return jwks_uri


class TokenVerifier:
    """Checks a bearer JWT and answers its claims."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.algorithms = settings.oidc_algorithm_list
        self.keys = ProviderKeys(settings)

    async def claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise TokenRefused(f"not a readable JWT: {exc}") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            # Checked before any key is looked up: `none`, HS256 and the like never reach one.
            raise TokenRefused(f"the token's algorithm {alg!r} is not accepted (accepted: "
                               f"{', '.join(self.algorithms)})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("the token names no signing key (kid)")
        key = await self.keys.key(kid)
        claims = self._decode(token, key)
        kind = claims.get("typ")
        if isinstance(kind, str) and kind.lower() in NOT_ACCESS_TOKENS:
            raise TokenRefused(f"the token is an {kind} token, not an access token")
        parties = self.settings.oidc_authorized_party_list
        if parties:
            client = next((claims[name] for name in CLIENT_CLAIMS if isinstance(claims.get(name), str)), None)
            if client is None:
                raise TokenRefused(f"the token names no client application ({', '.join(CLIENT_CLAIMS)})")
            if client not in parties:
                raise TokenRefused(f"the token was issued to client {client!r}, which may not call this API")
        return claims

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        audiences = self.settings.oidc_audience_list
        try:
            return jwt.decode(token, key=key, algorithms=self.algorithms, audience=audiences,
                              issuer=self.settings.oidc_issuer, leeway=self.settings.oidc_leeway_seconds,
                              options={"require": REQUIRED_CLAIMS})
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("the token is not valid yet (nbf or iat is in the future)") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(f"the token is not meant for this API (audience is not "
                               f"{' or '.join(map(repr, audiences))})") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused(f"the token was not issued by {self.settings.oidc_issuer!r}") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"invalid token: {exc}") from None
