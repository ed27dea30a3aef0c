"""The worker's metrics: the Temporal SDK's own and ours, on one Prometheus endpoint.

The SDK's runtime serves them (`worker_runtime`): its metrics (task latencies, schedule-to-start,
sticky cache, slots, polls) and those recorded through its meters, which is how ours are recorded:
- steps, from the workflow's meter (`workflow.metric_meter()`), which records nothing while a
  workflow replays, so a step is counted once however often its history is replayed;
- deliveries, from the activity's meter where the outbox records them (activities.correspondence);
- the gauges of open, overdue and stuck cases, from the runtime's meter, worked out every
  GAUGE_INTERVAL_SECONDS by two cheap queries (`CaseGauges`).
Names and labels: docs/operations.md#metrics. The interceptor also puts each activity's case
reference and kind in the log context (casework.platform.logs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import MetricCounter, MetricMeter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from casework.cases.search_attributes import STUCK_CASES
from casework.platform import logs
from casework.platform.config import Settings

log = logging.getLogger(__name__)

STEPS = "casework_steps"  # exported as casework_steps_total
DELIVERIES = "casework_deliveries"  # casework_deliveries_total
CASES_OPEN = "casework_cases_open"
CASES_OVERDUE = "casework_cases_overdue"
CASES_UNCONFIRMED = "casework_cases_unconfirmed_deliveries"
CASES_STUCK = "casework_cases_stuck"
GAUGE_INTERVAL_SECONDS = 30.0
# Updates counted under another action: the API's wait for a new case to be registered.
ACTIONS = {"wait_registered": "register"}


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics on WORKER_METRICS_HOST:WORKER_METRICS_PORT
    (counters end in `_total`, durations in seconds), or None when the port is 0."""
    if not settings.worker_metrics_port:
        return None
    address = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=address, counters_total_suffix=True, durations_as_seconds=True)))


class CaseworkInterceptor(Interceptor):
    """Counts steps by kind, action and outcome; names the case in each activity's log lines.

    `kinds` maps a case workflow's type to its kind; `refusals` are the ApplicationError types a
    refused step raises (workflows.engine.errors), any other failure counting as `failed`."""

    def __init__(self, kinds: Mapping[str, str], refusals: Iterable[str]) -> None:
        self.kinds, self.refusals = dict(kinds), frozenset(refusals)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        kinds, refusals = self.kinds, self.refusals

        class CountSteps(WorkflowInboundInterceptor):
            steps: MetricCounter | None = None  # one per run of a case's workflow, made on its first step

            def _count(self, action: str, outcome: str) -> None:
                kind = kinds.get(workflow.info().workflow_type)
                if kind is None:  # a digest's or a calendar change's
                    return
                if self.steps is None:
                    self.steps = workflow.metric_meter().create_counter(
                        STEPS, "case steps taken, by kind, action and outcome")
                self.steps.add(1, {"kind": kind, "action": ACTIONS.get(action, action), "outcome": outcome})

            def _outcome(self, exc: BaseException) -> str:
                return "refused" if isinstance(exc, ApplicationError) and exc.type in refusals else "failed"

            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                try:
                    super().handle_update_validator(input)
                except BaseException as exc:
                    self._count(input.update, self._outcome(exc))
                    raise

            async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
                try:
                    result = await super().handle_update_handler(input)
                except BaseException as exc:
                    self._count(input.update, self._outcome(exc))
                    raise
                self._count(input.update, "ok")
                return result

        return CountSteps

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        kinds = self.kinds

        class CaseInLogs(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                info = activity.info()
                kind = kinds.get(info.workflow_type or "")
                if kind is None:
                    return await super().execute_activity(input)
                reference, case_kind = logs.case_reference.set(info.workflow_id), logs.case_kind.set(kind)
                try:
                    return await super().execute_activity(input)
                finally:
                    logs.case_reference.reset(reference)
                    logs.case_kind.reset(case_kind)

        return CaseInLogs(next)


def count_delivery(channel: str, outcome: str) -> None:
    """One letter or email delivered (`sent`), whose delivery was not confirmed (`unconfirmed`) or
    refused for good (`refused`), counted from the activity that did it."""
    if activity.in_activity():
        activity.metric_meter().create_counter(DELIVERIES, "letters and emails, by channel and outcome").add(
            1, {"channel": channel, "outcome": outcome})


_CASE_COUNTS = text(
    "select kind, count(*), count(*) filter (where overdue), "
    "count(*) filter (where unconfirmed_deliveries <> '[]'::jsonb) "
    "from case_record where status = 'open' group by kind")


class CaseGauges:
    """Open, overdue and stuck cases, worked out every `interval` seconds: one query of the open
    cases' rows (by the index on kind and status) and one count of Temporal's visibility store.
    Each worker reports the same figures: aggregate them with max(), not sum()."""

    def __init__(self, meter: MetricMeter, engine: AsyncEngine, client: Client, kinds: Iterable[str],
                 interval: float = GAUGE_INTERVAL_SECONDS) -> None:
        self.engine, self.client, self.kinds, self.interval = engine, client, tuple(kinds), interval
        self.open = meter.create_gauge(CASES_OPEN, "open cases, by kind")
        self.overdue = meter.create_gauge(CASES_OVERDUE, "open cases past their deadline, by kind")
        self.unconfirmed = meter.create_gauge(CASES_UNCONFIRMED, "open cases with an email whose delivery "
                                              "is not confirmed, by kind")
        self.stuck = meter.create_gauge(CASES_STUCK, "open cases whose workflow task keeps failing")

    async def update(self) -> None:
        async with self.engine.connect() as connection:
            rows = {row[0]: row[1:] for row in await connection.execute(_CASE_COUNTS)}
        for kind in self.kinds:
            open_, overdue, unconfirmed = rows.get(kind, (0, 0, 0))
            self.open.set(open_, {"kind": kind})
            self.overdue.set(overdue, {"kind": kind})
            self.unconfirmed.set(unconfirmed, {"kind": kind})
        self.stuck.set((await self.client.count_workflows(STUCK_CASES)).count)

    async def run(self) -> None:
        """Update the gauges until cancelled; a failure is logged (once until they update again)
        and the next round tries again."""
        failing = False
        while True:
            try:
                await self.update()
                failing = False
            except Exception as exc:  # noqa: BLE001  (PostgreSQL or Temporal out of reach for now)
                log.log(logging.DEBUG if failing else logging.WARNING, "case gauges not updated: %s", exc)
                failing = True
            await asyncio.sleep(self.interval)
