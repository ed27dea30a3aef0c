"""`python -m bench.kind_cpu [KIND ...] [--cases N] [--profile DIR]`: where each kind's walk spends
its CPU, by process, at concurrency 20, next to the bare workflow with as many Updates; and what a
case of each kind writes into its Temporal history.

A diagnostic, not a scenario: it explains the `kinds` figures of `make bench`. For each walk of
bench/walks.py: CPU ms per case of the API, the worker, the Temporal server and PostgreSQL (each
backend), ours against the bare workflow's (the bare worker in the worker column), and the event
types of one walked case's history (events per request; regular against local activities; upserts;
timers). `--profile DIR` also records py-spy profiles (collapsed stacks, `DIR/<kind>-<process>.txt`)
of the API and the worker while our side walks, and prints the functions where most samples were.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from temporalio.client import Client

from bench.kinds import CONCURRENCY, _prepared
from bench.loadgen import LeanClient
from bench.stack import Stack, start_app, start_stack, unwind_on_sigterm
from bench.step_cpu import pids, snapshot
from bench.steps import concurrently, walk_bare
from bench.walks import WALKS, Caller, Walk, set_up

PROCESSES = ["api", "worker", "temporal", "postgres"]


async def history(client: Client, reference: str) -> str:
    """The event types of one case's history, counted."""
    counts: collections.Counter[str] = collections.Counter()
    async for event in client.get_workflow_handle(reference).fetch_history_events():
        counts[str(event.WhichOneof("attributes")).removesuffix("_event_attributes")] += 1
    return f"{sum(counts.values())} events: " + ", ".join(f"{n} {name}" for name, n in counts.most_common())


def record(pid: int, out: Path) -> subprocess.Popen:
    return subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format",
                             "raw", "--rate", "200", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def hottest(collapsed: Path, top: int = 25) -> str:
    """Functions by the share of samples they are on the stack of (inclusive), then by self."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        return "(no samples)"
    lines = [f"{total} samples; inclusive:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    lines.append("self:")
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


async def measure(stack: Stack, walk: Walk, api: LeanClient, client: Client, cases: int,
                  profile: Path | None) -> None:
    of = pids(stack)
    bare_queue = stack.task_queue + "-baseline"
    await walk.walk(api)
    await walk_bare(client, bare_queue, [], walk.updates)
    references: list[str] = []
    register = walk.register

    async def remembered(call: Caller, prepared: object) -> str:
        references.append(await register(call, prepared))
        return references[-1]

    pool = await _prepared(walk, api, cases)
    spies = []
    if profile is not None:
        spies = [(name, record(stack.processes[name].pid, profile / f"{walk.kind}-{name}.txt"))
                 for name in ("api", "worker")]
        await asyncio.sleep(1)
    before = snapshot(of)
    ours_rate = await concurrently(cases, CONCURRENCY, lambda: Walk(
        walk.kind, walk.describes, walk.updates, remembered, walk.steps).walk(api, None, pool.pop()))
    await asyncio.sleep(0.2)
    ours = {k: (v - before[k]) * 1000 / cases for k, v in snapshot(of).items()}
    for _, spy in spies:
        spy.send_signal(2)
        spy.wait(30)
    before = snapshot(of)
    bare_rate = await concurrently(cases, CONCURRENCY, lambda: walk_bare(client, bare_queue, [], walk.updates))
    await asyncio.sleep(0.2)
    bare = {k: (v - before[k]) * 1000 / cases for k, v in snapshot(of).items()}
    ours_total = sum(ours[p] for p in PROCESSES)
    bare_total = bare["baseline"] + bare["temporal"]
    print(f"\n== {walk.kind} ({walk.updates} requests): {ours_rate:.2f} cases/s against {bare_rate:.2f} "
          f"({ours_rate / bare_rate:.2f}×); CPU ms a case:")
    print("  ours: " + ", ".join(f"{p} {ours[p]:.1f}" for p in PROCESSES) + f"; total {ours_total:.1f}")
    print(f"  bare: worker {bare['baseline']:.1f}, temporal {bare['temporal']:.1f}; total {bare_total:.1f}")
    print(f"  history of {references[0]}: {await history(client, references[0])}")
    for name, _ in spies:
        print(f"-- py-spy, {name}:\n" + hottest(profile / f"{walk.kind}-{name}.txt"))  # type: ignore[operator]


async def run(stack: Stack, kinds: list[str], cases: int, profile: Path | None) -> None:
    client = await Client.connect(stack.temporal_address)
    async with LeanClient(stack.api_url) as api:
        await set_up(api)
        for kind in kinds:
            await measure(stack, WALKS[kind], api, client, cases, profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kinds", nargs="*", metavar="KIND", help=f"of {', '.join(WALKS)} (default: all)")
    parser.add_argument("--cases", type=int, default=60, help="cases each side walks, 20 at a time")
    parser.add_argument("--profile", type=Path, help="record py-spy profiles of the API and worker here")
    args = parser.parse_args()
    if unknown := set(args.kinds) - set(WALKS):
        parser.error(f"no walk for {', '.join(sorted(unknown))}")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    unwind_on_sigterm()
    with ExitStack() as running:
        stack = start_stack(running)
        start_app(stack, running)
        stack.start_python("baseline-worker", ["-m", "bench.baseline"], running)
        asyncio.run(run(stack, args.kinds or list(WALKS), args.cases, args.profile))


if __name__ == "__main__":
    main()
