"""OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_ENDPOINT names a collector.

One trace runs from the HTTP request (FastAPI's own telemetry, on once a tracer provider is set)
through the Temporal Update and each activity (Temporal's TracingInterceptor, on the client and so
on the worker it serves) to every SQL statement (psycopg's instrumentation, on each connection of
the engine's pool and of the driver pool). Off, none of it is installed and nothing is imported:
a request costs what it did before (docs/operations.md#traces).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from weakref import WeakSet

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from casework.platform import db
from casework.platform.config import Settings

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

TRACES_PATH = "/v1/traces"  # OTLP/HTTP's path for spans under the collector's base URL

_provider: TracerProvider | None = None
_TRACED: WeakSet[Engine] = WeakSet()  # engines whose statements are traced already


def configure(settings: Settings, service_name: str) -> TracerProvider | None:
    """The process's tracer provider, exporting to the OTLP collector in batches, set as the global
    one (once per process); None when tracing is off."""
    global _provider
    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/")
    if not endpoint:
        return None
    if _provider is None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if not endpoint.endswith(TRACES_PATH):
            endpoint += TRACES_PATH
        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over our name.
        named = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
        provider = TracerProvider(resource=Resource.create(named))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(provider)
        _provider = provider
    return _provider


def current() -> TracerProvider | None:
    """The provider `configure` set in this process, if tracing is on."""
    return _provider


def temporal_interceptors(provider: TracerProvider | None) -> list[Any]:
    """Temporal's tracing interceptor for a client (and the worker built on it), or none; each
    step in the trace of the request that sent it (casework.platform.step_tracing)."""
    if provider is None:
        return []
    from casework.platform.step_tracing import StepTracingInterceptor

    return [StepTracingInterceptor(provider.get_tracer("casework.temporal"))]


def trace_sql(engine: AsyncEngine, provider: TracerProvider | None) -> None:
    """A span for each statement run on `engine`'s connections and its driver pool's (call it
    before either opens one)."""
    if provider is None or engine.sync_engine in _TRACED:
        return
    _TRACED.add(engine.sync_engine)
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    @event.listens_for(engine.sync_engine, "connect")
    def traced(dbapi_connection: Any, _record: Any) -> None:
        PsycopgInstrumentor.instrument_connection(dbapi_connection.driver_connection, provider)

    async def traced_driver(connection: Any) -> None:
        PsycopgInstrumentor.instrument_connection(connection, provider)

    db.configure_driver_connections(engine, traced_driver)
