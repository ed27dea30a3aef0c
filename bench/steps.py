"""Scenario 1: step latency (c=1) and throughput (c=20) through the real HTTP API, against a bare
Temporal workflow doing the same number of Update steps, each with one no-op activity."""

from __future__ import annotations

import asyncio
import time
import uuid

from temporalio.client import Client

from bench.baseline import BareWorkflow
from bench.loadgen import LeanClient
from bench.stack import Stack
from bench.stats import Result, median, p95
from bench.walks import WALKS


async def walk_case(api: LeanClient, latencies: list[float]) -> None:
    """Registration to closure: 9 requests, each timed (the complaint's walk of bench/walks.py)."""
    await WALKS["complaint"].walk(api, latencies)


STEPS = 9


async def walk_bare(client: Client, task_queue: str, latencies: list[float], steps: int = STEPS) -> None:
    """The same number of steps: start + first update, then updates, the last finishing the run
    (the first, when it is the only one)."""
    started = time.perf_counter()
    handle = await client.start_workflow(BareWorkflow.run, id=f"bare-{uuid.uuid4()}", task_queue=task_queue)
    await handle.execute_update(BareWorkflow.finish if steps == 1 else BareWorkflow.step, 0)
    latencies.append(time.perf_counter() - started)
    for n in range(1, steps):
        started = time.perf_counter()
        await handle.execute_update(BareWorkflow.finish if n == steps - 1 else BareWorkflow.step, n)
        latencies.append(time.perf_counter() - started)


async def concurrently(count: int, concurrency: int, walk) -> float:
    """Walk `count` cases with at most `concurrency` in flight; returns cases per second."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def runner() -> None:
        while not queue.empty():
            queue.get_nowait()
            await walk()

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def run(stack: Stack, *, quick: bool) -> list[Result]:
    client = await Client.connect(stack.temporal_address)
    bare_queue = stack.task_queue + "-baseline"
    # Cases walked one at a time; cases walked concurrently (a side), in how many rounds, how many at once.
    serial, concurrent, rounds, concurrency = (6, 40, 2, 20) if quick else (30, 300, 6, 20)
    async with LeanClient(stack.api_url) as api:
        # Warm both paths (imports, connection pools, workflow caches) before measuring.
        await walk_case(api, [])
        await walk_bare(client, bare_queue, [])
        ours: list[float] = []
        bare: list[float] = []
        # Interleave so that machine noise hits both alike.
        for _ in range(serial):
            await walk_case(api, ours)
            await walk_bare(client, bare_queue, bare)
        # Rounds of both sides, the order turned round every round (ours-baseline, baseline-ours,
        # …): the machine's speed drifts during a run, and whichever side went first would otherwise
        # always meet the faster machine. Each round's ratio compares two back-to-back measurements;
        # the median of those ratios is the figure.
        ours_rates: list[float] = []
        bare_rates: list[float] = []
        # CPU spent by each process during each side's rounds: where the time goes, and a ratio
        # the machine's changing speed moves less than it moves the rates.
        ours_cpu: dict[str, float] = {}
        bare_cpu: dict[str, float] = {}
        sides = [(ours_rates, ours_cpu, lambda: walk_case(api, [])),
                 (bare_rates, bare_cpu, lambda: walk_bare(client, bare_queue, []))]
        for round_ in range(rounds):
            for rates, cpu, walk in sides if round_ % 2 == 0 else reversed(sides):
                before = stack.cpu_seconds()
                rates.append(await concurrently(concurrent // rounds, concurrency, walk))
                for name, seconds in stack.cpu_seconds().items():
                    cpu[name] = cpu.get(name, 0.0) + seconds - before.get(name, seconds)
    step_ratio = median(ours) / median(bare)
    ours_rate, bare_rate = median(ours_rates), median(bare_rates)
    round_ratios = [o / b for o, b in zip(ours_rates, bare_rates)]
    rate_ratio = median(round_ratios)
    cases_a_side = concurrent // rounds * rounds
    return [
        Result("steps", "step latency c=1", "ms", median(ours) * 1000, p95(ours) * 1000,
               median(bare) * 1000, step_ratio, "≤ 1.2× baseline", step_ratio <= 1.2,
               f"{serial} cases × {STEPS} steps"),
        Result("steps", f"throughput c={concurrency}", "cases/s", ours_rate, None, bare_rate,
               rate_ratio, "≥ 0.8× baseline", rate_ratio >= 0.8,
               f"{concurrent} cases in {rounds} rounds, the sides' order alternating; ratio: the median "
               f"of the rounds' ratios ({', '.join(f'{r:.3f}' for r in round_ratios)}; of the median "
               f"rates {ours_rate / bare_rate:.3f}); rounds' rates: ours "
               f"{', '.join(f'{r:.2f}' for r in ours_rates)}, baseline "
               f"{', '.join(f'{r:.2f}' for r in bare_rates)}; "
               + cpu_per_case(ours_cpu, bare_cpu, cases_a_side)),
    ]


LABELS = {"api": "API", "worker": "worker", "baseline-worker": "bare worker", "temporal": "Temporal",
          "postgres": "PostgreSQL"}


def cpu_per_case(ours: dict[str, float], bare: dict[str, float], cases: int) -> str:
    """'CPU per case: ours … ms (API …, …), baseline … ms (…); by CPU …×', processes that used
    more than 1 ms a case, biggest first."""
    def side(cpu: dict[str, float]) -> tuple[float, str]:
        per_case = {LABELS.get(name, name): seconds * 1000 / cases for name, seconds in cpu.items()}
        shown = sorted(((ms, name) for name, ms in per_case.items() if ms >= 1), reverse=True)
        return sum(per_case.values()), ", ".join(f"{name} {ms:.0f}" for ms, name in shown)

    (ours_total, ours_parts), (bare_total, bare_parts) = side(ours), side(bare)
    return (f"CPU per case: ours {ours_total:.0f} ms ({ours_parts}), baseline {bare_total:.0f} ms "
            f"({bare_parts}); by CPU {bare_total / ours_total:.2f}×")
