"""The FastAPI application. `uvicorn api.main:app`; FastAPI's /docs is the API reference."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api import errors
from api.casesteps import has_case_authorisation
from api.deps import CASE_PATH, ShortLivedCache, refuse_unstorable_parameters
from api.metrics import ApiMetrics, RequestObserver
from api.openapi import RETRY_AFTER, api_routes, document_error_answers
from api.routes import (
    admin,
    case_types,
    cases,
    digests,
    documents,
    ledger,
    operations,
    parties,
    people,
    reference,
    reference_lists,
    search,
    standard_lines,
    statistics,
    tasks,
    templates,
)
from api.schemas.base import configure_date_bounds
from casework.documents import printing
from casework.kinds import KINDS
from casework.people.oidc import TokenVerifier
from casework.platform import tracing
from casework.platform.config import Settings, get_settings
from casework.platform.db import dispose_engine, make_engine, make_sessionmaker
from casework.platform.logs import configure_logging
from casework.platform.temporal import connect
from casework.reference_lists import ListValueError

log = logging.getLogger("casework.api")


def create_app(settings: Settings | None = None, *, temporal=None, engine=None, tracer_provider=None) -> FastAPI:
    """Build the app. Tests pass their own Temporal client and engine (and a tracer provider to
    trace requests with); `uvicorn` uses settings, and the app then sets up the process's logs and
    tracing as they say."""
    settings = settings or get_settings()
    configure_date_bounds(settings.earliest_date_received, settings.date_horizon_days)
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        own_engine = engine is None
        if temporal is None:  # a process of its own (uvicorn), not a test's app
            # At the level uvicorn was given (--log-level), INFO by default.
            configure_logging(settings.log_format, logging.getLogger("uvicorn.error").level or logging.INFO)
            tracing.configure(settings, "casework-api")
        app.state.engine = engine or make_engine(settings.database_url)
        tracing.trace_sql(app.state.engine, tracer_provider or tracing.current())
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        app.state.temporal = temporal or await connect(settings)
        log.info("letters printed to PDF by %s", printing.printer_for(settings).describe())
        yield
        if own_engine:
            await dispose_engine(app.state.engine)

    app = FastAPI(
        title="Complaint case management",
        version="0.1.0",
        description="Every complaint is a durable Temporal workflow; this API moves it through its "
        "stages. Authenticate with `Authorization: Bearer <token>`: an API token, or an access token "
        "from the organisation's identity provider where single sign-on is configured.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry spans: on with `tracer_provider`, or once casework.platform.tracing
        # has set the process's; off (nothing done per request) otherwise.
        telemetry={"tracer_provider": tracer_provider} if tracer_provider is not None else None,
        dependencies=[Depends(refuse_unstorable_parameters)],
        exception_handlers={RequestValidationError: errors.validation_failed,
                            ListValueError: errors.list_value_refused,
                            **dict.fromkeys(errors.DATABASE_FAULTS, errors.database_unreachable)},
    )
    app.state.settings = settings
    app.state.cache = ShortLivedCache()
    app.state.oidc = TokenVerifier(settings) if settings.oidc_issuer else None  # single sign-on, when configured
    # Prometheus metrics on the API's own port, outside the OpenAPI document (docs/operations.md#metrics).
    app.add_middleware(RequestObserver, metrics=metrics)
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    app.include_router(cases.router)
    for kind in KINDS:  # each kind of case's own steps (api/routes/<kind>.py)
        app.include_router(importlib.import_module(f"api.routes.{kind}").router)
    app.include_router(tasks.router)
    app.include_router(documents.router)
    app.include_router(reference.router)
    app.include_router(search.router)
    app.include_router(statistics.router)
    app.include_router(digests.router)
    app.include_router(admin.router)
    app.include_router(operations.router)
    app.include_router(standard_lines.router)
    app.include_router(templates.router)
    app.include_router(people.router)
    app.include_router(parties.router)
    app.include_router(ledger.router)
    app.include_router(reference_lists.router)
    app.include_router(case_types.router)
    document_error_answers(app)

    refuse_unauthorised_case_routes(app)

    @app.get("/health", tags=["operations"], responses={503: {
        "description": "not ready: `checks` names what is out of reach", **RETRY_AFTER}})
    async def health() -> JSONResponse:
        """Readiness: each dependency checked on its own; 503 (with Retry-After) if any is out of reach."""
        checks = {"database": await _check(_database_answers()), "temporal": await _check(_temporal_answers())}
        ready = all(check["ok"] for check in checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks,
             "temporal_namespace": settings.temporal_namespace,
             # Who prints letters (casework.documents.printing): libreoffice or builtin.
             "pdf_renderer": printing.printer_for(settings).renderer},
            status_code=200 if ready else 503,
            headers={} if ready else {"Retry-After": str(errors.RETRY_AFTER_SECONDS)})

    @app.get("/health/live", tags=["operations"])
    async def live() -> dict[str, str]:
        """Liveness: the process answers (a dependency being down is not a reason to restart it)."""
        return {"status": "ok"}

    async def _database_answers() -> None:
        async with app.state.sessionmaker() as session:
            await session.execute(text("select 1"))

    async def _temporal_answers() -> None:
        await app.state.temporal.service_client.check_health(timeout=timedelta(seconds=HEALTH_TIMEOUT))

    return app


HEALTH_TIMEOUT = 3  # seconds each dependency has to answer /health


async def _check(answer: Awaitable[None]) -> dict[str, Any]:
    try:
        await asyncio.wait_for(answer, HEALTH_TIMEOUT)
    except Exception as exc:  # noqa: BLE001  (any failure means: not ready)
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {"ok": True}


def refuse_unauthorised_case_routes(app: FastAPI) -> None:
    """Every route whose path names a case must take it through api.casesteps.authorised_case (the
    one authorisation path: visibility, then role); an app with one that does not is not built."""
    for path, route in api_routes(app):
        if CASE_PATH in route.path_format and not has_case_authorisation(route.dependant):
            raise RuntimeError(f"{sorted(route.methods or ())} {path} takes a case reference without "
                               "api.casesteps.authorised_case")


app = create_app()
