"""Log lines: readable text in development, one JSON object per line with LOG_FORMAT=json.

Every record carries the case it is about (reference and kind), the user acting and the trace id
when they are known: the API sets them for a request (`api.casesteps`, `api.deps`), the worker for
an activity (`casework.platform.observability`), through context variables, so code that logs
passes nothing. The JSON formatter writes them when set; the text one leaves them out.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import datetime, timezone

from casework.platform.config import LogFormat

case_reference: ContextVar[str | None] = ContextVar("case_reference", default=None)
case_kind: ContextVar[str | None] = ContextVar("case_kind", default=None)
user: ContextVar[str | None] = ContextVar("user", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Context fields, in the order a JSON line lists them.
CONTEXT = {"case_reference": case_reference, "case_kind": case_kind, "user": user}


class CaseContext(logging.Filter):
    """Stamps each record with the case, user and trace id of the context it was logged in (a
    handler's filter runs in the logging thread, so what a record holds is where it was made)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in CONTEXT.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        if not hasattr(record, "trace_id"):
            record.trace_id = _trace_id()
        return True


def _trace_id() -> str | None:
    from opentelemetry import trace  # the API only: a no-op span when tracing is off

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class JsonLines(logging.Formatter):
    """time, level, logger, message, then case_reference, case_kind, user and trace_id when set,
    and the exception's traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in (*CONTEXT, "trace_id"):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """The root logger's one handler, on stderr, in `log_format`, with the case context."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(CaseContext())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # uvicorn's loggers through the same handler; its access lines give way to the API's own
    # (casework.api.access), which name the route template, the case and the user.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
