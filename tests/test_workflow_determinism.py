"""Workflow code must be deterministic: the same history, the same decisions, on every replay.

Two guards:
- at run time, the runner production builds (WORKFLOW_RUNNER's default, Temporal's sandbox) fails
  the workflow task of a workflow that calls the clock, randomness, the environment or a file
  (tests/nondeterministic_workflows.py), and still runs one that uses workflow.now() and friends;
- before anything runs, an AST scan of every module under workflows/ refuses those same calls, so
  workflow code is held to it whatever WORKFLOW_RUNNER a deployment opts into.
"""

from __future__ import annotations

import ast
import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from casework.platform.config import PROJECT_ROOT, Settings
from casework.platform.workflow_runner import PURE_MODULES, SANDBOX_RESTRICTIONS, workflow_runner_named
from tests.nondeterministic_workflows import CALLS, CallsWorkflow

PRODUCTION_RUNNER = Settings.model_fields["workflow_runner"].default


# --- At run time: the sandbox --------------------------------------------------------------------

def test_production_runs_the_sandbox_and_it_checks_our_workflow_code():
    assert PRODUCTION_RUNNER == "sandboxed"
    passed_through = SANDBOX_RESTRICTIONS.passthrough_modules
    ours = {name for name in passed_through if name.split(".")[0] in {"workflows", "casework", "activities", "api", "tests"}}
    assert ours == set(PURE_MODULES)
    assert not any(name == "workflows" or name.startswith("workflows.") for name in passed_through)
    assert not SANDBOX_RESTRICTIONS.passthrough_all_modules


async def _first_task_failure(client: Client, workflow_id: str) -> str | None:
    """"<failure type>: <message>" of the run's first failed workflow task, or None once the run
    has completed."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(200):
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failure = event.workflow_task_failed_event_attributes.failure
                return f"{failure.application_failure_info.type}: {failure.message}"
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                return None
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id}: no workflow task failed or completed in 10 s")


async def _run(client: Client, runner_name: str, calls: list[str]) -> dict[str, str | None]:
    task_queue = f"determinism-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[CallsWorkflow],
                      workflow_runner=workflow_runner_named(runner_name)):
        ids = {call: f"{task_queue}-{call}" for call in calls}
        for call, workflow_id in ids.items():
            await client.start_workflow(CallsWorkflow.run, call, id=workflow_id, task_queue=task_queue)
        try:
            return {call: await _first_task_failure(client, workflow_id) for call, workflow_id in ids.items()}
        finally:
            for workflow_id in ids.values():
                try:
                    await client.get_workflow_handle(workflow_id).terminate("test over")
                except Exception:  # noqa: BLE001 (already completed)
                    pass


async def test_the_production_runner_fails_the_task_of_a_workflow_that_calls_the_clock_or_chance(temporal):
    failures = await _run(temporal, PRODUCTION_RUNNER, [*CALLS, "workflow"])
    assert failures.pop("workflow") is None  # workflow.now(), workflow.uuid4(), workflow.random(): fine
    for call, message in failures.items():
        assert message is not None, f"{call} ran in the sandbox"
        # The task fails and is retried, the run stays open: nothing non-deterministic is recorded.
        assert message.startswith(f"RestrictedWorkflowAccessError: Cannot access {call}"), (call, message)


async def test_unsandboxed_nothing_stops_it(temporal):
    """What WORKFLOW_RUNNER=unsandboxed gives up: only the static scan below guards workflow code then."""
    assert await _run(temporal, "unsandboxed", ["datetime.datetime.now"]) == {"datetime.datetime.now": None}


# --- Before anything runs: a static scan of workflows/ --------------------------------------------

WORKFLOWS_DIR = PROJECT_ROOT / "workflows"

# Qualified names workflow code must not call (or, for os.environ, touch), and what to use instead.
# A name ending in ".*" covers every member of that module.
FORBIDDEN = {
    "datetime.datetime.now": "workflow.now()",
    "datetime.datetime.utcnow": "workflow.now()",
    "datetime.datetime.today": "workflow.now()",
    "datetime.date.today": "workflow.now().date() (or casework.calendar.deadlines.case_today)",
    "time.time": "workflow.now()",
    "time.time_ns": "workflow.now()",
    "time.monotonic": "workflow.now()",
    "time.monotonic_ns": "workflow.now()",
    "time.perf_counter": "workflow.now()",
    "time.sleep": "workflow.sleep()",
    "uuid.uuid1": "workflow.uuid4()",
    "uuid.uuid4": "workflow.uuid4()",
    "random.*": "workflow.random()",
    "secrets.*": "workflow.random()",
    # In a workflow asyncio.sleep is a durable timer too; workflow.sleep says so and takes a summary.
    "asyncio.sleep": "workflow.sleep()",
    "os.environ": "a setting passed in the workflow's input",
    "os.getenv": "a setting passed in the workflow's input",
    "builtins.open": "an activity",
}

# (module path under the project, qualified name) -> why it is fine there. None today.
ALLOWED: dict[tuple[str, str], str] = {}


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it names, from the module's imports (at any depth)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualified(node: ast.expr, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = aliases.get(node.id, f"builtins.{node.id}" if node.id == "open" else None)
    return None if base is None else ".".join([base, *reversed(parts)])


def _forbidden(name: str) -> str | None:
    for pattern in FORBIDDEN:
        if name == pattern or (pattern.endswith(".*") and name.startswith(pattern[:-1])):
            return pattern
        if not pattern.endswith(".*") and name.startswith(pattern + "."):  # os.environ.get
            return pattern
    return None


def nondeterministic_calls(source: str, path: str = "<source>") -> list[str]:
    """Each use of a forbidden name in `source`, called or not (`default_factory=datetime.now` is
    as bad as a call), as "path:line name (use ... instead)"."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found: dict[tuple[int, str], str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load)):
            continue
        name = _qualified(node, aliases)
        pattern = name and _forbidden(name)
        if pattern and (path, pattern) not in ALLOWED:
            found.setdefault((node.lineno, pattern), f"{path}:{node.lineno} {name} (use {FORBIDDEN[pattern]} instead)")
    return [found[key] for key in sorted(found)]


