"""The baseline: a bare workflow whose steps are Updates that each run one no-op activity.

The same worker serves `FloorWorkflow` (bench/floor.py): the cheapest step a case of ours could
take, an Update whose handler writes one row to PostgreSQL in a local activity, as our projection
does (the driver pool of casework.platform.db, a prepared statement).

Run as `python -m bench.baseline` to serve it: a separate worker process with our settings (sandbox
or not, as WORKFLOW_RUNNER says, and the same cache size), so the comparison is of the workflows,
not of the worker settings. It runs the SDK's own runner, never our LeanWorkflowRunner (a lean-*
setting counts as its sandboxed or unsandboxed half): the baseline is what a stock worker keeps
and spends.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# The worker's set-up, not the workflow's: the sandbox (WORKFLOW_RUNNER's default) re-imports this
# module for each run, and must not run these (config resolves paths) inside it.
with workflow.unsafe.imports_passed_through():
    from casework.platform.config import get_settings
    from casework.platform.db import driver_connection, make_engine
    from casework.platform.workflow_runner import build_workflow_runner, compile_workflow_sources

FLOOR_TABLE = ("CREATE TABLE IF NOT EXISTS bench_floor (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
               " workflow_id text NOT NULL, step int NOT NULL, at timestamptz NOT NULL DEFAULT now())")


@activity.defn
async def noop(step: int) -> int:
    return step


class FloorActivities:
    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)

    @activity.defn
    async def write_row(self, step: int) -> int:
        async with driver_connection(self.engine) as conn:
            await conn.execute("INSERT INTO bench_floor (workflow_id, step) VALUES (%s, %s)",
                               [activity.info().workflow_id, step], prepare=True)
        return step


@workflow.defn
class FloorWorkflow:
    """Each Update writes one row in a local activity; the `last` ends the run."""

    def __init__(self) -> None:
        self.ended = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.ended)

    @workflow.update
    async def write(self, n: int, last: bool) -> int:
        written = await workflow.execute_local_activity("write_row", n, result_type=int,
                                                        start_to_close_timeout=timedelta(seconds=30))
        self.ended = last
        return written


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def step(self, n: int) -> int:
        result = await workflow.execute_activity(noop, n, start_to_close_timeout=timedelta(seconds=30))
        return result

    @step.validator
    def _validate(self, n: int) -> None:
        if n < 0:
            raise ValueError("negative step")

    @workflow.update
    async def finish(self, n: int) -> int:
        result = await workflow.execute_activity(noop, n, start_to_close_timeout=timedelta(seconds=30))
        self.done = True
        return result


async def serve() -> None:
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    settings = get_settings()
    floor = FloorActivities(settings.database_url)
    async with driver_connection(floor.engine) as conn:
        await conn.execute(FLOOR_TABLE)
    compile_workflow_sources([BareWorkflow])  # as worker.py does for ours
    async with Worker(client, task_queue=os.environ["TASK_QUEUE"] + "-baseline",
                      workflows=[BareWorkflow, FloorWorkflow], activities=[noop, floor.write_row],
                      max_cached_workflows=settings.worker_max_cached_workflows,
                      workflow_runner=build_workflow_runner(settings, stock=True)):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve())
