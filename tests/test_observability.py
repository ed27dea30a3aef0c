"""Metrics, traces and logs (docs/operations.md#metrics-traces-and-logs), on the real worker, API,
PostgreSQL and Temporal: what Prometheus scrapes, the Grafana dashboard's queries, one trace from
an HTTP step to its activities' SQL, and a request's JSON log line."""

from __future__ import annotations

import io
import json
import logging
import re
import urllib.request
import uuid
from contextlib import asynccontextmanager, contextmanager

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from api.main import create_app
from casework.kinds import KINDS
from casework.platform import tracing
from casework.platform.config import PROJECT_ROOT
from casework.platform.db import dispose_engine, make_engine, make_sessionmaker
from casework.platform.logs import CaseContext, JsonLines
from casework.platform.observability import CaseGauges, worker_runtime
from devtools.embedded import free_port
from tests.casefixtures import auth, register, step
from worker import build_worker

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "casework.json"


@asynccontextmanager
async def own_stack(settings, engine, *, runtime: Runtime | None = None, interceptors=(), tracer_provider=None):
    """An API and a worker of their own, on their own task queue and Temporal client."""
    own = settings.model_copy(update={"task_queue": f"observed-{uuid.uuid4().hex[:8]}"})
    client = await Client.connect(settings.temporal_address, data_converter=pydantic_data_converter,
                                  runtime=runtime, interceptors=list(interceptors))
    app = create_app(own, temporal=client, engine=engine, tracer_provider=tracer_provider)
    async with app.router.lifespan_context(app), build_worker(client, own, make_sessionmaker(engine)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                     timeout=120) as api:
            yield api, client


def scrape(text: str) -> dict[str, list]:
    """Sample name -> its samples, from Prometheus's text format."""
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


