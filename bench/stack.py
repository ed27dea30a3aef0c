"""An isolated stack for benchmarks: its own embedded PostgreSQL, Temporal dev server, SMTP sink,
worker and API processes, on free ports under a temporary directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from devtools import embedded
from casework.platform.config import PROJECT_ROOT
from casework.cases.search_attributes import SEARCH_ATTRIBUTES


class NullSink:
    """Accepts, counts and drops mail: delivery is measured, not inspected."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        self.received += 1
        return "250 OK"


@dataclass
class Stack:
    database_url: str
    temporal_address: str
    smtp_port: int
    api_url: str
    task_queue: str
    root: Path
    temporal_pid: int
    sink: NullSink = field(default_factory=NullSink)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    worker_metrics_port: int = field(default_factory=embedded.free_port)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "ENVIRONMENT": "development",
            "DATABASE_URL": self.database_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "TASK_QUEUE": self.task_queue,
            "DATA_DIR": str(self.root / "data"),
            # The worker serves its metrics as in production, on a port nothing else uses.
            "WORKER_METRICS_PORT": str(self.worker_metrics_port),
            # Letters and responses printed by the built-in renderer unless PDF_RENDERER says
            # otherwise: the figures compare the engine with a bare workflow, and LibreOffice
            # (found on the machine, PDF_RENDERER=auto would use it) starts a process per print,
            # seconds of its own (docs/performance.md, "Every kind").
            "PDF_RENDERER": os.environ.get("PDF_RENDERER", "builtin"),
            **extra,
        }

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time so far of each process of the stack, this one (the load generator) included.

        From /proc/<pid>/stat, which keeps the time of threads that have ended. PostgreSQL serves
        each connection from a process of its own: its postmaster and every child count, those
        that have ended too (a closed connection's backend)."""
        def used(pid: int, *, reaped: bool = False) -> float:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:  # a process that has ended, e.g. a PostgreSQL backend
                return 0.0
            return times.user + times.system + (times.children_user + times.children_system if reaped else 0)

        pids = {name: [process.pid] for name, process in self.processes.items()}
        pids["temporal"] = [self.temporal_pid]
        pids["load generator"] = [os.getpid()]
        times = {name: sum(used(pid) for pid in group) for name, group in pids.items()}
        # A backend that has ended (a connection closed) counts in its postmaster's children times.
        postmasters = self.postmasters()
        times["postgres"] = (sum(used(p.pid, reaped=True) for p in postmasters)
                             + sum(used(c.pid) for p in postmasters for c in p.children()))
        return times

    def postmasters(self) -> list[psutil.Process]:
        """The stack's PostgreSQL postmaster (its backends are its children, coming and going)."""
        data_dir = str(self.root / "pg")
        return [p for p in psutil.process_iter(["name", "cmdline"])
                if p.info["name"] == "postgres" and data_dir in (p.info["cmdline"] or [])]

    def rss_mb(self, name: str) -> float:
        return psutil.Process(self.processes[name].pid).memory_info().rss / 2**20

    def start_python(self, name: str, args: list[str], running: ExitStack, **env: str) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "wb")
        process = subprocess.Popen([sys.executable, *args], cwd=PROJECT_ROOT, env=self.env(**env),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        running.callback(embedded.stop_process, process, name=name)
        running.callback(log.close)
        self.processes[name] = process
        return process


def unwind_on_sigterm() -> None:
    """Make SIGTERM (from `timeout`, a CI runner, `kill`) raise SystemExit, so the ExitStack that
    started PostgreSQL, Temporal, the worker and the API stops them: they run in sessions of their
    own and would otherwise outlive the benchmark."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def start_database(running: ExitStack, root: Path) -> str:
    """An embedded PostgreSQL in ``root / "pg"`` with a ``bench`` database migrated to head; its URL."""
    postgres = embedded.start_postgres(root / "pg")
    running.callback(postgres.stop)
    embedded.ensure_database(postgres.url(), "bench")
    database_url = postgres.url("bench")
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=PROJECT_ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": database_url}, stdout=subprocess.DEVNULL)
    return database_url


def start_stack(running: ExitStack) -> Stack:
    from aiosmtpd.controller import Controller

    root = Path(running.enter_context(tempfile.TemporaryDirectory(prefix="casework-bench-")))
    database_url = start_database(running, root)
    temporal = embedded.start_temporal_dev_server(
        db_file=None, port=embedded.free_port(), ui_port=None, search_attributes=SEARCH_ATTRIBUTES,
        log_file=root / "temporal.log")
    running.callback(temporal.stop)
    null_sink = NullSink()
    sink = Controller(null_sink, hostname="127.0.0.1", port=embedded.free_port())
    sink.start()
    running.callback(sink.stop)
    api_port = embedded.free_port()
    stack = Stack(database_url=database_url, temporal_address=temporal.address,
                  smtp_port=sink.port, api_url=f"http://127.0.0.1:{api_port}",
                  task_queue=f"bench-{uuid.uuid4().hex[:6]}", root=root,
                  temporal_pid=temporal.process.pid, sink=null_sink)
    subprocess.run([sys.executable, "-m", "devtools.demo"], cwd=PROJECT_ROOT, env=stack.env(), check=True,
                   stdout=subprocess.DEVNULL)
    return stack


def start_app(stack: Stack, running: ExitStack, *, max_cached: int = 1000) -> None:
    """The real worker and the real API, as separate processes (as in production)."""
    stack.start_python("worker", ["worker.py"], running, WORKER_MAX_CACHED_WORKFLOWS=str(max_cached))
    port = stack.api_url.rsplit(":", 1)[1]
    api = stack.start_python("api", ["-m", "uvicorn", "api.main:app", "--port", port, "--log-level",
                                     "warning"], running)
    embedded.wait_for_port("127.0.0.1", int(port), api, name="API", timeout=60)
