"""The API's Prometheus metrics (`GET /metrics`) and its one log line per request.

Requests are counted by route *template* (`/cases/{reference}/allocate`, never the reference), so
the number of series stays that of the routes, however many cases there are. Each app has its own
registry (tests build several apps in one process)."""

from __future__ import annotations

import logging
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casework.platform import logs

REQUESTS = "casework_http_requests_total"
DURATION = "casework_http_request_duration_seconds"
# A path no route matched: one series for all of them.
UNMATCHED = "unmatched"
# Up to 30 s: an export or a step waiting on a busy workflow can take that long.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

access_log = logging.getLogger("casework.api.access")


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self.requests = Counter(REQUESTS.removesuffix("_total"), "HTTP requests answered, by route template "
                                "and status", ("method", "route", "status"), registry=self.registry)
        self.duration = Histogram(DURATION, "time to answer an HTTP request, by route template",
                                  ("method", "route"), buckets=BUCKETS, registry=self.registry)

    async def endpoint(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestObserver:
    """ASGI middleware: times each request, counts it by route template and status, and logs one
    line with the case, kind and user the request named (set by its dependencies: the route runs
    in this task, so what they set is still there when it answers)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what a client sees if the app fails before answering

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        tokens = [(var, var.set(None)) for var in logs.CONTEXT.values()]
        try:
            await self.app(scope, receive, answer)
        finally:
            elapsed = time.perf_counter() - started
            route = _template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(elapsed)
            access_log.info("%s %s %d %.1f ms", method, route, status, elapsed * 1000)
            for var, token in tokens:
                var.reset(token)


def _template(scope: Scope) -> str:
    """The matched API route's template; a plain route's (no parameters: /metrics) is its path."""
    route = scope.get("route")
    if route is not None:
        return route.path_format
    return scope["path"] if scope.get("endpoint") is not None else UNMATCHED
