"""Workflow code that calls what workflow code must not: for tests/test_workflow_determinism.py.

Not passed through the sandbox (no module of ours outside casework.platform.workflow_runner.PURE_MODULES
is), so the sandbox imports it afresh for each run and checks every call, as it does workflows/.
Not named test_*, so pytest does not collect it.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from datetime import date, datetime

from temporalio import workflow

# What each call does; its name is what the sandbox reports it could not access.
CALLS = {
    "datetime.datetime.now": lambda: datetime.now().isoformat(),
    "datetime.datetime.utcnow": lambda: datetime.utcnow().isoformat(),
    "datetime.date.today": lambda: date.today().isoformat(),
    "time.time": lambda: str(time.time()),
    "time.monotonic": lambda: str(time.monotonic()),
    "random.random": lambda: str(random.random()),
    "uuid.uuid4": lambda: str(uuid.uuid4()),
    "os.environ": lambda: os.environ.get("HOME", ""),
    "__builtins__.open": lambda: open(__file__).read(1),
}


@workflow.defn
class CallsWorkflow:
    """Calls CALLS[call], or, for "workflow", what workflow code uses instead."""

    @workflow.run
    async def run(self, call: str) -> str:
        if call == "workflow":
            return f"{workflow.now().isoformat()} {workflow.uuid4()} {workflow.random().random()}"
        return CALLS[call]()
