"""Scenario: every kind's typical walk (bench/walks.py) through the real HTTP API, at c=1 (per-request
latency) and c=20 (cases per second), each against the bare workflow taking the same number of
Updates, in the same run. Throughput in rounds, the sides' order turning round every round (as in
bench/steps.py); the figure is the median of the rounds' ratios."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client

from bench.loadgen import LeanClient
from bench.stack import Stack
from bench.stats import Result, median, p95, progress
from bench.steps import concurrently, walk_bare
from bench.walks import WALKS, Caller, Walk, set_up

CONCURRENCY = 20


async def _prepared(walk: Walk, api: LeanClient, count: int) -> list[Any]:
    """What `count` cases of the walk need made first (outside the timing); Nones if nothing."""
    if walk.prepare is None:
        return [None] * count
    made: list[Any] = []
    prepare = walk.prepare

    async def one() -> None:
        made.append(await prepare(Caller(api)))

    await concurrently(count, CONCURRENCY, one)
    return made


async def measure(walk: Walk, api: LeanClient, client: Client, bare_queue: str, *, serial: int,
                  per_round: int, rounds: int) -> list[Result]:
    progress(f"kinds: {walk.kind}")
    await walk.walk(api)  # warm both paths
    await walk_bare(client, bare_queue, [], walk.updates)
    ours: list[float] = []
    bare: list[float] = []
    for prepared in await _prepared(walk, api, serial):  # interleaved, so noise hits both alike
        await walk.walk(api, ours, prepared)
        await walk_bare(client, bare_queue, bare, walk.updates)
    ours_rates: list[float] = []
    bare_rates: list[float] = []
    for round_ in range(rounds):
        pool = await _prepared(walk, api, per_round)
        sides = [(ours_rates, lambda pool=pool: walk.walk(api, None, pool.pop())),
                 (bare_rates, lambda: walk_bare(client, bare_queue, [], walk.updates))]
        for rates, one in sides if round_ % 2 == 0 else reversed(sides):
            rates.append(await concurrently(per_round, CONCURRENCY, one))
    latency_ratio = median(ours) / median(bare)
    ratios = [o / b for o, b in zip(ours_rates, bare_rates)]
    rate_ratio = median(ratios)
    name = f"kind: {walk.kind}"
    return [
        Result(name, f"request latency c=1 ({walk.updates} Updates)", "ms", median(ours) * 1000,
               p95(ours) * 1000, median(bare) * 1000, latency_ratio, "≤ 1.0× baseline", latency_ratio <= 1.0,
               f"{walk.describes}; {serial} cases"),
        Result(name, f"throughput c={CONCURRENCY}", "cases/s", median(ours_rates), None, median(bare_rates),
               rate_ratio, "≥ 0.8× baseline", rate_ratio >= 0.8,
               f"{per_round * rounds} cases a side in {rounds} rounds; rounds' ratios "
               f"{', '.join(f'{r:.3f}' for r in ratios)}"),
    ]


async def run(stack: Stack, *, quick: bool, sizes: tuple[int, int, int] | None = None) -> list[Result]:
    """`sizes`: (cases at c=1, cases a side a round at c=20, rounds); by default the mode's."""
    serial, per_round, rounds = sizes or ((3, 20, 2) if quick else (10, 30, 4))
    client = await Client.connect(stack.temporal_address)
    results: list[Result] = []
    async with LeanClient(stack.api_url) as api:
        await set_up(api)
        for walk in WALKS.values():
            results += await measure(walk, api, client, stack.task_queue + "-baseline",
                                     serial=serial, per_round=per_round, rounds=rounds)
    return results