@contextmanager
def json_lines(logger_name: str):
    """What `logger_name` logs at INFO, formatted as production's LOG_FORMAT=json formats it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    handler.addFilter(CaseContext())
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        lines.extend(json.loads(line) for line in out.getvalue().splitlines())


async def test_the_api_counts_requests_by_route_template_not_by_case(api):
    ref = (await register(api))["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    await step(api, ref, "allocate", "coordinator", {"team": "NOSUCHTEAM"}, expect=422)
    response = await api.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = scrape(response.text)
    allocate = "/cases/{prefix}/{number}/{year}/allocate"
    assert value(samples, "casework_http_requests_total", method="POST", route=allocate, status="200") >= 1
    assert value(samples, "casework_http_requests_total", method="POST", route=allocate, status="422") >= 1
    assert value(samples, "casework_http_request_duration_seconds_count", method="POST", route=allocate) >= 2
    labelled = [value for found in samples.values() for sample in found for value in sample.labels.values()]
    assert not [v for v in labelled if ref.split("/")[1] in v]  # no series per case
    assert "/metrics" not in (await api.get("/openapi.json")).text


async def test_the_worker_serves_sdk_metrics_and_ours_and_the_dashboard_asks_for_no_other(settings, engine, api):
    port = free_port()
    runtime = worker_runtime(settings.model_copy(update={"worker_metrics_port": port}))
    assert runtime is not None
    async with own_stack(settings, engine, runtime=runtime) as (own_api, client):
        ref = (await register(own_api))["reference"]
        await step(own_api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
        await step(own_api, ref, "acknowledge", "drafter", {"channel": "email"})
        await step(own_api, ref, "acknowledge", "drafter", {"channel": "email"}, expect=409)  # done already
        await CaseGauges(runtime.metric_meter, engine, client, KINDS).update()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            worker = scrape(answer.read().decode())
    assert value(worker, "casework_steps_total", kind="complaint", action="allocate", outcome="ok") == 1
    assert value(worker, "casework_steps_total", kind="complaint", action="acknowledge", outcome="ok") == 1
    assert value(worker, "casework_steps_total", kind="complaint", action="acknowledge", outcome="refused") == 1
    assert value(worker, "casework_deliveries_total", channel="email", outcome="sent") == 1
    assert value(worker, "casework_cases_open", kind="complaint") >= 1
    assert {"casework_cases_overdue", "casework_cases_stuck", "casework_cases_unconfirmed_deliveries"} <= set(worker)
    # The SDK's own: task latencies, schedule-to-start, the sticky cache.
    assert value(worker, "temporal_workflow_task_schedule_to_start_latency_count") >= 1
    assert value(worker, "temporal_local_activity_execution_latency_count") >= 1
    assert "temporal_sticky_cache_size" in worker

    exposed = set(worker) | set(scrape((await api.get("/metrics")).text))
    queried = dashboard_metrics()
    assert queried, "the dashboard queries no metric"
    assert queried <= exposed, f"the dashboard asks for metrics nothing exposes: {sorted(queried - exposed)}"


def dashboard_metrics() -> set[str]:
    """Every metric name in the dashboard's PromQL expressions."""
    dashboard = json.loads(DASHBOARD.read_text("utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [v.get("query", "") if isinstance(v.get("query"), str) else v.get("query", {}).get("query", "")
              for v in dashboard.get("templating", {}).get("list", [])]
    return {name for expr in exprs for name in re.findall(r"\b((?:casework|temporal)_[a-z0-9_]+)", expr)}


async def test_one_trace_runs_from_the_http_step_to_its_activities_sql(settings, engine):
    """`engine` (the session's) has loaded the demo users; the stack here runs on one of its own."""
    from casework.platform import step_tracing

    assert step_tracing.SUPPORTED, "this temporalio release changed what step tracing relies on"
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    traced = make_engine(settings.database_url)  # its own, so only its connections are traced
    try:
        async with own_stack(settings, traced, interceptors=tracing.temporal_interceptors(provider),
                             tracer_provider=provider) as (api, _):
            ref = (await register(api))["reference"]
            exported.clear()
            with json_lines("casework.api.access") as lines:
                await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    finally:
        await dispose_engine(traced)
    spans = exported.get_finished_spans()
    http = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST ")]
    assert len(http) == 1, [s.name for s in spans]
    trace_id = http[0].context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert {"StartWorkflowUpdate:allocate", "HandleUpdate:allocate"} <= names, names
    assert any(name.startswith("RunActivity:") for name in names), names
    sql = [s for s in in_trace if (s.attributes or {}).get("db.system") == "postgresql"
           or (s.attributes or {}).get("db.system.name") == "postgresql"]
    activity_ids = {s.context.span_id for s in in_trace if s.name.startswith("RunActivity:")}
    assert any(s.parent is not None and s.parent.span_id in activity_ids for s in sql), \
        "no SQL statement traced inside an activity"
    [line] = [line for line in lines if "allocate" in line["message"]]
    assert line["trace_id"] == format(trace_id, "032x")


async def test_a_requests_log_line_names_its_case_kind_and_user(api):
    ref = (await register(api))["reference"]
    with json_lines("casework.api.access") as lines:
        await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL"})
        await api.get("/cases", headers=auth("coordinator"))
    step_line, list_line = lines
    assert step_line["message"].startswith("POST /cases/{prefix}/{number}/{year}/allocate 200")
    assert (step_line["case_reference"], step_line["case_kind"], step_line["user"]) == (ref, "complaint", "coordinator")
    assert {"time", "level", "logger"} <= set(step_line) and step_line["level"] == "INFO"
    assert "case_reference" not in list_line and list_line["user"] == "coordinator"


def test_tracing_and_worker_metrics_stay_off_unless_configured(settings):
    off = settings.model_copy(update={"otel_exporter_otlp_endpoint": "", "worker_metrics_port": 0})
    assert tracing.configure(off, "casework-test") is None and tracing.current() is None
    assert tracing.temporal_interceptors(None) == []
    assert worker_runtime(off) is None
