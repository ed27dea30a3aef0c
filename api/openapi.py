"""The error answers each operation can give, written into the OpenAPI document from what each
route depends on, so /docs documents 401/403/404/409/503/504 where they can happen and a new route
is documented like its neighbours without anyone remembering to.

- 400: the route reads a body, which may not be readable at all (not UTF-8 JSON, broken multipart).
- 401 and 403: the route authenticates the caller (`get_current_user`).
- 404: the route addresses something by a path parameter (a case, a document, a subscription).
- 409: the route changes a case (a step the case's stage or status does not allow).
- 503 (with Retry-After): the route talks to Temporal (`get_client`) or PostgreSQL.
- 504: a case step whose outcome Temporal did not confirm in time.

Times of day are documented by the pattern they are written in (JSON Schema's `time` needs a UTC
offset, which a pydantic `time` is written without).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from api.deps import BEARER_SCHEME, get_client, get_current_user, get_session

_ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {
    "detail": {"description": "what is wrong: a message, or for 422 a list naming each field"}}}}}}
RETRY_AFTER = {"headers": {"Retry-After": {"description": "seconds to wait before sending the same request again",
                                      "schema": {"type": "integer"}}}}
ANSWERS: dict[str, dict[str, Any]] = {
    "400": {"description": "the body could not be read at all (not UTF-8 JSON, or broken multipart); a body "
                           "that reads but is wrong is a 422", **_ERROR},
    "401": {"description": "no bearer token, or one that is unknown, expired or revoked; or a JWT the identity "
                           "provider did not sign for this API, expired or not valid yet, or whose user is "
                           "deactivated (WWW-Authenticate says why)", **_ERROR},
    "403": {"description": "your roles or permissions do not allow this", **_ERROR},
    "404": {"description": "not found, or not yours to see (the two are never told apart)", **_ERROR},
    "409": {"description": "not allowed in the case's current stage or status (the answer names it)",
            **_ERROR},
    "503": {"description": "a service the request needs (Temporal, PostgreSQL, the identity provider's keys) is "
                           "busy or out of reach: "
                           "nothing was applied", **_ERROR, **RETRY_AFTER},
    "504": {"description": "the step was sent but its outcome was not confirmed in time: send it again "
                           "with the same Idempotency-Key", **_ERROR, **RETRY_AFTER},
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _has_path_params(dependant: Dependant) -> bool:
    return bool(dependant.path_params) or any(_has_path_params(sub) for sub in dependant.dependencies)


def answers_of(route: APIRoute) -> list[str]:
    calls = set(_calls(route.dependant))
    codes = []
    if route.body_field is not None:
        codes.append("400")
    if get_current_user in calls:
        codes += ["401", "403"]
    if _has_path_params(route.dependant):
        codes.append("404")
    changes = (route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
    if changes and "/cases/{" in route.path_format:
        codes.append("409")
    if get_client in calls or get_session in calls:
        codes.append("503")
    if changes and get_client in calls and "/cases" in route.path_format:
        codes.append("504")
    return codes


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every API route with its full path (FastAPI keeps included routers as route contexts)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.path_format:
            yield context.path_format, context.original_route


# A time of day as pydantic reads and writes it: "14:30" or "14:30:00", no UTC offset.
TIME_OF_DAY = {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$",
               "description": "a time of day, HH:MM[:SS], without a UTC offset"}


def _times_as_written(node: Any) -> None:
    """JSON Schema's `format: time` is RFC 3339's, which needs an offset ("14:30:00Z"); a pydantic
    `time` is written without one, so each is documented by the pattern it is written in."""
    if isinstance(node, dict):
        if node.get("format") == "time":
            node.pop("format")
            node.update({key: value for key, value in TIME_OF_DAY.items() if key not in node})
        for value in node.values():
            _times_as_written(value)
    elif isinstance(node, list):
        for value in node:
            _times_as_written(value)


OIDC_SCHEME = "oidc"


def declare_single_sign_on(schema: dict[str, Any], issuer: str) -> None:
    """Where single sign-on is configured, the identity provider is a second way to authenticate
    every operation that takes a bearer token (either one will do), so clients and /docs find it."""
    schema["components"]["securitySchemes"][OIDC_SCHEME] = {
        "type": "openIdConnect", "openIdConnectUrl": issuer.rstrip("/") + "/.well-known/openid-configuration",
        "description": "an access token from the organisation's identity provider, sent as "
                       "`Authorization: Bearer <JWT>`"}
    for operations in schema["paths"].values():
        for operation in operations.values():
            if {BEARER_SCHEME: []} in operation.get("security", []):
                operation["security"].append({OIDC_SCHEME: []})


def document_error_answers(app: FastAPI) -> None:
    """Make `app.openapi()` list each operation's error answers (once, then cached as FastAPI does)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            for path, route in api_routes(app):
                if not route.include_in_schema:
                    continue
                for method in route.methods or ():
                    operation = schema["paths"].get(path, {}).get(method.lower())
                    if operation is None:
                        continue
                    for code in answers_of(route):
                        operation["responses"].setdefault(code, ANSWERS[code])
            _times_as_written(schema)
            if app.state.oidc is not None:
                declare_single_sign_on(schema, app.state.oidc.settings.oidc_issuer)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
