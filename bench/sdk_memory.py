"""`python -m bench.sdk_memory [--runs N]`: what the Temporal SDK keeps in a worker's memory for each
cached workflow run that holds nothing of ours, on a worker set up like ours.

A diagnostic, not a scenario: it explains the floor under the memory figure of `make bench` (target
≤ 60 KiB per cached open case). Each variant gets a fresh worker process, set up as ours is (the
payload fast path, the lean workflow runner, unsandboxed, the worker's garbage-collector settings);
it opens N runs of a workflow that does as little as the variant says and then waits, and divides
the growth of the worker's RSS by N. The variants add one thing at a time, from a run that has
only started to one shaped like a registered case (registration is update-with-start; its Update
runs a local activity, the projection; the case arms its deadline timer; its input is ~2.4 KB),
and last the bench's own baseline (a run started, then given one Update that runs a regular
activity).

A run's first workflow task can finish well after its start returns: every run is waited for,
through the server's description of it, until no workflow task is pending, before the RSS is read.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psutil
from temporalio import activity, workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench import sdk_worker
from bench.steps import concurrently

CONCURRENCY = 20
WARM_UP = 50
CASE_SIZED_INPUT = 2_400  # bytes: the JSON of the memory scenario's CaseStart


@dataclass(frozen=True)
class Variant:
    update: str | None = None  # None, "with start" (as registration), "after start" (as the baseline)
    local_activity: bool = False  # the Update runs one
    regular_activity: bool = False  # the Update runs one
    timer: bool = False  # the run waits with a timeout, as a case's clock does
    input_bytes: int = 0


VARIANTS: dict[str, Variant] = {
    "started, idle": Variant(),
    "+ an empty Update (with start)": Variant(update="with start"),
    "+ a local activity in it": Variant(update="with start", local_activity=True),
    "+ a timer, a 2.4 KB input": Variant(update="with start", local_activity=True, timer=True,
                                         input_bytes=CASE_SIZED_INPUT),
    "the bench's baseline": Variant(update="after start", regular_activity=True),
}


@activity.defn
async def nothing(n: int) -> int:
    return n


@workflow.defn
class HeldWorkflow:
    @workflow.init
    def __init__(self, variant: str, padding: str) -> None:
        self.variant = VARIANTS[variant]
        self.done = False

    @workflow.run
    async def run(self, variant: str, padding: str) -> None:
        if self.variant.timer:
            await workflow.wait_condition(lambda: self.done, timeout=timedelta(days=20))
        else:
            await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def step(self, n: int) -> int:
        if self.variant.local_activity:
            await workflow.execute_local_activity(nothing, n, start_to_close_timeout=timedelta(seconds=30))
        if self.variant.regular_activity:
            await workflow.execute_activity(nothing, n, start_to_close_timeout=timedelta(seconds=30))
        return n


async def serve(address: str, task_queue: str) -> None:
    """With room in the cache for every run."""
    await sdk_worker.serve(address, task_queue, workflows=[HeldWorkflow], activities=[nothing],
                           max_cached_workflows=100_000)


async def open_run(client: Client, task_queue: str, name: str) -> str:
    variant = VARIANTS[name]
    workflow_id = f"held-{uuid.uuid4()}"
    args = [name, "x" * variant.input_bytes]
    if variant.update == "with start":
        operation = WithStartWorkflowOperation(HeldWorkflow.run, args=args, id=workflow_id, task_queue=task_queue,
                                               id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        await client.execute_update_with_start_workflow(HeldWorkflow.step, 0, start_workflow_operation=operation)
        return workflow_id
    handle = await client.start_workflow(HeldWorkflow.run, args=args, id=workflow_id, task_queue=task_queue)
    if variant.update == "after start":
        await handle.execute_update(HeldWorkflow.step, 0)
    return workflow_id


async def settled(client: Client, workflow_ids: list[str]) -> None:
    """Until no run has a workflow task pending (a start returns before its first one is done)."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(workflow_id: str) -> None:
        async with gate:
            while True:
                described = await client.get_workflow_handle(workflow_id).describe()
                if not described.raw_description.HasField("pending_workflow_task"):
                    return
                await asyncio.sleep(0.2)

    await asyncio.gather(*(one(w) for w in workflow_ids))


async def open_runs(client: Client, task_queue: str, name: str, count: int) -> None:
    ids: list[str] = []

    async def one() -> None:
        ids.append(await open_run(client, task_queue, name))

    await concurrently(count, CONCURRENCY, one)
    await settled(client, ids)
    await asyncio.sleep(1)


async def held_per_run(address: str, name: str, runs: int, root: Path) -> tuple[float, float, float]:
    """(KiB per run, RSS before and after in MB) for `runs` runs of variant `name` on a fresh worker."""
    task_queue = f"sdk-memory-{uuid.uuid4().hex[:6]}"
    with ExitStack() as running:
        worker = sdk_worker.start_worker(running, "bench.sdk_memory", address, task_queue, root)
        client = await Client.connect(address)
        await open_runs(client, task_queue, name, WARM_UP)
        before = psutil.Process(worker.pid).memory_info().rss
        await open_runs(client, task_queue, name, runs)
        after = psutil.Process(worker.pid).memory_info().rss
    return (after - before) / 1024 / runs, before / 2**20, after / 2**20


async def measure(address: str, runs: int, root: Path) -> dict[str, tuple[float, float, float]]:
    return {name: await held_per_run(address, name, runs, root) for name in VARIANTS}


def table(held: dict[str, tuple[float, float, float]], runs: int) -> str:
    lines = [f"worker RSS per cached run, {runs} runs a variant, each variant on a fresh worker",
             f"{'':34}{'KiB a run':>10}   RSS before → after"]
    for name, (per_run, before, after) in held.items():
        lines.append(f"{name:34}{per_run:10.1f}   {before:.0f} → {after:.0f} MB")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs each variant opens")
    args = sdk_worker.parse_or_serve(parser, serve)
    if args is None:
        return
    with sdk_worker.own_temporal("casework-sdk-memory-") as (_, root, server):
        held = asyncio.run(measure(server.address, args.runs, root))
    print(table(held, args.runs))


if __name__ == "__main__":
    main()
