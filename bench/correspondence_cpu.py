"""`python -m bench.correspondence_cpu [calls] [--profile FILE]`: the correspondence activity, in-process.

A diagnostic for the worker's share of the acknowledge and send steps: it calls
``dispatch_correspondence`` directly (no Temporal) against its own embedded PostgreSQL (migrated,
demo data loaded) and an SMTP sink that drops mail, for an acknowledgement email and for a response
email with the approved draft attached as PDF. Prints the median wall and CPU ms per call (this
process's CPU, all threads: the sink and PostgreSQL run apart, so it is what the worker would
spend); ``--profile`` writes cProfile stats of the measured calls, e.g. for ``python -m pstats``
(the main thread only: the SMTP conversation and the PDF run in worker threads, so for those use
``py-spy record --threads -- python -m bench.correspondence_cpu``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import date, datetime, timezone
from pathlib import Path

from bench.stack import start_database, unwind_on_sigterm
from bench.walks import DRAFT
from devtools import demo, embedded
from casework.platform.config import Settings
from casework.kinds.complaint.contracts import CaseDetails, CaseState
from casework.cases.contracts import CaseTypeConfig, Channel, Correspondent, DocumentRef
from casework.cases.jobs import CorrespondenceJob
from casework.platform.db import CaseDocument, CaseType, dispose_engine, make_engine, make_sessionmaker
from casework.documents.store import DOCX, store_blob
from worker import tune_garbage_collector


def case_state(case_type: CaseTypeConfig, draft: DocumentRef) -> CaseState:
    """A case at the send step, as the workflow hands it to the activity."""
    now = datetime.now(timezone.utc)
    return CaseState(
        reference=f"COMP/{uuid.uuid4().int % 1_000_000:06d}/26", case_type=case_type, stage="send",
        details=CaseDetails(channel="email", category="Billing", severity="low",
                            description="Charged twice", date_received=date.today()),
        correspondents=[Correspondent(id="c1", is_primary=True, name="Bench Person",
                                      email="bench@example.net", address_lines=["1 High St"],
                                      postcode="AB1 2CD")],
        team="CENTRAL", assignee_name="Dev Drafter", documents=[draft],
        submitted_draft_id=draft.id, registered_by="Harriet Handler", registered_at=now,
    )


async def measure(settings: Settings, calls: int, profile: Path | None) -> None:
    from activities.correspondence import CorrespondenceActivities

    engine = make_engine(settings.database_url, pool_pre_ping=False)  # as worker.py
    sessionmaker = make_sessionmaker(engine)
    content = DRAFT
    draft = DocumentRef(id=str(uuid.uuid4()), kind="draft", filename="draft.docx", content_type=DOCX,
                        size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                        added_by="Dev Drafter", added_at=datetime.now(timezone.utc))
    async with sessionmaker() as session, session.begin():
        await demo.load(session)
        await store_blob(session, content)
        session.add(CaseDocument(case_reference=None, **draft.model_dump()))
        row = await session.get(CaseType, "COMP")
    case_type = CaseTypeConfig(
        code=row.code, name=row.name, reference_prefix=row.reference_prefix, stages=row.stages,
        outcome_options=row.outcome_options, close_reasons=row.close_reasons,
        escalation_type=row.escalation_type, deadline_policy=row.deadline_policy)
    activities = CorrespondenceActivities(sessionmaker, settings)
    state = case_state(case_type, draft)
    jobs = {
        "acknowledgement email": lambda n: CorrespondenceJob(
            business_key=f"{state.reference}/acknowledgement/{n}", purpose="acknowledgement",
            channel=Channel.EMAIL, state=state, sender_name="Dev Drafter"),
        "response email + PDF": lambda n: CorrespondenceJob(
            business_key=f"{state.reference}/response/{n}", purpose="response",
            channel=Channel.EMAIL, state=state, sender_name="Dev Drafter",
            extra={"response": {"summary": ""}}, attachment_ids=[draft.id]),
    }
    tune_garbage_collector()  # as worker.py does
    profiler = cProfile.Profile() if profile else None
    sequence = 0
    wall: dict[str, list[float]] = {name: [] for name in jobs}
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    for round_ in range(5 + calls):  # the first 5 warm up: imports, pool, caches
        for name, job in jobs.items():  # interleaved, so that noise on the machine hits both
            sequence += 1
            current = job(sequence)
            if profiler and round_ >= 5:
                profiler.enable()
            started, started_cpu = time.perf_counter(), time.process_time()
            await activities.dispatch_correspondence(current)
            if round_ >= 5:
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - started_cpu)
            if profiler:
                profiler.disable()
    print(f"ms per dispatch_correspondence call, median of {calls}")
    for name in jobs:
        print(f"  {name:24s} wall {statistics.median(wall[name]) * 1000:6.2f}   "
              f"cpu {statistics.median(cpu[name]) * 1000:6.2f}")
    if profiler:
        profiler.dump_stats(profile)
        print(f"profile written to {profile}")
    await dispose_engine(engine)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.correspondence_cpu")
    parser.add_argument("calls", nargs="?", type=int, default=50)
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the measured calls here")
    args = parser.parse_args()
    unwind_on_sigterm()
    with ExitStack() as running:
        root = Path(running.enter_context(tempfile.TemporaryDirectory(prefix="casework-corr-")))
        database_url = start_database(running, root)
        # In its own process, so that this one's CPU time is the activity's alone.
        port = embedded.free_port()
        sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                                 "-l", f"127.0.0.1:{port}"])
        running.callback(embedded.stop_process, sink, name="SMTP sink")
        embedded.wait_for_port("127.0.0.1", port, sink, name="SMTP sink", timeout=30)
        settings = Settings(environment="development", database_url=database_url, smtp_host="127.0.0.1",
                            smtp_port=port, data_dir=root / "data")
        asyncio.run(measure(settings, args.calls, args.profile))


if __name__ == "__main__":
    main()
