"""`make chaos`: cases in flight through every kind of case while the worker, Temporal and PostgreSQL fail.

Starts its own PostgreSQL, a file-backed Temporal dev server, an SMTP server that keeps what it
receives, the worker and the API (uvicorn) as separate processes, all in one temporary directory. N
HTTP clients each walk a case of some kind from registration to closed, as a real client would: every
request carries an Idempotency-Key and is repeated after a 503/504 (waiting its Retry-After) or a
dropped connection. Meanwhile the worker is killed with SIGKILL (and a new one started), then the
Temporal dev server is restarted on the same database file, then PostgreSQL on the same data
directory. At the end it prints

    cases closed, cases stuck, duplicate deliveries, lost timeline events, 5xx without Retry-After

and exits 1 unless they are N, 0, 0, 0, 0 (and no expected email is missing). Each case's timeline
is checked against its workflow: its histories are replayed, collecting every event the workflow
committed, and each must be a row of timeline_event. Everything it started is stopped and its
directory removed, also on failure or Ctrl-C.

A kind of case takes part once it registers its walk with `@walk(kind, ...)` in
`devtools/chaos_walks.py`; a kind in
`casework.kinds.KINDS` without one stops the run before anything starts.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller
from temporalio import workflow
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from casework.kinds import KINDS
from casework.platform.config import PROJECT_ROOT
from devtools import demo, embedded
from devtools.chaos_walks import WALKS, CaseClient, Tally, WalkFailed
from devtools.devstack import QUIET_LOGGERS, ShutdownRequested, StackFailed, run_step, stop_signals

log = logging.getLogger("devtools.chaos")

DATABASE_NAME = "casework"
REQUEST_TIMEOUT_SECONDS = 90.0


# ---- the SMTP server ----------------------------------------------------------------------------


class Sink:
    """An aiosmtpd handler that counts each message it receives by Message-ID."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.message_ids: Counter[str] = Counter()
        self.on_message: Callable[[], object] | None = None  # called (in the server's thread) before it answers

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.message_ids[str(message["Message-ID"])] += 1
        if self.on_message is not None:
            self.on_message()
        return "250 Message accepted for delivery"

    def received(self, message_id: str | None) -> bool:
        with self._lock:
            return message_id is not None and self.message_ids[message_id] > 0


# ---- the system under test ----------------------------------------------------------------------


