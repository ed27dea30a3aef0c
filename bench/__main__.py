"""`python -m bench [--quick] [--only NAME ...]`: run the benchmark scenarios on an isolated stack,
print a table, and keep the run as bench/results/<UTC time>.md and .json (e.g. 2026-12-05T011204.md;
untracked: the figures worth keeping go into docs/performance.md by hand)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import time
from contextlib import ExitStack
from datetime import datetime, timezone

import psutil

from bench import deadlines, kinds, letters, memory, readside, steps, xlsx_writers
from bench.stack import start_app, start_stack, unwind_on_sigterm
from bench.stats import HEADER, Result, row
from casework.platform.config import PROJECT_ROOT

SCENARIOS = ["letters", "xlsx_writers", "memory", "kind_memory", "steps", "kinds", "deadlines", "readside",
             "ten_million"]
STACK_SCENARIOS = set(SCENARIOS) - {"letters", "xlsx_writers"}
FULL_RUN_MINUTES = 30
RESULTS = PROJECT_ROOT / "bench" / "results"  # one .md and one .json per run; not in version control


def machine() -> str:
    return (f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
            f"Python {platform.python_version()}, {platform.system()} {platform.machine()}")


async def run_stack_scenarios(stack, chosen: list[str], quick: bool) -> list[Result]:
    results: list[Result] = []
    if "memory" in chosen:
        results += await memory.run(stack, quick=quick)
    if "kind_memory" in chosen:
        results += await memory.run_kinds(stack, quick=quick)
    if "steps" in chosen:
        results += await steps.run(stack, quick=quick)
    if "kinds" in chosen:
        results += await kinds.run(stack, quick=quick)
    if "deadlines" in chosen:
        results += await deadlines.run(stack, quick=quick)
    if "readside" in chosen:  # last: it loads the big table the others need not wait behind
        results += await readside.run(stack, quick=quick)
    if "ten_million" in chosen:  # the full mode only: loads up to 10M cases
        results += await readside.run_ten_million(stack, quick=quick)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for development (ten_million skipped)")
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, help="run only these scenarios")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    unwind_on_sigterm()
    chosen = args.only or SCENARIOS
    started = time.perf_counter()
    results: list[Result] = []
    if "letters" in chosen:
        results += letters.run(quick=args.quick)
    if "xlsx_writers" in chosen:  # needs no stack: the writers on made-up rows
        results += xlsx_writers.run(quick=args.quick)
    if set(chosen) & STACK_SCENARIOS:
        with ExitStack() as running:
            stack = start_stack(running)
            # Room for every case the memory scenarios hold open (theirs and each kind's), and for
            # the deadlines' cases: a case told of a calendar change that is not cached is replayed
            # first (with 6,000 cached, a fan-out over 10,000 took about 370 s instead of 105).
            memory_cases = 500 + 5 * 200 if args.quick else 2500 + 5 * 500
            max_cached = max(memory_cases, deadlines.CASES[args.quick]) + 1000
            start_app(stack, running, max_cached=max_cached)
            stack.start_python("baseline-worker", ["-m", "bench.baseline"], running,
                               WORKER_MAX_CACHED_WORKFLOWS=str(max_cached))
            results += asyncio.run(run_stack_scenarios(stack, chosen, args.quick))
    elapsed = time.perf_counter() - started
    if not args.quick and not args.only:  # the bound on a whole full run
        results.append(Result("run", "the whole full run", "min", elapsed / 60, target=f"≤ {FULL_RUN_MINUTES} min",
                              passed=elapsed <= FULL_RUN_MINUTES * 60))
    report(results, args.quick, elapsed, only=args.only)
    return 0


def report(results: list[Result], quick: bool, elapsed: float, only: list[str] | None = None) -> None:
    kind = ("quick" if quick else "full") + (f" (--only {' '.join(only)})" if only else "")
    table = "\n".join([HEADER, *(row(r) for r in results)])
    notes = "\n".join(f"- {r.scenario} / {r.metric}: {r.note}" for r in results if r.note)
    print(table)
    print(notes)
    print(f"{kind} run in {elapsed:.0f} s on {machine()}")
    now = datetime.now(timezone.utc)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / now.strftime("%Y-%m-%dT%H%M%S")
    path.with_suffix(".json").write_text(json.dumps({
        "when": now.isoformat(), "quick": quick, "only": only, "machine": machine(),
        "elapsed_seconds": round(elapsed, 1), "results": [r.as_dict() for r in results]}, indent=2))
    path.with_suffix(".md").write_text(
        f"# {now:%Y-%m-%d %H:%M} UTC — {kind} run ({elapsed:.0f} s)\n\n"
        f"Machine: {machine()}\n\n{table}\n\n{notes}\n")
    print(f"kept as {path.relative_to(PROJECT_ROOT)}.md and .json")


if __name__ == "__main__":
    sys.exit(main())
