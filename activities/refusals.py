"""Data PostgreSQL refuses for good, raised as a non-retryable ApplicationError.

An activity retried with PATIENT_RETRY waits out an outage, but a value PostgreSQL will never take
(too long for its column, a NUL byte, a character the encoding cannot hold, a constraint violated)
would be retried for ever, and every later step of the case would queue behind it. Such errors
fail the step at once instead, typed DATA_REFUSED and naming the field when it is known: the step
wrapper puts the case back as it was and the API answers 422. The API's own validation keeps known
fields from getting here; this is for what slips through."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from pydantic_core import PydanticSerializationError
from sqlalchemy import exc as sa_exc
from temporalio.exceptions import ApplicationError

from workflows.engine.errors import DATA_REFUSED

# DataError: a value too long, out of range, not valid in the encoding (NUL, invalid byte sequence,
# a lone surrogate in JSON). IntegrityError: a constraint. Encoding errors come from the client
# before anything is sent (a lone surrogate cannot be encoded as UTF-8, nor serialised as JSON).
PERMANENT: tuple[type[BaseException], ...] = (psycopg.DataError, psycopg.IntegrityError, UnicodeError,
                                              PydanticSerializationError)
MESSAGE_LIMIT = 300


def permanent_cause(exc: BaseException) -> BaseException | None:
    """The database error behind `exc` if it is one no retry can cure, else None."""
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    if isinstance(cause, PERMANENT):
        return cause
    if isinstance(exc, (sa_exc.DataError, sa_exc.IntegrityError)):
        return exc
    return None


def data_refused(what: str, cause: BaseException, field: str | None = None) -> ApplicationError:
    reason = (str(cause).splitlines() or [type(cause).__name__])[0][:MESSAGE_LIMIT]
    message = f"{what}: the database refused the data ({reason})"
    if field:
        message = f"{field}: {message}"
    return ApplicationError(message, {"field": field or "body"}, type=DATA_REFUSED, non_retryable=True)


@contextmanager
def refused_for_good(what: str, field_of: Callable[[], str | None] | None = None) -> Iterator[None]:
    """Turn a permanent database error raised inside into a non-retryable DATA_REFUSED error;
    anything else (an outage, a timeout) passes through to be retried. `field_of` names the
    offending field, when it can tell."""
    try:
        yield
    except Exception as exc:
        cause = permanent_cause(exc)
        if cause is None:
            raise
        raise data_refused(what, cause, field_of() if field_of is not None else None) from exc