class System:
    """PostgreSQL, Temporal, the SMTP sink, the worker and the API, each restartable."""

    def __init__(self, root: Path, running: ExitStack, *, crash: bool = False) -> None:
        self.root = root
        self.running = running
        self.crash = crash  # the faults kill Temporal and PostgreSQL (SIGKILL) rather than stop them
        self.sink = Sink()
        self.postgres: embedded.EmbeddedPostgres | None = None
        self.temporal: embedded.TemporalDevServer | None = None
        self.worker: subprocess.Popen | None = None
        self.api: subprocess.Popen | None = None
        self.temporal_port = embedded.free_port()
        self.api_port = embedded.free_port()
        self.database_url = ""
        self.env: dict[str, str] = {}
        running.callback(self._stop_all)  # last in, first out: this runs before the SMTP sink stops

    def start(self) -> None:
        self.start_postgres()
        assert self.postgres is not None
        embedded.ensure_database(self.postgres.url(), DATABASE_NAME)
        self.database_url = self.postgres.url(DATABASE_NAME)
        self.start_temporal()
        smtp = Controller(self.sink, hostname="127.0.0.1", port=embedded.free_port())
        smtp.start()
        self.running.callback(smtp.stop)
        self.env = {
            **os.environ,
            "ENVIRONMENT": "development",  # the demo users and their tokens
            "DATA_DIR": str(self.root / "data"),
            "DATABASE_URL": self.database_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TASK_QUEUE": f"chaos-{uuid.uuid4().hex[:8]}",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            # Each worker serves its metrics, as in production, on a port of its own here.
            "WORKER_METRICS_PORT": str(embedded.free_port()),
        }
        run_step("database migrations", ["-m", "alembic", "upgrade", "head"], self.env)
        run_step("demo configuration", ["-m", "devtools.demo"], self.env)
        self.start_worker()
        self.api = self._child("api", ["-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                                       "--port", str(self.api_port)])
        embedded.wait_for_port("127.0.0.1", self.api_port, self.api, name="API",
                               timeout=embedded.START_TIMEOUT_SECONDS)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_postgres(self) -> None:
        self.postgres = embedded.start_postgres(self.root / "postgres")

    def stop_postgres(self, *, kill: bool = False) -> None:
        if self.postgres is None:
            return
        if kill:
            import psutil

            postmaster = psutil.Process(self.postgres.pid)
            processes = [postmaster, *postmaster.children(recursive=True)]
            postmaster.kill()
            psutil.wait_procs(processes, timeout=embedded.STOP_TIMEOUT_SECONDS)
        self.postgres.stop()  # after a kill, only forgets the server
        self.postgres = None

    def start_temporal(self) -> None:
        self.temporal = embedded.start_temporal_dev_server(
            db_file=self.root / "temporal.db", port=self.temporal_port, ui_port=None,
            search_attributes=SEARCH_ATTRIBUTES, log_file=self.root / "temporal.log")

    def stop_temporal(self, *, kill: bool = False) -> None:
        if self.temporal is None:
            return
        if kill:
            self.temporal.process.kill()
            self.temporal.process.wait()
        self.temporal.stop()
        self.temporal = None

    def start_worker(self) -> None:
        self.worker = self._child("worker", ["worker.py"])

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()

    def _child(self, name: str, python_args: list[str]) -> subprocess.Popen:
        with (self.root / f"{name}.log").open("ab") as output:
            return subprocess.Popen([sys.executable, *python_args], cwd=PROJECT_ROOT, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def _stop_all(self) -> None:
        for name, process in (("API", self.api), ("worker", self.worker)):
            if process is not None:
                embedded.stop_process(process, name=name)
        self.stop_temporal()
        self.stop_postgres()

    def log_tails(self) -> str:
        return "\n".join(f"--- last lines of {name}.log\n{embedded._tail(self.root / f'{name}.log')}"
                         for name in ("worker", "api", "temporal"))


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    cases: int
    closed: int
    stuck: list[str]
    duplicates: dict[str, int]
    missing: dict[str, int]
    lost_events: dict[str, int]
    extra_events: dict[str, int]
    cases_made: int  # by the walks: their own and those they led to, such as stage-2 cases
    events_checked: int
    emails_received: int
    unreplayable: list[str]
    tally: Tally

    @property
    def passed(self) -> bool:
        return (self.closed == self.cases and not self.stuck and not self.duplicates and not self.missing
                and not self.lost_events and not self.extra_events and not self.unreplayable
                and not self.tally.bare_5xx)

    def report(self, seconds: float) -> str:
        tally = self.tally
        lines = [
            f"cases closed                {self.closed}/{self.cases}",
            f"cases stuck                 {len(self.stuck)}",
            f"duplicate deliveries        {sum(self.duplicates.values())}",
            f"lost timeline events        {sum(self.lost_events.values())}",
            f"5xx without Retry-After     {len(tally.bare_5xx)}",
            f"-- {self.cases_made} cases made by the walks, {self.events_checked} timeline events checked,"
            f" {self.emails_received} emails received",
            f"-- missing deliveries {sum(self.missing.values())}, timeline rows the workflow never committed "
            f"{sum(self.extra_events.values())}, histories that do not replay {len(self.unreplayable)}",
            f"-- {tally.answered} answers; repeated after 503: {tally.retried['503']}, 504: {tally.retried['504']},"
            f" other 5xx: {sum(n for k, n in tally.retried.items() if k not in ('503', '504', 'connection'))},"
            f" a dropped connection: {tally.retried['connection']} {dict(tally.dropped) or ''};"
            f" unconfirmed deliveries confirmed {tally.deliveries_confirmed}, resent {tally.deliveries_resent}",
            *(f"-- {fault}" for fault in tally.faults),
        ]
        for title, items in (("stuck", self.stuck), ("5xx without Retry-After", tally.bare_5xx),
                             ("walks refused", tally.failures), ("do not replay", self.unreplayable),
                             ("duplicated (case/purpose: extra)", [f"{k}: {n}" for k, n in self.duplicates.items()]),
                             ("missing (case/purpose: missing)", [f"{k}: {n}" for k, n in self.missing.items()]),
                             ("lost events (case: events)", [f"{k}: {n}" for k, n in self.lost_events.items()]),
                             ("rows never committed (case: rows)",
                              [f"{k}: {n}" for k, n in self.extra_events.items()])):
            lines += [f"   {title}: {item}" for item in items[:10]]
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: {self.cases} cases, {seconds:.0f} s")
        return "\n".join(lines)


async def drive(system: System, cases: int, *, think: float, stagger: float, deadline: float,
                outage: float) -> tuple[list[CaseClient], Tally]:
    """Walk `cases` cases through every kind, round robin, while the faults happen."""
    tally = Tally()
    walks = [WALKS[kind] for kind in KINDS]
    plan = [walks[i % len(walks)] for i in range(cases)]
    total_requests = sum(w.requests for w in plan)
    # A connection idle for the API's keep-alive (uvicorn's 5 s, a Retry-After's wait) is not reused
    # as the server closes it, which would count as a dropped connection.
    limits = httpx.Limits(max_connections=cases + 5, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=system.api_url, timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as http:
        clients = [CaseClient(walk, http, tally, system.sink, think) for walk in plan]

        async def one(i: int, client: CaseClient) -> None:
            await asyncio.sleep(stagger * i / max(cases, 1))
            try:
                await client.walk.run(client)
            except WalkFailed as exc:
                tally.failures.append(f"{client.reference or '(unregistered)'} ({client.walk.kind}): {exc}")

        walking = [asyncio.create_task(one(i, client)) for i, client in enumerate(clients)]
        faults = asyncio.create_task(inject_faults(system, tally, clients, total_requests, outage))
        done, pending = await asyncio.wait(walking, timeout=deadline)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a bug in the walk itself stops the run
        if not faults.done():
            tally.faults.append("not every fault happened before the walks ended")
            faults.cancel()
        await asyncio.gather(faults, return_exceptions=True)
        if faults.done() and not faults.cancelled() and faults.exception():
            raise faults.exception()  # type: ignore[misc]
    return clients, tally


async def inject_faults(system: System, tally: Tally, clients: list[CaseClient], total_requests: int,
                        outage: float) -> None:
    """Each fault once a further quarter of the requests has been answered, so cases are in flight."""

    async def after(share: float) -> str:
        while tally.answered < share * total_requests:
            tally.progressed.clear()
            await tally.progressed.wait()
        in_flight = sum(1 for c in clients if c.reference and not c.closed)
        return f"at {tally.answered} answers, {in_flight} cases in flight"

    loop = asyncio.get_running_loop()
    mail = asyncio.Event()
    system.sink.on_message = lambda: loop.call_soon_threadsafe(mail.set)

    async def mid_send(when: str) -> str:
        """The moment the SMTP server has an email and the worker has not yet heard it accepted."""
        mail.clear()
        try:
            await asyncio.wait_for(mail.wait(), timeout=15)
        except TimeoutError:
            return when
        return f"{when}, as the SMTP server took an email"

    async def now(when: str) -> str:
        return when

    started = time.monotonic()
    how = "killed (SIGKILL) and restarted" if system.crash else "restarted"
    faults: list[tuple[str, str, Callable[[str], Awaitable[str]], Callable[[], None], Callable[[], None]]] = [
        ("worker", "killed (SIGKILL), a new one started", mid_send, system.kill_worker, system.start_worker),
        ("Temporal dev server", how, now, partial(system.stop_temporal, kill=system.crash), system.start_temporal),
        ("PostgreSQL", how, now, partial(system.stop_postgres, kill=system.crash), system.start_postgres),
    ]
    for n, (name, what, moment, stop, start) in enumerate(faults, 1):
        when = await moment(await after(n / (len(faults) + 1)))
        began = time.monotonic()
        await asyncio.to_thread(stop)
        await asyncio.sleep(outage)
        await asyncio.to_thread(start)
        tally.faults.append(f"{name} {what} {when}; down {time.monotonic() - began:.1f} s")
    log.info("faults done after %.0f s", time.monotonic() - started)


# ---- the checks ---------------------------------------------------------------------------------


class CommittedEvents(Interceptor):
    """Collects, as a history replays, the timeline events of each projection that succeeded."""

    def __init__(self) -> None:
        self.events: dict[str, set[tuple[str, str, str]]] = {}  # reference -> (id, kind, summary)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        recorder = self

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> ActivityHandle:
                return recorder._watch(input.activity, input.args, super().start_activity(input))

            def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle:
                return recorder._watch(input.activity, input.args, super().start_local_activity(input))

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound

    def _watch(self, activity: str, args: Sequence[Any], handle: ActivityHandle) -> ActivityHandle:
        if activity == "project_case":
            projection, reference = args[0], workflow.info().workflow_id

            def committed(done: ActivityHandle) -> None:
                if not done.cancelled() and done.exception() is None:
                    for event in projection.events:  # some belong on another case's timeline
                        self.events.setdefault(event.case_reference or reference, set()).add(
                            (event.id, event.kind, event.summary))

            handle.add_done_callback(committed)
        return handle


async def committed_events(system: System,
                           references: list[str]) -> tuple[dict[str, set[tuple[str, str, str]]], list[str]]:
    """Every timeline event each case's workflow committed (projected), by replaying its histories."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

    from workflows.registry import WORKFLOWS

    client = await Client.connect(system.temporal_address, data_converter=pydantic_data_converter)
    recorder = CommittedEvents()
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter,
                        workflow_runner=UnsandboxedWorkflowRunner(), interceptors=[recorder])
    unreplayable = []
    for reference in references:
        run_id: str | None = None
        while True:  # the latest run, then each run it continued from
            history = await client.get_workflow_handle(reference, run_id=run_id).fetch_history()
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            if result.replay_failure is not None:
                unreplayable.append(f"{reference}: {result.replay_failure}")
            started = history.events[0].workflow_execution_started_event_attributes
            run_id = started.continued_execution_run_id or None
            if run_id is None:
                break
    return recorder.events, unreplayable


def timeline_rows(database_url: str, references: list[str]) -> dict[str, set[tuple[str, str, str]]]:
    """Each case's timeline_event rows as (id, kind, summary): a row with the event's id but another
    step's content counts as lost, not as there."""
    rows: dict[str, set[tuple[str, str, str]]] = {reference: set() for reference in references}
    with psycopg.connect(database_url) as conn:
        for event_id, reference, kind, summary in conn.execute(
                "SELECT id, case_reference, kind, summary FROM timeline_event WHERE case_reference = ANY(%s)",
                (references,)):
            rows[reference].add((event_id, kind, summary))
    return rows


def deliveries(database_url: str, sink: Sink, clients: list[CaseClient]) -> tuple[dict[str, int], dict[str, int]]:
    """Emails received per case and purpose, against what each walk sends: (duplicated, missing)."""
    references = [r for c in clients for r in c.references]
    with psycopg.connect(database_url) as conn:
        purposes = {message_id: (reference, purpose) for message_id, reference, purpose in conn.execute(
            "SELECT message_id, case_reference, purpose FROM outbox_message"
            " WHERE case_reference = ANY(%s) AND channel = 'email'", (references,))}
        # An email cut short opens a task to confirm or resend it, and its assignee is emailed.
        confirm_tasks: Counter[str] = Counter(dict(conn.execute(
            "SELECT case_reference, count(*) FROM case_task WHERE case_reference = ANY(%s)"
            " AND source LIKE 'delivery:%%' GROUP BY case_reference", (references,)).fetchall()))
    received: Counter[tuple[str, str]] = Counter()
    for message_id, count in sink.message_ids.items():
        if message_id in purposes:
            received[purposes[message_id]] += count
    duplicated: dict[str, int] = {}
    missing: dict[str, int] = {}
    for client in clients:
        for reference, sends in zip(client.references, client.walk.emails, strict=False):
            # A walk that did not finish may not have sent them all: only duplicates count then.
            expected = sends if client.closed else {}
            for purpose in {*expected, *(p for r, p in received if r == reference)}:
                got, want = received[(reference, purpose)], expected.get(purpose, 0)
                # At most the walk's own (or one), and one more for each confirm-or-resend task.
                most = max(want, 1) + (confirm_tasks[reference] if purpose == "task_assigned" else 0)
                if got > most:
                    duplicated[f"{reference}/{purpose}"] = got - most
                elif got < want:
                    missing[f"{reference}/{purpose}"] = want - got
    return duplicated, missing


async def check(system: System, clients: list[CaseClient], tally: Tally) -> Outcome:
    references = [r for c in clients for r in c.references]
    statuses: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {demo.demo_token('admin')}"}
    async with httpx.AsyncClient(base_url=system.api_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        for reference in references:
            answer = await http.get(f"/cases/{reference}", headers=headers)
            ok = answer.status_code == 200
            statuses[reference] = answer.json().get("status", "?") if ok else str(answer.status_code)
    # A walk's case is closed once every case it made is (a stage-2 case too).
    closed = sum(1 for c in clients if c.references and all(statuses[r] == "closed" for r in c.references))
    stuck = [f"{r} ({s})" for r, s in statuses.items() if s != "closed"]
    stuck += ["(never registered)"] * sum(1 for c in clients if not c.references)
    committed, unreplayable = await committed_events(system, references)
    # Every case commits at registration: none seen means the replay saw nothing, not that all is well.
    unreplayable += [f"{r}: no projection seen in its history" for r in references if not committed.get(r)]
    rows = timeline_rows(system.database_url, references)
    lost = {r: n for r in references if (n := len(committed.get(r, set()) - rows[r]))}
    extra = {r: n for r in references if (n := len(rows[r] - committed.get(r, set())))}
    duplicated, missing = deliveries(system.database_url, system.sink, clients)
    return Outcome(len(clients), closed, stuck, duplicated, missing, lost, extra,
                   cases_made=len(references), events_checked=sum(len(ids) for ids in committed.values()),
                   emails_received=sum(system.sink.message_ids.values()), unreplayable=unreplayable, tally=tally)


def run(cases: int, *, think: float, stagger: float, deadline: float, outage: float, crash: bool,
        keep: bool) -> int:
    missing_walks = [kind for kind in KINDS if kind not in WALKS]
    if missing_walks:
        print(f"chaos: no walk for kind(s) {missing_walks}: register one with @walk in devtools/chaos_walks.py",
              file=sys.stderr)
        return 2
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="casework-chaos-"))
    with ExitStack() as running:
        if not keep:
            running.callback(shutil.rmtree, root, ignore_errors=True)
        system = System(root, running, crash=crash)
        try:
            system.start()
            log.info("walking %d cases through %s", cases, ", ".join(KINDS))
            clients, tally = asyncio.run(drive(system, cases, think=think, stagger=stagger, deadline=deadline,
                                               outage=outage))
            outcome = asyncio.run(check(system, clients, tally))
        except (StackFailed, embedded.ServiceStartError) as exc:
            print(f"chaos: {exc}\n{system.log_tails()}", file=sys.stderr)
            return 1
        print(outcome.report(time.monotonic() - started), flush=True)
        if not outcome.passed:
            print(system.log_tails(), file=sys.stderr)
        if keep:
            print(f"chaos: logs and data kept in {root}")
        return 0 if outcome.passed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=int(os.environ.get("CHAOS_CASES", "30")),
                        help="cases in flight (default 30, or CHAOS_CASES)")
    parser.add_argument("--think", type=float, default=1.0, help="most seconds a client waits before a request")
    parser.add_argument("--stagger", type=float, default=10.0, help="seconds over which the cases start")
    parser.add_argument("--deadline", type=float, default=300.0,
                        help="seconds the walks may take; a case not closed by then is stuck")
    parser.add_argument("--outage", type=float, default=4.0,
                        help="seconds the worker, Temporal and PostgreSQL each stay down")
    parser.add_argument("--crash", action="store_true",
                        help="kill Temporal and PostgreSQL with SIGKILL instead of stopping them")
    parser.add_argument("--keep", action="store_true", help="keep the directory with the logs and data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for chatty in (*QUIET_LOGGERS, "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    stop_signals.install()
    try:
        return run(args.cases, think=args.think, stagger=args.stagger, deadline=args.deadline,
                   outage=args.outage, crash=args.crash, keep=args.keep)
    except ShutdownRequested as stop:
        print(f"chaos: {stop} received; stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
