"""Domain failures mapped to HTTP in one place.

Workflow rejections arrive as ApplicationErrors with a type: WrongStage and StepConflict -> 409
(naming the current stage), InvalidStep -> 422 (naming the field), StepForbidden -> 403.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import psycopg_pool
from fastapi import HTTPException, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.schemas.base import ECHO_LIMIT, clip
from casework.documents.rendering import TemplateError
from casework.reference_lists import ListValueError
from workflows.engine.errors import CONFLICT, DATA_REFUSED, FORBIDDEN, INVALID, NOT_VISIBLE, WRONG_STAGE


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def conflict(message: str) -> HTTPException:
    """409: the request clashes with what exists (a code or prefix taken, a change no longer allowed)."""
    return HTTPException(status.HTTP_409_CONFLICT, detail={"message": message})


def forbidden(message: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=message)


async def list_value_refused(request: Request, exc: Exception) -> Response:
    """A value not on its reference list (casework.reference_lists.ListValueError): 422 naming it."""
    assert isinstance(exc, ListValueError)
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                        content={"detail": [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]})


def unprocessable(field: str, message: str, location: str = "body") -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": [location, field], "msg": message, "type": "value_error"}],
    )


def template_refused(field: str, exc: TemplateError, location: str = "body") -> HTTPException:
    """422 for a template that will not render, saying where (paragraph or line) and what name."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": [location, field], "msg": str(exc), "type": "template_error",
                 "template": exc.template, "paragraph": exc.paragraph, "line": exc.line,
                 "placeholder": exc.placeholder}],
    )


def _echo(value: Any, limit: int = ECHO_LIMIT) -> Any:
    """A value from an invalid request, fit to echo: strings clipped and made encodable, a large
    structure replaced by the clipped text of its JSON."""
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(jsonable_encoder(value, custom_encoder={bytes: repr}), ensure_ascii=True,
                          default=repr)
        if len(text) > limit:
            return clip(text, limit)
        if isinstance(value, dict):
            return {clip(str(k), limit): _echo(v, limit) for k, v in value.items()}
        return [_echo(v, limit) for v in value]
    return value


def _fit(error: dict[str, Any]) -> dict[str, Any]:
    fitted: dict[str, Any] = {}
    for key, value in error.items():
        if key == "loc":
            fitted[key] = [clip(part) if isinstance(part, str) else part for part in value]
        elif key in ("input", "ctx", "msg"):
            fitted[key] = _echo(value, 500 if key == "msg" else ECHO_LIMIT)
        elif isinstance(value, str):
            fitted[key] = clip(value)
        else:
            fitted[key] = value
    return fitted


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 ({"detail": [{"loc", "msg", "type", "input"}]}), echoing at most a short
    prefix of the offending input (a 5 MB note does not come back as a 5 MB error) and valid JSON
    whatever the input held (a lone surrogate is written as its escape)."""
    assert isinstance(exc, RequestValidationError)
    detail = [_fit(dict(error)) for error in exc.errors()]
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                        content={"detail": jsonable_encoder(detail, custom_encoder={bytes: repr})})


async def database_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL is down, restarting or out of connections: 503 with Retry-After, never a bare
    500 (reads, registration and /health alike). Nothing was applied. Any other database error
    is a fault of ours, and stays a 500."""
    if not is_database_unreachable(exc):
        raise exc
    return JSONResponse(status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                        content={"detail": "the database is out of reach just now; nothing was applied: "
                                           "try again in a few seconds"})


# What PostgreSQL being out of reach may raise (the API answers them with database_unreachable,
# which lets through to a 500 any that is not about reaching it).
DATABASE_FAULTS: tuple[type[Exception], ...] = (
    sa.DBAPIError, sa.TimeoutError, psycopg.Error, psycopg_pool.PoolTimeout, ConnectionError)


def is_database_unreachable(exc: BaseException) -> bool:
    """A failure to reach PostgreSQL (not a refusal of what was sent: that is a 4xx)."""
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa.OperationalError, sa.InterfaceError, sa.TimeoutError, psycopg_pool.PoolTimeout,
                        psycopg.OperationalError, psycopg.InterfaceError, ConnectionError)):
        return True
    return isinstance(exc, sa.DBAPIError) and isinstance(exc.orig, (psycopg.OperationalError,
                                                                    psycopg.InterfaceError))


def stage_conflict(message: str, stage: str | None) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail={"message": message, "stage": stage})


# A letter or email that could not be made or delivered fails its step (the case is unchanged);
# the field says what to change: the channel (send by letter), the document or the template.
CORRESPONDENCE_FAILURES = {
    "NoEmailAddress": "channel",
    "DeliveryRefused": "channel",
    "NotPrintable": "document",
    "ResponseMissing": "document",
    "AttachmentMissing": "document",
    "TemplateError": "template",
    "TemplateMissing": "template",
}


