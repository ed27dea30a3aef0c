"""What the SDK diagnostics (`bench.sdk_costs`, `bench.sdk_memory`) share: a Temporal dev server of
their own, and a worker process set up as worker.py sets ours up (the payload fast path, the
workflow runner WORKFLOW_RUNNER names, the worker's garbage-collector settings) running their
workflows. The runner is Temporal's sandbox unless WORKFLOW_RUNNER says otherwise; the figures
docs/performance.md figures so far were taken with the lean runner unsandboxed (WORKFLOW_RUNNER=lean-unsandboxed)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from bench.stack import unwind_on_sigterm
from devtools import embedded
from casework.platform import sdk_fastpath
from casework.platform.config import PROJECT_ROOT, get_settings
from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from casework.platform.workflow_runner import build_workflow_runner, compile_workflow_sources
from worker import tune_garbage_collector


async def serve(address: str, task_queue: str, *, workflows: list, activities: list,
                max_cached_workflows: int) -> None:
    """Run the worker until SIGTERM (in the process `start_worker` starts)."""
    sdk_fastpath.install()
    compile_workflow_sources(workflows)
    client = await Client.connect(address)
    tune_garbage_collector()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=workflows, activities=activities,
                      # Their workflows' modules import this one (and so worker.py, the database,
                      # ...): sandboxed, they pass through rather than being re-imported per run.
                      workflow_runner=build_workflow_runner(get_settings(), pass_through=("bench",)),
                      max_cached_workflows=max_cached_workflows):
        await stop.wait()


def parse_or_serve(parser: argparse.ArgumentParser,
                   serve_: Callable[[str, str], Awaitable[None]]) -> argparse.Namespace | None:
    """The command line; in the worker process (`--serve ADDRESS TASK_QUEUE`) runs `serve_`
    instead and returns None."""
    parser.add_argument("--serve", nargs=2, metavar=("ADDRESS", "TASK_QUEUE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_(*args.serve))
        return None
    unwind_on_sigterm()
    return args


@contextmanager
def own_temporal(prefix: str) -> Iterator[tuple[ExitStack, Path, embedded.TemporalDevServer]]:
    """An in-memory dev server with our search attributes and a scratch directory, both gone on
    exit, with what else was started on the ExitStack it yields."""
    with ExitStack() as running:
        root = Path(running.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        server = embedded.start_temporal_dev_server(
            db_file=None, port=embedded.free_port(), ui_port=None, search_attributes=SEARCH_ATTRIBUTES,
            log_file=root / "temporal.log")
        running.callback(server.stop)
        yield running, root, server


def start_worker(running: ExitStack, module: str, address: str, task_queue: str,
                 root: Path) -> subprocess.Popen:
    """`python -m <module> --serve ADDRESS TASK_QUEUE` in a process of its own, stopped when
    `running` unwinds; its output goes to a log under `root`."""
    with (root / f"worker-{task_queue}.log").open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", module, "--serve", address, task_queue],
                                  cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, env=os.environ)
    running.callback(embedded.stop_process, worker, name="worker")
    return worker
