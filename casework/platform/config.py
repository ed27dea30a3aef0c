"""One place for every setting. Environment variables (or a .env file) override the embedded defaults."""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from casework.calendar.bounds import (
    DEFAULT_EARLIEST_DATE_RECEIVED,
    DEFAULT_HORIZON_DAYS,
    FLOOR,
    MAX_HORIZON_DAYS,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The signature algorithms single sign-on may accept: asymmetric only, so a provider's public key
# can never be used as an HMAC secret, and never `none`.
OIDC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                             "EdDSA"})

LogFormat = Literal["text", "json"]
WorkflowRunnerName = Literal["sandboxed", "lean-sandboxed", "unsandboxed", "lean-unsandboxed"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: str = "development"
    data_dir: Path = PROJECT_ROOT / "data"
    templates_dir: Path = PROJECT_ROOT / "templates"

    # Empty means "start the embedded one" (see devtools.devstack).
    database_url: str = ""
    temporal_address: str = ""
    temporal_namespace: str = "default"
    # TLS to the Temporal frontend (a self-hosted cluster behind TLS, Temporal Cloud). Setting any
    # of the files or an API key turns it on; TEMPORAL_TLS=true alone uses the system's CAs.
    temporal_tls: bool = False
    temporal_tls_ca: Path | None = None  # the server's CA, when it is not one the system trusts
    temporal_tls_cert: Path | None = None  # client certificate and key, for mTLS
    temporal_tls_key: Path | None = None
    temporal_tls_server_name: str = ""  # the name to verify, when it differs from the address's host
    temporal_api_key: str = ""  # Temporal Cloud API key (instead of a client certificate)
    task_queue: str = "complaint-cases"
    # Temporal's default; the benchmark raises it to measure memory per cached open case.
    worker_max_cached_workflows: int = 1000
    # How the worker runs workflow code (casework.platform.workflow_runner.build_workflow_runner):
    #   sandboxed         Temporal's sandbox (the default): it re-imports our workflow modules for
    #                     each run and refuses non-deterministic calls (datetime.now(), random,
    #                     uuid4(), time.time(), I/O) by failing the workflow task, which retries,
    #                     before anything replay could not reproduce reaches a case's history.
    #   unsandboxed       no such checks: less CPU per activation and memory per cached case
    #                     (docs/performance.md); only tests/test_workflow_determinism.py's static scan
    #                     and the replay tests guard the workflow code then. Opt-in.
    #   lean-sandboxed, lean-unsandboxed
    #                     the same through LeanWorkflowRunner, which keeps less of the SDK's last
    #                     messages per cached case (all of it only unsandboxed). Opt-in.
    workflow_runner: WorkflowRunnerName = "sandboxed"
    # The setting WORKFLOW_RUNNER replaced, read only when WORKFLOW_RUNNER is not set: true ran
    # lean-sandboxed, false lean-unsandboxed, and still does.
    workflow_sandbox: bool | None = None

    # The case type a registration that names none gets; empty: every registration must name one.
    default_case_type: str = "COMP"
    # Customer complaints: accepting a sales adjustment above this amount in its currency needs the
    # customer_complaint.decide_above_limit permission; in a currency not listed, any amount does.
    # Env: CUSTOMER_COMPLAINT_DECISION_LIMITS='{"GBP": "1000.00"}'
    customer_complaint_decision_limits: dict[str, Decimal] = {"GBP": Decimal("1000"), "EUR": Decimal("1000"),
                                                              "USD": Decimal("1000")}
    # Lead complaints: the team taking one assigns it to; the teams a dispute escalates through, in
    # order; the working days each has to pick it up before it escalates to the next by itself.
    lead_complaint_team: str = "COMPLIANCE"
    lead_dispute_chain: str = "LEADMGMT,EXEC"
    lead_dispute_pickup_days: int = Field(2, ge=1, le=60)

    # Frontline complaint handling (docs/frontline.md): the case type intake registers, how long
    # after closing a complaint a contact about the same issue is still a repeat, when an agent's
    # working day ends (a same-day follow-up is due then), and the shipped call script's brand
    # (an administrator's version of the script names its own: casework/documents/call_scripts.py).
    frontline_case_type: str = "FRONT"
    frontline_repeat_window_days: int = Field(30, ge=0, le=3650)
    frontline_day_ends: time = time(17, 30)
    frontline_brand: str = "Casework"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_ui_port: int = 8233

    # Observability (docs/operations.md#metrics-traces-and-logs). The API serves Prometheus metrics
    # at /metrics on its own port; the worker on this address (port 0: none).
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(9464, ge=0, le=65535)
    # OTLP/HTTP collector base URL (e.g. http://collector:4318): traces on. Empty: tracing off,
    # nothing instrumented. The SDK's other OTEL_* variables (headers, service name) apply.
    otel_exporter_otlp_endpoint: str = ""
    # text: one readable line per record (development); json: one JSON object per line.
    log_format: LogFormat = "text"

    # Empty SMTP host means the dev stack starts a local sink that keeps each message under data/mail/.
    smtp_host: str = ""
    smtp_port: int = 8025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = 30.0
    mail_from: str = "Complaints Team <complaints@example.org>"

    # Who prints letters to PDF (casework.documents.printing): auto (LibreOffice when found, else
    # the built-in renderer), libreoffice (required), builtin. LIBREOFFICE_PATH names the binary
    # when it is not soffice/libreoffice on the PATH; each conversion may take this long.
    pdf_renderer: Literal["auto", "libreoffice", "builtin"] = "auto"
    libreoffice_path: str = ""
    libreoffice_timeout_seconds: float = Field(60.0, gt=0, le=600)

    max_upload_bytes: int = 20 * 1024 * 1024
    # A draft response is printed by the post room or emailed as a PDF: keep it email-sized.
    max_draft_bytes: int = 10 * 1024 * 1024

    # How far back and ahead a date typed into a step may reach (casework.calendar.bounds): a date
    # received not before this; a reply-by, contribution due or holding-response date at most this
    # many days after today. The workflow refuses anything beyond the widest values allowed here.
    earliest_date_received: date = Field(DEFAULT_EARLIEST_DATE_RECEIVED, ge=FLOOR)
    date_horizon_days: int = Field(DEFAULT_HORIZON_DAYS, ge=1, le=MAX_HORIZON_DAYS)

    # Signs the unsubscribe links in digest emails; required outside development, where a
    # known default would let anyone unsubscribe anyone.
    signing_key: str = ""
    # Where people reach the API (links in emails point here); default http://API_HOST:API_PORT.
    public_url: str = ""

    # Single sign-on (docs/single-sign-on.md): bearer JWTs from the organisation's OpenID Connect
    # provider are accepted beside API tokens. Off while OIDC_ISSUER is empty.
    oidc_issuer: str = ""  # e.g. https://login.microsoftonline.com/<tenant>/v2.0; tokens' `iss` must equal it
    # The `aud` the provider puts in tokens for this API (required with an issuer); several,
    # comma-separated, while an API identifier is being changed: `aud` must hold one of them.
    oidc_audience: str = ""
    # The client applications whose tokens are accepted, comma-separated; empty: any client the
    # provider gave a token for this audience. The token's `azp` (Entra v1: `appid`; Okta: `cid`;
    # RFC 9068: `client_id`) must name one of them.
    oidc_authorized_parties: str = ""
    oidc_jwks_url: str = ""  # empty: the jwks_uri of the issuer's discovery document
    # Signature algorithms accepted, comma-separated; only asymmetric ones (never none or HS*).
    oidc_algorithms: str = "RS256,ES256"
    oidc_leeway_seconds: int = Field(60, ge=0, le=300)  # clock skew allowed on exp, nbf and iat
    # Which claim finds our user: `sub` (kept as the user's external subject) or `email`.
    oidc_user_claim: Literal["sub", "email"] = "sub"
    oidc_username_claim: str = "preferred_username"  # the username a provisioned user gets
    # The claim listing the person's groups (or app roles); a dotted path reaches into an object
    # (Keycloak's realm_access.roles). Env: OIDC_GROUP_ROLES='{"casework-managers": ["manager"]}'
    oidc_groups_claim: str = "groups"
    oidc_group_roles: dict[str, list[str]] = {}
    oidc_group_teams: dict[str, list[str]] = {}
    # Create a user on their first sign-in when none matches (just-in-time provisioning).
    oidc_provision_users: bool = False
    oidc_jwks_cache_seconds: int = Field(3600, ge=0, le=86_400)  # keys are fetched again after this
    # A token signed by a key we do not hold fetches the keys again, at most once in this many seconds.
    oidc_jwks_refresh_seconds: int = Field(60, ge=0, le=3600)

    @model_validator(mode="after")
    def _single_sign_on_is_complete_and_safe(self) -> "Settings":
        if not self.oidc_issuer:
            return self
        if not self.oidc_audience_list:
            raise ValueError("OIDC_ISSUER is set without OIDC_AUDIENCE: tokens meant for another "
                             "application would be accepted")
        refused = sorted(set(self.oidc_algorithm_list) - OIDC_ALGORITHMS)
        if refused or not self.oidc_algorithm_list:
            raise ValueError(f"OIDC_ALGORITHMS may list only {', '.join(sorted(OIDC_ALGORITHMS))}"
                             + (f", not {', '.join(refused)}" if refused else ""))
        roles = {role for values in self.oidc_group_roles.values() for role in values}
        bad_roles = sorted(role for role in roles if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", role))
        if bad_roles:
            raise ValueError(f"OIDC_GROUP_ROLES maps to {', '.join(map(repr, bad_roles))}, not role names")
        teams = {team for values in self.oidc_group_teams.values() for team in values}
        bad_teams = sorted(team for team in teams if not re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{0,39}", team))
        if bad_teams:
            raise ValueError(f"OIDC_GROUP_TEAMS maps to {', '.join(map(repr, bad_teams))}, not team codes")
        if self.environment != "development":
            plain = [name for name, url in (("OIDC_ISSUER", self.oidc_issuer), ("OIDC_JWKS_URL", self.oidc_jwks_url))
                     if url and not _https_or_loopback(url)]
            if plain:
                raise ValueError(f"ENVIRONMENT={self.environment} needs https for {', '.join(plain)} "
                                 "(plain http only to this machine)")
        return self

    @property
    def oidc_algorithm_list(self) -> list[str]:
        return _comma_list(self.oidc_algorithms)

    @property
    def lead_dispute_chain_teams(self) -> list[str]:
        return _comma_list(self.lead_dispute_chain)

    @property
    def oidc_audience_list(self) -> list[str]:
        return _comma_list(self.oidc_audience)

    @property
    def oidc_authorized_party_list(self) -> list[str]:
        return _comma_list(self.oidc_authorized_parties)

    @model_validator(mode="after")
    def _runner_from_the_old_setting(self) -> "Settings":
        if self.workflow_sandbox is not None and "workflow_runner" not in self.model_fields_set:
            self.workflow_runner = "lean-sandboxed" if self.workflow_sandbox else "lean-unsandboxed"
        return self

    @model_validator(mode="after")
    def _refuse_development_defaults_in_production(self) -> "Settings":
        if self.environment != "development":
            missing = [
                name
                for name, value in (
                    ("DATABASE_URL", self.database_url),
                    ("TEMPORAL_ADDRESS", self.temporal_address),
                    ("SMTP_HOST", self.smtp_host),
                    ("SIGNING_KEY", self.signing_key),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"ENVIRONMENT={self.environment} needs real services; set {', '.join(missing)}"
                )
        return self

    @property
    def link_signing_key(self) -> bytes:
        return (self.signing_key or "development-only-signing-key").encode()

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def sqlalchemy_url(self) -> str:
        return to_sqlalchemy_url(self.database_url)


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _https_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in {"127.0.0.1", "::1", "localhost"})


def to_sqlalchemy_url(url: str) -> str:
    """Accept plain libpq URLs (postgresql://...) and point SQLAlchemy at psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
