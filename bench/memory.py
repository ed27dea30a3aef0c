"""Scenario 6: worker memory per open case held in the workflow cache.

Opens N cases straight through Temporal, as registration does (the API's own `start_case`:
update-with-start, waiting until the case is registered), and divides the worker's RSS growth by N.

Baseline, in the same run: the bare workflow of the steps scenario, started and given one Update
(as a registered case has had), N of them cached by the baseline worker, which is set up like
ours. It is what the SDK itself keeps per cached run that has handled an Update.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.routes.cases import start_case
from bench import sdk_memory
from bench.baseline import BareWorkflow
from bench.loadgen import LeanClient
from bench.stack import Stack
from bench.stats import Result, progress
from bench.steps import concurrently
from bench.walks import OPENS, Walk, set_up
from casework.cases.contracts import Actor, CaseTypeConfig, Correspondent
from casework.kinds.complaint.contracts import CaseDetails, CaseStart
from casework.platform.db import dispose_engine, make_engine
from devtools.demo import CASE_TYPES

COMP = next(t for t in CASE_TYPES if t["code"] == "COMP")
ACTOR = Actor(user_id=1, username="handler", display_name="Hana Handler", roles=["handler"])


def case_start(n: int, run_id: str) -> CaseStart:
    return CaseStart(
        reference=f"MEM/{run_id}/{n:06d}",
        # With its deadline policy, as the API passes it: a registered case runs its clock.
        case_type=CaseTypeConfig(**{k: COMP[k] for k in ("code", "name", "reference_prefix", "stages",
                                                        "outcome_options", "close_reasons",
                                                        "escalation_type", "deadline_policy")}),
        details=CaseDetails(channel="email", category="Billing", severity="low",
                            description="Charged twice for March " * 4, date_received=date.today()),
        correspondents=[Correspondent(id=str(uuid.uuid4()), is_primary=True, name=f"Person {n}",
                                      email=f"p{n}@example.net", address_lines=["1 High St", "Town"],
                                      postcode="AB1 2CD")],
        actor=ACTOR,
    )


async def _open(client: Client, engine: AsyncEngine, stack: Stack, count: int, run_id: str) -> None:
    gate = asyncio.Semaphore(50)

    async def one(n: int) -> None:
        async with gate:
            await start_case(client, engine, stack.task_queue, case_start(n, run_id))

    await asyncio.gather(*(one(n) for n in range(count)))
    with psycopg.connect(stack.database_url) as conn:
        done = conn.execute("select count(*) from case_record where reference like %s",
                            (f"MEM/{run_id}/%",)).fetchone()[0]
    if done < count:
        raise RuntimeError(f"only {done} of {count} cases registered")


async def _open_bare(client: Client, task_queue: str, count: int) -> None:
    gate = asyncio.Semaphore(50)

    async def one() -> None:
        async with gate:
            handle = await client.start_workflow(BareWorkflow.run, id=f"bare-mem-{uuid.uuid4()}",
                                                 task_queue=task_queue)
            await handle.execute_update(BareWorkflow.step, 0)

    await asyncio.gather(*(one() for _ in range(count)))


async def _rss_per_run(stack: Stack, process: str, count: int, open_runs) -> tuple[float, float, float]:
    """Warm the worker up, then open `count` runs; (KiB per run, RSS before, RSS after in MB)."""
    await open_runs(50)
    await asyncio.sleep(2)
    before = stack.rss_mb(process)
    await open_runs(count)
    await asyncio.sleep(2)
    after = stack.rss_mb(process)
    return (after - before) * 1024 / count, before, after


async def run(stack: Stack, *, quick: bool) -> list[Result]:
    count = 500 if quick else 2500  # enough for the slope; the full run has 30 minutes in all
    client = await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)
    engine = make_engine(stack.database_url)  # the calendar read for each case's first deadlines
    try:
        ours, before, after = await _rss_per_run(
            stack, "worker", count, lambda n: _open(client, engine, stack, n, uuid.uuid4().hex[:6]))
    finally:
        await dispose_engine(engine)
    bare, bare_before, bare_after = await _rss_per_run(
        stack, "baseline-worker", count, lambda n: _open_bare(client, stack.task_queue + "-baseline", n))
    return [Result("memory", "worker RSS per cached open case", "KiB", ours, None, bare, ours / bare,
                   "≤ 60 KiB", ours <= 60,
                   f"{count} open cases; RSS {before:.0f} → {after:.0f} MB; baseline: {count} bare runs "
                   f"after one Update each, RSS {bare_before:.0f} → {bare_after:.0f} MB")]


# The SDK's own run shaped like a registered case (bench/sdk_memory.py): started by an Update with
# start that runs a local activity, waiting on a timer, with a case-sized input.
CASE_SHAPED = "+ a timer, a 2.4 KB input"
KIND_TARGET = 1.3


async def _open_kind(walk: Walk, api: LeanClient, count: int) -> None:
    async def one() -> None:
        await walk.open(api)

    await concurrently(count, 20, one)


async def run_kinds(stack: Stack, *, quick: bool) -> list[Result]:
    """Worker RSS per cached open case of each kind (opened through the API), against the SDK's
    case-shaped run measured on a fresh worker set up like ours, against the same server."""
    count = 200 if quick else 500
    sdk, sdk_before, sdk_after = await sdk_memory.held_per_run(stack.temporal_address, CASE_SHAPED, count,
                                                               stack.root)
    results = []
    async with LeanClient(stack.api_url) as api:
        await set_up(api)
        for kind, walk in OPENS.items():
            progress(f"memory by kind: {kind}")
            ours, before, after = await _rss_per_run(stack, "worker", count,
                                                     lambda n, walk=walk: _open_kind(walk, api, n))
            ratio = ours / sdk
            results.append(Result(
                "memory by kind", f"{kind}: worker RSS per cached open case", "KiB", ours, None, sdk, ratio,
                f"≤ {KIND_TARGET}× the SDK's", ratio <= KIND_TARGET,
                f"{count} open cases; RSS {before:.0f} → {after:.0f} MB; baseline: the SDK's case-shaped run "
                f"({CASE_SHAPED!r}), {count} on a fresh worker, RSS {sdk_before:.0f} → {sdk_after:.0f} MB"))
    return results
