"""`python -m bench.floor [--cases N] [--rounds R]`: the floor under the `kinds` targets, i.e. what
the cheapest step a case of ours could take costs against the bare workflow's Update.

A diagnostic, not a scenario. The cheapest step of ours is an authenticated HTTP request through
the API (FastAPI, the bearer token checked, the caller's teams: `GET /me`, which touches nothing
else) followed by an Update whose handler writes one row to PostgreSQL in a local activity, as our
projection does (`FloorWorkflow` in bench/baseline.py: the driver pool, a prepared INSERT). The
baseline is the `kinds` scenario's: an Update running one no-op regular activity. For walks of as
many requests as the kinds' walks have, it gives the per-request latency at c=1 (the two sides
interleaved) and cases per second at c=20 (rounds, the sides' order turning round), each as a
ratio: a `kinds` target below that ratio asks for less than an HTTP hop and a database write cost.

The floor's request is made by the load generator as two calls (the HTTP request, then the
Update), where our API makes the Update itself: the same hops in the same order, so the latency is
the same; the Temporal client's CPU is the load generator's instead of the API's.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import ExitStack

from temporalio.client import Client

from bench.baseline import FloorWorkflow
from bench.kinds import CONCURRENCY
from bench.loadgen import LeanClient
from bench.stack import Stack, start_app, start_stack, unwind_on_sigterm
from bench.stats import median
from bench.steps import concurrently, walk_bare
from bench.walks import AUTH, WALKS


async def walk_floor(api: LeanClient, client: Client, task_queue: str, latencies: list[float],
                     steps: int, parts: dict[str, list[float]] | None = None) -> None:
    """`steps` requests, each GET /me then an Update writing one row; the first starts the run."""
    handle = None
    for n in range(steps):
        started = time.perf_counter()
        response = await api.request("GET", "/me", headers=AUTH["handler"])
        assert response.status_code == 200, response.text
        hop = time.perf_counter()
        if handle is None:
            handle = await client.start_workflow(FloorWorkflow.run, id=f"floor-{uuid.uuid4()}", task_queue=task_queue)
        await handle.execute_update(FloorWorkflow.write, args=[n, n == steps - 1])
        done = time.perf_counter()
        latencies.append(done - started)
        if parts is not None:
            parts["http"].append(hop - started)
            parts["update"].append(done - hop)


async def measure(stack: Stack, cases: int, rounds: int) -> None:
    client = await Client.connect(stack.temporal_address)
    queue = stack.task_queue + "-baseline"
    print(f"per-request latency at c=1 (median of {cases} walks a side, interleaved) and cases/s at "
          f"c={CONCURRENCY} ({rounds} rounds of {cases} a side):")
    async with LeanClient(stack.api_url) as api:
        for steps in sorted({walk.updates for walk in WALKS.values()}):
            await walk_floor(api, client, queue, [], steps)
            await walk_bare(client, queue, [], steps)
            floor: list[float] = []
            bare: list[float] = []
            parts: dict[str, list[float]] = {"http": [], "update": []}
            for _ in range(cases):
                await walk_floor(api, client, queue, floor, steps, parts)
                await walk_bare(client, queue, bare, steps)
            ratios = []
            for round_ in range(rounds):
                sides = [lambda: walk_floor(api, client, queue, [], steps), lambda: walk_bare(client, queue, [], steps)]
                rates = [await concurrently(cases, CONCURRENCY, side)
                         for side in (sides if round_ % 2 == 0 else reversed(sides))]
                ratios.append(rates[0] / rates[1] if round_ % 2 == 0 else rates[1] / rates[0])
            print(f"  {steps} request(s): floor {median(floor) * 1000:.1f} ms (HTTP {median(parts['http']) * 1000:.1f}"
                  f" + Update {median(parts['update']) * 1000:.1f}) against {median(bare) * 1000:.1f}: "
                  f"{median(floor) / median(bare):.2f}×; c={CONCURRENCY}: {median(ratios):.2f}× "
                  f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20, help="walks a side at c=1, and a side a round at c=20")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    unwind_on_sigterm()
    with ExitStack() as running:
        stack = start_stack(running)
        start_app(stack, running)
        stack.start_python("baseline-worker", ["-m", "bench.baseline"], running)
        asyncio.run(measure(stack, args.cases, args.rounds))


if __name__ == "__main__":
    main()
