"""`python -m bench.sdk_costs [--workflows N] [--rounds R]`: what the Temporal SDK and server charge,
in CPU, for each kind of thing a case step asks of them, on a worker set up like ours.

A diagnostic, not a scenario: it explains the floor under the throughput figure of `make bench`.
A case step is an Update that runs local activities (its projection, letters and emails, deadline
calculations) and upserts search attributes (what operations filter on in the Temporal UI); the
bare baseline's step is an Update that runs one regular activity. Here one workflow does each of
those alone: Updates that do nothing, then the same Updates with one or two local activities that
do nothing, one regular activity, or one upsert. Each variant walks N workflows × 9 Updates at
concurrency 20, in rounds whose order turns round every round; the table gives the medians of the
rounds' CPU per Update for the worker and the Temporal server, and what each thing costs over an
empty Update.

The worker is ours in all but its workflows and activities: the payload fast path
(`casework.platform.sdk_fastpath`), the lean workflow runner, unsandboxed as production, and the worker's
garbage-collector settings.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client

from bench import sdk_worker
from bench.steps import concurrently
from bench.step_cpu import cpu_seconds
from casework.cases.search_attributes import CASE_STAGE

UPDATES = 9
CONCURRENCY = 20

# What each Update of a variant does, by name: local activities, regular activities, upserts.
VARIANTS: dict[str, tuple[int, int, int]] = {
    "empty Update": (0, 0, 0),
    "+ 1 local activity": (1, 0, 0),
    "+ 2 local activities": (2, 0, 0),
    "+ 1 activity": (0, 1, 0),
    "+ 1 search attribute upsert": (0, 0, 1),
}


@activity.defn
async def nothing(n: int) -> int:
    return n


@workflow.defn
class CostWorkflow:
    @workflow.init
    def __init__(self, variant: str) -> None:
        self.local, self.regular, self.upserts = VARIANTS[variant]
        self.done = False

    @workflow.run
    async def run(self, variant: str) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def step(self, n: int) -> int:
        for _ in range(self.local):
            await workflow.execute_local_activity(nothing, n, start_to_close_timeout=timedelta(seconds=30))
        for _ in range(self.regular):
            await workflow.execute_activity(nothing, n, start_to_close_timeout=timedelta(seconds=30))
        if self.upserts:
            workflow.upsert_search_attributes([CASE_STAGE.value_set(f"stage {n}")])
        self.done = n == UPDATES - 1
        return n


async def serve(address: str, task_queue: str) -> None:
    await sdk_worker.serve(address, task_queue, workflows=[CostWorkflow], activities=[nothing],
                           max_cached_workflows=10_000)


async def walk(client: Client, task_queue: str, variant: str) -> None:
    """One workflow of `variant`, started and taken through its Updates."""
    handle = await client.start_workflow(CostWorkflow.run, variant, id=f"cost-{uuid.uuid4()}",
                                         task_queue=task_queue)
    for n in range(UPDATES):
        await handle.execute_update(CostWorkflow.step, n)


async def measure(address: str, task_queue: str, pids: dict[str, int], workflows: int,
                  rounds: int) -> dict[str, dict[str, float]]:
    """Median CPU ms per Update of each process, by variant."""
    client = await Client.connect(address)
    for variant in VARIANTS:  # warm every path up
        await concurrently(5, CONCURRENCY, lambda variant=variant: walk(client, task_queue, variant))
    samples: dict[str, dict[str, list[float]]] = {v: {p: [] for p in pids} for v in VARIANTS}
    order = list(VARIANTS)
    for round_ in range(rounds):
        for variant in order if round_ % 2 == 0 else reversed(order):
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            await concurrently(workflows, CONCURRENCY, lambda variant=variant: walk(client, task_queue, variant))
            for name, pid in pids.items():
                samples[variant][name].append((cpu_seconds(pid) - before[name]) * 1000 / (workflows * UPDATES))
    return {v: {p: statistics.median(s) for p, s in by_process.items()} for v, by_process in samples.items()}


def table(costs: dict[str, dict[str, float]], workflows: int, rounds: int) -> str:
    empty = costs["empty Update"]
    lines = [f"CPU ms per Update, median of {rounds} rounds of {workflows} workflows × {UPDATES} Updates "
             f"at concurrency {CONCURRENCY}",
             f"{'':30}{'worker':>8}{'temporal':>10}{'total':>8}   over an empty Update"]
    for variant, cpu in costs.items():
        total = cpu["worker"] + cpu["temporal"]
        line = f"{variant:30}{cpu['worker']:8.2f}{cpu['temporal']:10.2f}{total:8.2f}"
        if variant != "empty Update":
            things = VARIANTS[variant][0] or 1  # per local activity when there are two
            worker = (cpu["worker"] - empty["worker"]) / things
            server = (cpu["temporal"] - empty["temporal"]) / things
            each = " each" if things > 1 else ""
            line += f"   {worker + server:+.2f}{each} (worker {worker:+.2f}, temporal {server:+.2f})"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=60, help="workflows a variant walks in a round")
    parser.add_argument("--rounds", type=int, default=4)
    args = sdk_worker.parse_or_serve(parser, serve)
    if args is None:
        return
    with sdk_worker.own_temporal("casework-sdk-costs-") as (running, root, server):
        task_queue = f"sdk-costs-{uuid.uuid4().hex[:6]}"
        worker = sdk_worker.start_worker(running, "bench.sdk_costs", server.address, task_queue, root)
        pids = {"worker": worker.pid, "temporal": server.process.pid}
        costs = asyncio.run(measure(server.address, task_queue, pids, args.workflows, args.rounds))
    print(table(costs, args.workflows, args.rounds))


if __name__ == "__main__":
    main()
