"""`python -m bench.step_cpu [cases]`: CPU spent per step, by process, walking cases one at a time.

Processes: the API, the worker, the Temporal dev server and PostgreSQL (its postmaster and every
backend; the bare workflow uses no database).

A diagnostic, not a scenario: it explains the step figures of `make bench` (where the time goes,
and what the bare baseline does not do). CPU is read from /proc/<pid>/task/*/schedstat, which
counts nanoseconds (psutil's ticks are 10 ms), before and after each request; medians per step.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

import psutil
from temporalio.client import Client

from bench import steps
from bench.loadgen import LeanClient
from bench.stack import Stack, start_app, start_stack, unwind_on_sigterm

NAMES = ["register", "allocate", "acknowledge", "document", "submit", "approve", "send", "outcome", "close"]
PROCESSES = ["api", "worker", "temporal", "postgres"]


def cpu_seconds(pid: int) -> float:
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            pass
    return total / 1e9


def pids(stack: Stack) -> dict[str, list[int]]:
    """The processes measured; for PostgreSQL its postmaster, whose backends are looked up at each
    snapshot."""
    return {"api": [stack.processes["api"].pid], "worker": [stack.processes["worker"].pid],
            "temporal": [stack.temporal_pid], "baseline": [stack.processes["baseline-worker"].pid],
            "postgres": [p.pid for p in stack.postmasters()]}


def _with_children(pid: int) -> list[int]:
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children())]
    except psutil.NoSuchProcess:
        return []


def snapshot(of: dict[str, list[int]]) -> dict[str, float]:
    # PostgreSQL serves each connection from its own process, forked from the postmaster.
    return {name: sum(cpu_seconds(pid) for root in roots for pid in _with_children(root))
            if name == "postgres" else sum(cpu_seconds(pid) for pid in roots)
            for name, roots in of.items()}


async def measure(stack: Stack, cases: int) -> None:
    of = pids(stack)
    client = await Client.connect(stack.temporal_address)
    bare_queue = stack.task_queue + "-baseline"
    per_step: dict[str, list[dict[str, float]]] = {name: [] for name in NAMES}
    bare: list[dict[str, float]] = []
    async with LeanClient(stack.api_url) as api:
        await steps.walk_case(api, [])
        await steps.walk_bare(client, bare_queue, [])
        send = api.request
        for _ in range(cases):
            done = 0

            async def counted(method: str, url: str, **kwargs):
                nonlocal done
                before = snapshot(of)
                response = await send(method, url, **kwargs)
                await asyncio.sleep(0.02)  # let the worker finish what the response did not wait for
                after = snapshot(of)
                per_step[NAMES[done]].append({k: (after[k] - before[k]) * 1000 for k in after})
                done += 1
                return response

            api.request = counted  # type: ignore[method-assign]
            await steps.walk_case(api, [])
            api.request = send  # type: ignore[method-assign]
            before = snapshot(of)
            await steps.walk_bare(client, bare_queue, [])
            await asyncio.sleep(0.02)
            after = snapshot(of)
            bare.append({k: (after[k] - before[k]) * 1000 / steps.STEPS for k in after})

    print(f"CPU ms per step, median of {cases} cases")
    print(f"{'step':12s}" + "".join(f"{p:>10s}" for p in PROCESSES) + f"{'total':>10s}")
    totals = dict.fromkeys(PROCESSES, 0.0)
    for name in NAMES:
        medians = {p: statistics.median(m[p] for m in per_step[name]) for p in PROCESSES}
        for p in PROCESSES:
            totals[p] += medians[p]
        print(f"{name:12s}" + "".join(f"{medians[p]:10.1f}" for p in PROCESSES) + f"{sum(medians.values()):10.1f}")
    print(f"{'per case':12s}" + "".join(f"{totals[p]:10.1f}" for p in PROCESSES) + f"{sum(totals.values()):10.1f}")
    bare_medians = {p: statistics.median(m[p] for m in bare) for p in ("baseline", "temporal")}
    print(f"{'bare update':12s}{'':10s}{bare_medians['baseline']:10.1f}{bare_medians['temporal']:10.1f}"
          f"{'':10s}{sum(bare_medians.values()):10.1f}   (worker column: the baseline's worker)")


def main() -> None:
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    unwind_on_sigterm()
    with ExitStack() as running:
        stack = start_stack(running)
        start_app(stack, running)
        stack.start_python("baseline-worker", ["-m", "bench.baseline"], running)
        asyncio.run(measure(stack, cases))


if __name__ == "__main__":
    main()