def _workflow_modules() -> list[Path]:
    return sorted(WORKFLOWS_DIR.rglob("*.py"))


def test_the_scan_sees_every_workflow_module():
    assert (WORKFLOWS_DIR / "__init__.py") in _workflow_modules()
    assert len(_workflow_modules()) >= 3


@pytest.mark.parametrize("path", _workflow_modules(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_workflow_code_calls_nothing_non_deterministic(path: Path):
    relative = str(path.relative_to(PROJECT_ROOT))
    assert nondeterministic_calls(path.read_text(), relative) == []


@pytest.mark.parametrize("source", [
    "from datetime import datetime\ndatetime.now()",
    "import datetime\ndatetime.datetime.utcnow()",
    "import datetime as dt\ndt.date.today()",
    "from datetime import date as d\nd.today()",
    "import time\ntime.time()",
    "from time import monotonic\nmonotonic()",
    "import uuid\nuuid.uuid4()",
    "from uuid import uuid1\nuuid1()",
    "import random\nrandom.random()",
    "import random\nrandom.Random().random()",
    "from random import choice\nchoice([1, 2])",
    "import asyncio\nasync def f():\n    await asyncio.sleep(1)",
    "import os\nos.environ['HOME']",
    "import os\nos.environ.get('HOME')",
    "from os import environ\nenviron.get('HOME')",
    "import os\nos.getenv('HOME')",
    "open('x.txt').read()",
    "class W:\n    def run(self):\n        import time\n        return time.time()",
    "from dataclasses import field\nfrom datetime import datetime\nfield(default_factory=datetime.now)",
])
def test_the_scan_finds(source: str):
    assert nondeterministic_calls(source), source


@pytest.mark.parametrize("source", [
    "from temporalio import workflow\nworkflow.now(); workflow.uuid4(); workflow.random().random()",
    "from temporalio import workflow\nasync def f():\n    await workflow.sleep(1)",
    "from datetime import time, datetime, timezone\ndatetime.combine(d, time.min, timezone.utc)",  # datetime.time, not the time module
    "import asyncio\nasyncio.Lock(); asyncio.gather()",
    "from datetime import datetime\ndatetime.fromisoformat('2026-01-01')",
])
def test_the_scan_lets_through(source: str):
    assert nondeterministic_calls(source) == []
