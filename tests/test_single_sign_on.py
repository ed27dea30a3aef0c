"""Single sign-on through HTTP: an identity provider made here (a key pair per test, discovery and
JWKS served by a real HTTP server on this machine) signs tokens; the API checks them against the
keys it fetches and signs in the user their claims name, with the roles and teams their groups map to.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
import time
import uuid
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import ValidationError

from casework.people import sso as claims_mapping
from casework.platform.config import Settings
from devtools.embedded import free_port
from tests.casefixtures import auth, complaint

ADMIN = auth("admin")
AUDIENCE = "api://casework-tests"
GROUP_ROLES = {"cw-managers": ["manager"], "cw-handlers": ["handler"], "cw-admins": ["admin"]}
GROUP_TEAMS = {"cw-central": ["CENTRAL"], "cw-billing": ["BILLING"], "cw-not-yet": ["NOSUCHTEAM"]}


class IdentityProvider:
    """Discovery and JWKS over HTTP, and tokens signed by its keys."""

    def __init__(self) -> None:
        self.private: dict[str, Any] = {}
        self.published: list[str] = []
        self.jwks_requests = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/jwks",
                            "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
                elif self.path == "/jwks":
                    provider.jwks_requests += 1
                    body = {"keys": [provider.public_jwk(kid) for kid in provider.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def new_key(self, kid: str, kind: str = "RSA", publish: bool = True) -> str:
        self.private[kid] = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "RSA"
                             else ec.generate_private_key(ec.SECP256R1()))
        if publish:
            self.published.append(kid)
        return kid

    def public_jwk(self, kid: str) -> dict[str, Any]:
        key = self.private[kid]
        if isinstance(key, rsa.RSAPrivateKey):
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"alg": "RS256"}
        else:
            jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"alg": "ES256"}
        return jwk | {"kid": kid, "use": "sig"}

    def token(self, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": AUDIENCE, "sub": f"sub-{uuid.uuid4().hex[:12]}",
                "iat": now, "nbf": now, "exp": now + 300} | claims
        alg = "RS256" if isinstance(self.private[kid], rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(body, self.private[kid], algorithm=alg, headers={"kid": kid})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp():
    provider = IdentityProvider()
    provider.new_key("k1")
    yield provider
    provider.stop()


def sso_settings(settings: Settings, issuer: str, **overrides: Any) -> Settings:
    """The suite's settings with single sign-on on (validated as an operator's would be)."""
    values = {"oidc_issuer": issuer, "oidc_audience": AUDIENCE, "oidc_group_roles": GROUP_ROLES,
              "oidc_group_teams": GROUP_TEAMS, "oidc_provision_users": True, "oidc_leeway_seconds": 120} | overrides
    return Settings(**(settings.model_dump() | values))


@asynccontextmanager
async def api_with(settings: Settings, temporal, engine):
    from api.main import create_app

    app = create_app(settings, temporal=temporal, engine=engine)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                     timeout=60) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def sso(settings, temporal, engine, worker, idp):
    async with api_with(sso_settings(settings, idp.issuer, oidc_jwks_refresh_seconds=0), temporal, engine) as client:
        yield client


def base64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert reason in response.json()["detail"], response.json()
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="casework", error="invalid_token", error_description="'), challenge


async def audit_of(api, username: str) -> list[str]:
    entries = (await api.get("/admin/audit", headers=ADMIN, params={"subject": username})).json()
    return [entry["action"] for entry in entries]


# ---- signing in -----------------------------------------------------------------------------------


async def test_a_valid_token_reaches_a_case_route_with_the_roles_and_teams_its_groups_map_to(sso, idp):
    tag = uuid.uuid4().hex[:8]
    token = idp.token(sub=f"entra-{tag}", preferred_username=f"mo.{tag}@example.org", name="Mo Signed-In",
                      email=f"mo.{tag}@example.org", groups=["cw-managers", "cw-central", "cw-not-yet", "other"])
    me = await sso.get("/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == f"mo.{tag}@example.org" and me.json()["display_name"] == "Mo Signed-In"
    assert me.json()["roles"] == ["manager"] and me.json()["teams"] == ["CENTRAL"]  # NOSUCHTEAM does not exist
    assert "cases.register" in me.json()["permissions"]

    registered = await sso.post("/cases", headers=bearer(token), json=complaint())
    assert registered.status_code == 201, registered.text
    reference = registered.json()["reference"]
    read = await sso.get(f"/cases/{reference}", headers=bearer(token))
    assert read.status_code == 200 and read.json()["reference"] == reference

    user = (await sso.get(f"/admin/users/mo.{tag}@example.org", headers=ADMIN)).json()
    assert user["external_subject"] == f"entra-{tag}" and user["first_sso_sign_in_at"] is not None
    assert await audit_of(sso, f"mo.{tag}@example.org") == ["user.provisioned"]  # once, not per request


NOW = object()  # stands for the time the test signs the token


@pytest.mark.parametrize("claims, reason", [
    ({"exp": (NOW, -600)}, "expired"),
    ({"nbf": (NOW, 600)}, "not valid yet"),
    ({"iat": (NOW, 600)}, "not valid yet"),
    ({"aud": "api://someone-else"}, "not meant for this API"),
    ({"iss": "https://evil.example.org"}, "was not issued by"),
    ({"exp": None}, 'missing the "exp" claim'),
], ids=["expired", "not yet valid", "issued in the future", "wrong audience", "wrong issuer", "no expiry"])
async def test_a_token_that_is_not_right_is_refused_saying_why(sso, idp, claims, reason):
    now = int(time.time())
    token = idp.token(groups=["cw-managers"], **{k: now + v[1] if isinstance(v, tuple) else v
                                                 for k, v in claims.items() if v is not None})
    if claims.get("exp", 0) is None:
        body = jwt.decode(token, options={"verify_signature": False})
        del body["exp"]
        token = jwt.encode(body, idp.private["k1"], algorithm="RS256", headers={"kid": "k1"})
    refused(await sso.get("/me", headers=bearer(token)), reason)


@pytest.mark.parametrize("kind", ["ID", "Refresh"])
async def test_an_id_or_refresh_token_is_refused_even_for_this_audience(sso, idp, kind):
    """Keycloak names the kind of token in its `typ` claim; only access tokens ("Bearer") pass."""
    refused(await sso.get("/me", headers=bearer(idp.token(groups=["cw-managers"], typ=kind))),
            f"is an {kind} token, not an access token")
    assert (await sso.get("/me", headers=bearer(idp.token(groups=["cw-managers"], typ="Bearer")))).status_code == 200


async def test_only_the_authorised_client_applications_tokens_are_accepted(settings, temporal, engine, worker, idp):
    only = sso_settings(settings, idp.issuer, oidc_authorized_parties="casework-web, casework-cli")
    async with api_with(only, temporal, engine) as client:
        for claim in ("azp", "appid", "client_id", "cid"):  # Entra v2, Entra v1, RFC 9068, Okta
            token = idp.token(groups=["cw-handlers"], **{claim: "casework-cli"})
            assert (await client.get("/me", headers=bearer(token))).status_code == 200, claim
        refused(await client.get("/me", headers=bearer(idp.token(groups=["cw-handlers"], azp="reporting-tool"))),
                "issued to client 'reporting-tool', which may not call this API")
        refused(await client.get("/me", headers=bearer(idp.token(groups=["cw-handlers"]))),
                "names no client application")


async def test_several_audiences_accept_a_token_for_any_of_them(settings, temporal, engine, worker, idp):
    both = sso_settings(settings, idp.issuer, oidc_audience=f"api://casework-old,{AUDIENCE}")
    async with api_with(both, temporal, engine) as client:
        for audience in ("api://casework-old", AUDIENCE):
            token = idp.token(groups=["cw-handlers"], aud=audience)
            assert (await client.get("/me", headers=bearer(token))).status_code == 200, audience
        refused(await client.get("/me", headers=bearer(idp.token(groups=["cw-handlers"], aud="api://other"))),
                "audience is not 'api://casework-old' or")


async def test_a_token_within_the_leeway_of_its_expiry_is_still_accepted(sso, idp):
    token = idp.token(groups=["cw-handlers"], exp=int(time.time()) - 30)  # leeway 120 s
    assert (await sso.get("/me", headers=bearer(token))).status_code == 200


async def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(sso, idp):
    idp.new_key("stranger", publish=False)
    refused(await sso.get("/me", headers=bearer(idp.token("stranger", groups=["cw-managers"]))),
            "signed with key 'stranger', which the identity provider does not publish")


async def test_alg_none_and_hs256_signed_with_the_public_key_are_refused_before_any_key_is_used(sso, idp):
    claims = jwt.decode(idp.token(groups=["cw-admins"]), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    refused(await sso.get("/me", headers=bearer(unsigned)), "algorithm 'none' is not accepted")

    # The classic confusion: the provider's public key (which anyone can fetch) used as an HMAC secret.
    # PyJWT will not sign so (it refuses a PEM or JWK as an HMAC secret), so the forger does it by hand.
    public_pem = idp.private["k1"].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = b".".join(base64url(json.dumps(part).encode())
                              for part in ({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims))
    forged = (signing_input + b"." + base64url(hmac.digest(public_pem, signing_input, "sha256"))).decode()
    refused(await sso.get("/me", headers=bearer(forged)), "algorithm 'HS256' is not accepted")

    # A token claiming RS256 but signed with another key fails on its signature.
    idp.new_key("k-other", publish=False)
    tampered = jwt.encode(claims, idp.private["k-other"], algorithm="RS256", headers={"kid": "k1"})
    refused(await sso.get("/me", headers=bearer(tampered)), "Signature verification failed")


async def test_an_ec_key_signs_tokens_as_well_as_an_rsa_one(sso, idp):
    idp.new_key("ec1", kind="EC")
    assert (await sso.get("/me", headers=bearer(idp.token("ec1", groups=["cw-handlers"])))).status_code == 200


# ---- keys ---------------------------------------------------------------------------------------


async def test_a_rotated_key_is_fetched_when_first_seen_and_the_old_one_refused_once_removed(sso, idp):
    sub = f"rotating-{uuid.uuid4().hex[:8]}"
    old = idp.token("k1", sub=sub, groups=["cw-handlers"])
    assert (await sso.get("/me", headers=bearer(old))).status_code == 200
    fetched = idp.jwks_requests

    idp.new_key("k2", publish=False)
    idp.published = ["k2"]  # the provider rotates: k1 is withdrawn, k2 signs from now on
    new = idp.token("k2", sub=sub, groups=["cw-handlers"])
    assert (await sso.get("/me", headers=bearer(new))).status_code == 200
    assert idp.jwks_requests == fetched + 1  # the unknown kid made us fetch the keys again

    refused(await sso.get("/me", headers=bearer(old)), "signed with key 'k1', which the identity provider "
                                                       "does not publish")


async def test_unknown_key_ids_fetch_the_keys_again_at_most_once_per_refresh_interval(
        settings, temporal, engine, worker, idp):
    limited = sso_settings(settings, idp.issuer, oidc_jwks_refresh_seconds=3600)
    async with api_with(limited, temporal, engine) as api:
        assert (await api.get("/me", headers=bearer(idp.token(groups=["cw-handlers"])))).status_code == 200
        assert idp.jwks_requests == 1
        for attempt in range(5):  # an attacker's made-up key ids
            idp.new_key(f"made-up-{attempt}", publish=False)
            refused(await api.get("/me", headers=bearer(idp.token(f"made-up-{attempt}"))), "does not publish")
        assert idp.jwks_requests == 1
        assert api.app.state.oidc.keys.fetches == 1


async def test_the_keys_come_from_a_configured_jwks_url_without_discovery(settings, temporal, engine, worker, idp):
    direct = sso_settings(settings, "https://login.example.org/tenant/v2.0", oidc_jwks_url=f"{idp.issuer}/jwks")
    async with api_with(direct, temporal, engine) as api:
        token = idp.token(iss="https://login.example.org/tenant/v2.0", groups=["cw-handlers"])
        assert (await api.get("/me", headers=bearer(token))).status_code == 200


async def test_a_provider_out_of_reach_is_a_503_to_retry_not_a_401(settings, temporal, engine, worker, idp):
    nowhere = sso_settings(settings, f"http://127.0.0.1:{free_port()}")
    async with api_with(nowhere, temporal, engine) as api:
        answer = await api.get("/me", headers=bearer(idp.token(iss=nowhere.oidc_issuer)))
        assert answer.status_code == 503 and answer.headers["Retry-After"], answer.text
        assert "signing keys could not be fetched" in answer.json()["detail"]


# ---- users, groups, deactivation -----------------------------------------------------------------


async def test_roles_and_teams_the_mappings_name_follow_the_groups_and_others_stay(sso, idp):
    sub, username = f"sync-{uuid.uuid4().hex[:8]}", f"sync.{uuid.uuid4().hex[:8]}"
    first = idp.token(sub=sub, preferred_username=username, groups=["cw-managers", "cw-central"])
    assert (await sso.get("/me", headers=bearer(first))).json()["roles"] == ["manager"]
    # An administrator adds a role and a team the mappings do not name: sign-in leaves those alone.
    patched = await sso.patch(f"/admin/users/{username}", headers=ADMIN,
                              json={"roles": ["manager", "qa_reviewer"], "teams": ["CENTRAL", "CONDUCT"]})
    assert patched.status_code == 200, patched.text

    moved = idp.token(sub=sub, groups=["cw-handlers", "cw-billing"])
    me = (await sso.get("/me", headers=bearer(moved))).json()
    assert me["roles"] == ["handler", "qa_reviewer"] and me["teams"] == ["BILLING", "CONDUCT"]
    assert "cases.register" in me["permissions"] and "people.administer" not in me["permissions"]
    # A change of groups alone (nothing administered meanwhile) is seen at the next request.
    back = (await sso.get("/me", headers=bearer(idp.token(sub=sub, groups=["cw-handlers", "cw-central"])))).json()
    assert back["roles"] == ["handler", "qa_reviewer"] and back["teams"] == ["CENTRAL", "CONDUCT"]
    trail = (await sso.get("/admin/audit", headers=ADMIN, params={"subject": username, "action": "user.synced"})).json()
    assert [(e["before"], e["after"]) for e in trail] == [
        ({"teams": ["BILLING", "CONDUCT"]}, {"teams": ["CENTRAL", "CONDUCT"]}),
        ({"roles": ["manager", "qa_reviewer"], "teams": ["CENTRAL", "CONDUCT"]},
         {"roles": ["handler", "qa_reviewer"], "teams": ["BILLING", "CONDUCT"]})]


async def test_a_deactivated_user_is_refused_however_valid_their_token(sso, idp):
    sub, username = f"leaver-{uuid.uuid4().hex[:8]}", f"leaver.{uuid.uuid4().hex[:8]}"
    token = idp.token(sub=sub, preferred_username=username, groups=["cw-handlers"])
    assert (await sso.get("/me", headers=bearer(token))).status_code == 200
    deactivated = await sso.patch(f"/admin/users/{username}", headers=ADMIN, json={"active": False})
    assert deactivated.status_code == 200, deactivated.text
    refused(await sso.get("/me", headers=bearer(idp.token(sub=sub, groups=["cw-handlers"]))),
            f"user '{username}' is deactivated")


async def test_without_provisioning_an_administrator_links_the_user_first(settings, temporal, engine, worker, idp):
    linked_only = sso_settings(settings, idp.issuer, oidc_provision_users=False, oidc_group_roles={},
                               oidc_group_teams={})
    sub, username = f"pré-{uuid.uuid4().hex[:8]}", f"pre.{uuid.uuid4().hex[:8]}"  # any text may be a sub
    async with api_with(linked_only, temporal, engine) as api:
        refused(await api.get("/me", headers=bearer(idp.token(sub=sub))),
                f"no user here has the external subject '{sub}': an administrator must create them first")
        created = await api.post("/admin/users", headers=ADMIN, json={
            "username": username, "display_name": "Pre Created", "roles": ["handler"], "teams": ["SERVICE"],
            "external_subject": sub})
        assert created.status_code == 201, created.text
        taken = await api.post("/admin/users", headers=ADMIN, json={
            "username": f"{username}-2", "display_name": "Twin", "external_subject": sub})
        assert taken.status_code == 409 and "already signs in as" in taken.text

        me = await api.get("/me", headers=bearer(idp.token(sub=sub, groups=["cw-admins"])))
        assert me.status_code == 200, me.text
        assert me.json()["roles"] == ["handler"]  # no mapping: roles are administered here
        await api.get("/me", headers=bearer(idp.token(sub=sub)))
        assert await audit_of(api, username) == ["user.first_sign_in", "user.created"]


async def test_provisioning_needs_a_group_that_grants_a_role(sso, idp):
    refused(await sso.get("/me", headers=bearer(idp.token(groups=["other"]))), "none of your groups grants a role")


async def test_matching_by_email_links_the_subject_on_the_first_sign_in(settings, temporal, engine, worker, idp):
    by_email = sso_settings(settings, idp.issuer, oidc_user_claim="email", oidc_provision_users=False)
    tag = uuid.uuid4().hex[:8]
    async with api_with(by_email, temporal, engine) as api:
        created = await api.post("/admin/users", headers=ADMIN, json={
            "username": f"mail.{tag}", "display_name": "By Mail", "email": f"Mail.{tag}@Example.org"})
        assert created.status_code == 201, created.text
        token = idp.token(sub=f"okta-{tag}", email=f"mail.{tag}@example.org", groups=["cw-handlers"])
        me = await api.get("/me", headers=bearer(token))
        assert me.status_code == 200 and me.json()["username"] == f"mail.{tag}", me.text
        user = (await api.get(f"/admin/users/mail.{tag}", headers=ADMIN)).json()
        assert user["external_subject"] == f"okta-{tag}"

        # Someone else whose provider account now carries that address does not take the user over.
        other = idp.token(sub=f"okta-other-{tag}", email=f"mail.{tag}@example.org", groups=["cw-handlers"])
        refused(await api.get("/me", headers=bearer(other)), "signs in as another subject")
        unverified = idp.token(sub=f"okta-new-{tag}", email=f"mail.{tag}@example.org", email_verified=False)
        refused(await api.get("/me", headers=bearer(unverified)), "no verified email claim")


# ---- side by side with API tokens -----------------------------------------------------------------


async def test_api_tokens_still_work_beside_single_sign_on(sso, api, idp):
    assert (await sso.get("/me", headers=ADMIN)).json()["username"] == "admin"
    refused(await sso.get("/me", headers=bearer("not-a-token-we-issued")),
            "invalid, expired or revoked API token, and not a JWT from the identity provider")
    missing = await sso.get("/me")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="casework"'
    # Where single sign-on is not configured (the default), a JWT is refused saying so.
    refused(await api.get("/me", headers=bearer(idp.token(groups=["cw-admins"]))),
            "single sign-on is not configured here")


async def test_the_openapi_document_offers_the_identity_provider_beside_api_tokens(sso, idp):
    schema = (await sso.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["oidc"] == {
        "type": "openIdConnect", "openIdConnectUrl": f"{idp.issuer}/.well-known/openid-configuration",
        "description": schema["components"]["securitySchemes"]["oidc"]["description"]}
    assert schema["paths"]["/me"]["get"]["security"] == [{"bearer": []}, {"oidc": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


# ---- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("values, message", [
    ({"oidc_issuer": "https://idp.example.org"}, "without OIDC_AUDIENCE"),
    ({"oidc_algorithms": "RS256,HS256"}, "not HS256"),
    ({"oidc_algorithms": "none"}, "not none"),
    ({"environment": "production", "oidc_issuer": "http://idp.example.org"}, "needs https for OIDC_ISSUER"),
    ({"oidc_group_roles": {"managers": ["Manager"]}}, "maps to 'Manager', not role names"),
    ({"oidc_group_teams": {"billing": ["billing"]}}, "maps to 'billing', not team codes"),
])
def test_settings_refuse_single_sign_on_that_would_be_unsafe(values, message):
    base = {"oidc_issuer": "https://idp.example.org", "oidc_audience": AUDIENCE, "database_url": "postgresql://x",
            "temporal_address": "t:7233", "smtp_host": "smtp", "signing_key": "k"}
    if "oidc_issuer" in values and len(values) == 1:
        base.pop("oidc_audience")
    with pytest.raises(ValidationError, match=message):
        Settings(**(base | values))


def test_single_sign_on_is_off_by_default_and_reads_its_mappings_as_json(monkeypatch):
    assert Settings(_env_file=None).oidc_issuer == ""
    monkeypatch.setenv("OIDC_GROUP_ROLES", '{"casework-managers": ["manager"]}')
    monkeypatch.setenv("OIDC_GROUP_TEAMS", '{"casework-billing": ["BILLING"]}')
    read = Settings(_env_file=None)
    assert read.oidc_group_roles == {"casework-managers": ["manager"]}
    assert read.oidc_group_teams == {"casework-billing": ["BILLING"]}


# ---- claims, pure -------------------------------------------------------------------------------


@pytest.mark.parametrize("claim, username", [
    ("jane.doe@example.org", "jane.doe@example.org"),
    ("Jane Doe", "Jane-Doe"),
    ("DOMAIN\\jdoe", "DOMAIN-jdoe"),
    ("..hidden", "hidden"),
    ("élise", "lise"),
    ("!!!", "user"),
    ("x" * 150, "x" * 100),
])
def test_a_claim_becomes_a_username_our_rules_accept(claim, username):
    assert claims_mapping.usable_username(claim) == username


def test_claims_map_to_who_signs_in_with_nested_groups_and_without_an_unverified_email():
    keycloak = sso_settings_only(oidc_groups_claim="realm_access.roles")
    who = claims_mapping.sign_in_from({"sub": "abc", "preferred_username": "kc user", "email": "kc@example.org",
                            "email_verified": False, "realm_access": {"roles": ["b", "a", "a", 7]}}, keycloak)
    assert who == claims_mapping.SignIn(subject="abc", email=None, username="kc-user", display_name="kc-user", groups=("a", "b"))
    spaced = claims_mapping.sign_in_from({"sub": "abc", "groups": "x y", "name": "Ann"}, sso_settings_only())
    assert (spaced.groups, spaced.username, spaced.display_name) == (("x", "y"), "abc", "Ann")
    with pytest.raises(claims_mapping.SignInRefused, match="sub claim"):
        claims_mapping.sign_in_from({"sub": "s" * 256}, sso_settings_only())


def sso_settings_only(**values: Any) -> Settings:
    return Settings(_env_file=None, oidc_issuer="https://idp.example.org", oidc_audience=AUDIENCE, **values)
