"""The Temporal worker: runs ComplaintCaseWorkflow and its activities on the case task queue."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from temporalio.worker import Worker

from activities import build_activities
from casework.documents import printing
from casework.kinds import KINDS
from casework.platform import sdk_fastpath, tracing
from casework.platform.config import Settings, get_settings
from casework.platform.db import dispose_engine, make_engine, make_sessionmaker
from casework.platform.logs import configure_logging
from casework.platform.observability import CaseGauges, CaseworkInterceptor, worker_runtime
from casework.platform.temporal import connect
from casework.platform.workflow_runner import build_workflow_runner, compile_workflow_sources
from workflows.engine import errors
from workflows.registry import KIND_WORKFLOWS, WORKFLOWS

log = logging.getLogger("casework.worker")


def build_worker(client, settings: Settings, sessionmaker, *, after_smtp_send=None, after_task_email=None,
                 kind_hooks=None, interceptors=(), **kwargs) -> Worker:
    """``after_smtp_send``, ``after_task_email`` and ``kind_hooks`` are fault-injection hooks for
    tests only (see activities.correspondence, activities.tasks and activities.build_activities).
    The client's tracing interceptor, if it has one, applies to the worker too."""
    sdk_fastpath.install()
    compile_workflow_sources(WORKFLOWS)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(sessionmaker, settings, after_smtp_send=after_smtp_send,
                                    after_task_email=after_task_email, kind_hooks=kind_hooks),
        # Temporal's sandbox unless WORKFLOW_RUNNER opts out (casework.platform.config).
        workflow_runner=build_workflow_runner(settings),
        interceptors=[CaseworkInterceptor(CASE_WORKFLOW_KINDS, REFUSALS), *interceptors],
        **kwargs,
    )


# A case workflow's type (its class's name: no @workflow.defn names another) -> its kind; the
# errors a refused step raises (the rest: failed).
CASE_WORKFLOW_KINDS = {cls.__name__: kind for kind, cls in KIND_WORKFLOWS.items()}
REFUSALS = (errors.WRONG_STAGE, errors.CONFLICT, errors.INVALID, errors.FORBIDDEN, errors.NOT_VISIBLE)


def tune_garbage_collector() -> None:
    """A worker holds thousands of cached cases, millions of objects: every full collection of the
    cyclic garbage collector walks them all (0.5-2 s measured at 5,000 cases, see docs/performance.md).
    Collect young objects less often, and leave what is loaded by now (the modules) out of it.
    Called once the worker is built; the benchmarks that stand for a worker call it too."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


async def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_format)
    provider = tracing.configure(settings, "casework-worker")
    # No ping before each checkout: every activity retries, and a dropped connection invalidates
    # the pool, so a database restart costs one retry instead of a round trip on every transaction.
    # The statements every step runs go through the driver pool (casework.platform.db.driver_connection,
    # up to DRIVER_POOL_SIZE connections); the engine's own pool serves the rest, so it stays small.
    engine = make_engine(settings.database_url, pool_pre_ping=False, pool_size=5, max_overflow=5)
    tracing.trace_sql(engine, provider)
    runtime = worker_runtime(settings)
    client = await connect(settings, runtime=runtime)
    worker = build_worker(client, settings, make_sessionmaker(engine),
                          max_cached_workflows=settings.worker_max_cached_workflows)
    gauges = None
    if runtime is not None:
        gauges = asyncio.create_task(CaseGauges(runtime.metric_meter, engine, client, KINDS).run())
        log.info("worker metrics at http://%s:%d/metrics", settings.worker_metrics_host,
                 settings.worker_metrics_port)
    tune_garbage_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %s on %s, workflow runner %s, letters printed by %s", settings.task_queue,
             settings.temporal_address, settings.workflow_runner, printing.printer_for(settings).describe())
    async with worker:
        await stop.wait()
    if gauges is not None:
        gauges.cancel()
    await dispose_engine(engine)


if __name__ == "__main__":
    asyncio.run(main())
