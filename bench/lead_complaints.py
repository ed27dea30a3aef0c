"""Scenario: a lead complaint filed, commented on and resolved (3 requests) at concurrency 20
through the real HTTP API, against the bare Temporal workflow taking the same 3 Update steps, in
the same run (the ratio is what counts, as for the complaint case's `steps`)."""

from __future__ import annotations

import time
import uuid

import httpx
from temporalio.client import Client

from bench.loadgen import LeanClient
from bench.stack import Stack
from bench.stats import Result, median
from bench.steps import concurrently, walk_bare

STEPS = 3
AUTH = {u: {"Authorization": f"Bearer demo-{u}-token"} for u in ("agent", "compliance", "admin")}
LISTS = (("lead_complaint_types", "service_issue", {"label": "Service Issue"}),
         ("lead_resolution_types", "rejected", {"label": "Rejected"}),
         ("lead_resolutions", "incomplete_profile", {"label": "Incomplete Profile", "parent": "rejected"}))


async def set_up(api_url: str) -> None:
    """What an administrator does once: the lists a complaint picks from."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        for name, code, body in LISTS:
            response = await http.put(f"/admin/lists/{name}/{code}", json=body, headers=AUTH["admin"])
            response.raise_for_status()


async def walk_complaint(api: LeanClient, latencies: list[float]) -> None:
    async def timed(url: str, user: str, body: dict) -> dict:
        started = time.perf_counter()
        response = await api.request("POST", url, headers=AUTH[user], json=body)
        latencies.append(time.perf_counter() - started)
        if response.status_code >= 300:
            raise RuntimeError(f"{url}: {response.status_code} {response.text}")
        return response.json()

    case = await timed("/lead-complaints", "agent", {"lead": "L-5001", "complaint_type": "service_issue",
                                                     "description": f"Bench {uuid.uuid4().hex[:8]}"})
    path = f"/cases/{case['reference']}"
    await timed(f"{path}/notes", "agent", {"text": "More details from the lead."})
    await timed(f"{path}/resolve", "compliance", {"resolution_type": "rejected", "resolution": "incomplete_profile"})


async def run(stack: Stack, *, quick: bool) -> list[Result]:
    client = await Client.connect(stack.temporal_address)
    bare_queue = stack.task_queue + "-baseline"
    concurrent, rounds, concurrency = (40, 2, 20) if quick else (300, 6, 20)
    await set_up(stack.api_url)
    async with LeanClient(stack.api_url) as api:
        await walk_complaint(api, [])
        await walk_bare(client, bare_queue, [], STEPS)
        ours_rates: list[float] = []
        bare_rates: list[float] = []
        sides = [(ours_rates, lambda: walk_complaint(api, [])),
                 (bare_rates, lambda: walk_bare(client, bare_queue, [], STEPS))]
        for round_ in range(rounds):  # the sides' order alternating, as in bench/steps.py
            for rates, walk in sides if round_ % 2 == 0 else reversed(sides):
                rates.append(await concurrently(concurrent // rounds, concurrency, walk))
    ratios = [o / b for o, b in zip(ours_rates, bare_rates)]
    ratio = median(ratios)
    return [Result("lead_complaints", f"file→comment→resolve c={concurrency}", "complaints/s",
                   median(ours_rates), None, median(bare_rates), ratio, "≥ 0.8× baseline", ratio >= 0.8,
                   f"{concurrent} complaints in {rounds} rounds against the bare workflow's {STEPS} Updates; "
                   f"rounds' ratios {', '.join(f'{r:.3f}' for r in ratios)}")]