def from_update_failure(exc: WorkflowUpdateFailedError) -> HTTPException:
    cause = exc.cause
    # A letter or email the mail server refused: from a regular activity it arrives wrapped in an
    # ActivityError, from a local one as itself.
    refused = cause.cause if isinstance(cause, ActivityError) else cause
    if isinstance(refused, ApplicationError) and refused.type == DATA_REFUSED:
        # An activity's data PostgreSQL refused for good: nothing was applied.
        refusal = refused.details[0] if refused.details and isinstance(refused.details[0], dict) else {}
        return unprocessable(str(refusal.get("field") or "body"), refused.message)
    if isinstance(refused, ApplicationError):
        field = CORRESPONDENCE_FAILURES.get(refused.type or "")
        if field is not None:
            return unprocessable(field, refused.message)
    if not isinstance(cause, ApplicationError):
        raise exc
    details = cause.details[0] if cause.details else {}
    if cause.type in (WRONG_STAGE, CONFLICT):
        return stage_conflict(cause.message, details.get("stage"))
    if cause.type == INVALID:
        return unprocessable(details.get("field", "body"), cause.message)
    if cause.type == FORBIDDEN:
        return HTTPException(status.HTTP_403_FORBIDDEN, detail=cause.message)
    if cause.type == NOT_VISIBLE:
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=cause.message)
    raise exc


# Temporal is busy or out of reach: nothing was applied, and the same request can be sent again.
_TRANSIENT = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED})
# The request was sent and no answer came back: the connection dropped as the server went down
# (UNKNOWN "transport error"), or the call ran out of time. Temporal may have applied it.
_OUTCOME_UNKNOWN = frozenset({RPCStatusCode.UNKNOWN, RPCStatusCode.DEADLINE_EXCEEDED})
RETRY_AFTER_SECONDS = 5


def _retry_later(status_code: int, detail: str) -> HTTPException:
    """A 503 or 504 the client should repeat after RETRY_AFTER_SECONDS."""
    return HTTPException(status_code, detail=detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def printer_unavailable(exc: Exception) -> HTTPException:
    """LibreOffice, required by PDF_RENDERER=libreoffice, did not print: 503, try again shortly."""
    return _retry_later(status.HTTP_503_SERVICE_UNAVAILABLE, f"the letter could not be printed just now: {exc}")


def temporal_unreachable(exc: RPCError) -> HTTPException:
    """Temporal did not answer a read: 503, try again shortly."""
    return _retry_later(status.HTTP_503_SERVICE_UNAVAILABLE, f"Temporal did not answer ({exc.message})")


def from_rpc_error(exc: RPCError, reference: str) -> HTTPException:
    """An Update Temporal refused before the workflow saw it.

    NOT_FOUND is a case that does not exist, or a closed one ("workflow execution already
    completed"). FAILED_PRECONDITION is what Temporal answers while the case's workflow task keeps
    failing ("Workflow Task in failed state": the worker is retrying it, after a crash or under
    overload): the case is open but cannot take a step yet, so 503 with Retry-After, not 409."""
    message = exc.message.lower()
    if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION) and (
            "completed" in message or "closed" in message):
        return stage_conflict(f"case {reference} is closed", "closed")
    if exc.status == RPCStatusCode.NOT_FOUND:
        return not_found(f"case {reference}")
    if exc.status == RPCStatusCode.FAILED_PRECONDITION or exc.status in _TRANSIENT:
        return _retry_later(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"case {reference} cannot take a step just now ({exc.message}); nothing "
                            f"was applied: try again in a few seconds")
    if exc.status in _OUTCOME_UNKNOWN:
        return update_unconfirmed(reference)
    raise exc


def registration_refused(exc: RPCError, reference: str) -> HTTPException:
    """Temporal did not start the case (unreachable, overloaded). The reference stays reserved for
    the request's Idempotency-Key, so repeating the request with the key starts that case."""
    if exc.status in _TRANSIENT:
        return _retry_later(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"case {reference} could not be started just now ({exc.message}); nothing "
                            f"was registered: send the request again with the same Idempotency-Key")
    if exc.status in _OUTCOME_UNKNOWN:
        return registration_unconfirmed(reference)
    raise exc


def registration_unconfirmed(reference: str) -> HTTPException:
    """The case's start was sent but its registration did not come back in time."""
    return _retry_later(status.HTTP_504_GATEWAY_TIMEOUT,
                        f"case {reference} was not confirmed registered in time and may still be: "
                        f"send the request again with the same Idempotency-Key to get it")


def update_unconfirmed(reference: str) -> HTTPException:
    """The Update was sent but its outcome did not come back (the wait was cut short)."""
    return _retry_later(status.HTTP_504_GATEWAY_TIMEOUT,
                        f"the step on case {reference} was not confirmed in time and may still be "
                        f"applied: send the request again with the same Idempotency-Key to get its result")
