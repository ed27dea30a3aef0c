"""The embedded services that `make run` and the other tests start: real PostgreSQL and Temporal."""

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from devtools.embedded import (
    SearchAttributeConflict,
    TemporalDevServer,
    ensure_database,
    ensure_search_attributes,
    free_port,
    list_search_attributes,
    start_postgres,
    start_temporal_dev_server,
)
from tests.casefixtures import workflow_ids_matching

CASE_REFERENCE = SearchAttributeKey.for_keyword("CaseReference")


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    # Not tmp_path: as root, PostgreSQL runs as another user, and every pytest session start resets
    # /tmp/pytest-of-root to mode 0700, which would lock that user out mid-run.
    directory = Path(tempfile.mkdtemp(prefix="casework-test-pg-"))
    yield directory / "postgres"
    shutil.rmtree(directory, ignore_errors=True)


def test_embedded_postgres_creates_a_database_and_answers_queries(pg_dir: Path) -> None:
    postgres = start_postgres(pg_dir)
    try:
        ensure_database(postgres.url(), "casework")
        ensure_database(postgres.url(), "casework")  # a second run finds it and leaves it alone

        with psycopg.connect(postgres.url("casework")) as conn:
            assert conn.execute("select 1, current_database()").fetchone() == (1, "casework")
    finally:
        postgres.stop()

    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres.url("casework"), connect_timeout=2)


def test_embedded_postgres_keeps_its_data_across_restarts(pg_dir: Path) -> None:
    postgres = start_postgres(pg_dir)
    try:
        ensure_database(postgres.url(), "casework")
        with psycopg.connect(postgres.url("casework")) as conn:
            conn.execute("create table kept (note text)")
            conn.execute("insert into kept values ('still here')")
    finally:
        postgres.stop()

    postgres = start_postgres(pg_dir)
    try:
        with psycopg.connect(postgres.url("casework")) as conn:
            assert conn.execute("select note from kept").fetchall() == [("still here",)]
    finally:
        postgres.stop()


@pytest.mark.asyncio
async def test_temporal_dev_server_keeps_search_attributes_and_workflows_across_restarts(
    tmp_path: Path,
) -> None:
    server = start_temporal(tmp_path, SEARCH_ATTRIBUTES)
    try:
        client = await Client.connect(server.address)
        assert SEARCH_ATTRIBUTES.keys() <= (await list_search_attributes(client, "default")).keys()
        # No worker polls this queue: the workflow just waits, which is all persistence needs.
        await client.start_workflow(
            "NeverRuns",
            id="persisted-case",
            task_queue="nobody-polls-this",
            search_attributes=TypedSearchAttributes([SearchAttributePair(CASE_REFERENCE, "CMP-0001")]),
        )
    finally:
        server.stop()
    assert server.process.returncode is not None

    server = start_temporal(tmp_path, SEARCH_ATTRIBUTES)  # same database file, same flags
    try:
        client = await Client.connect(server.address)
        assert SEARCH_ATTRIBUTES.keys() <= (await list_search_attributes(client, "default")).keys()
        assert await workflow_ids_matching(client, 'CaseReference = "CMP-0001"') == ["persisted-case"]
    finally:
        server.stop()


@pytest.mark.asyncio
async def test_ensure_search_attributes_registers_what_a_restart_ignores(tmp_path: Path) -> None:
    start_temporal(tmp_path, {"CaseReference": "Keyword"}).stop()

    wanted = {"CaseReference": "Keyword", "CaseDueDate": "Datetime"}
    server = start_temporal(tmp_path, wanted)
    try:
        client = await Client.connect(server.address)
        # temporal 1.9 applies --search-attribute only to a new database file, so CaseDueDate is missing.
        await ensure_search_attributes(client, "default", wanted)
        await ensure_search_attributes(client, "default", wanted)  # idempotent

        assert wanted.keys() <= (await list_search_attributes(client, "default")).keys()
        with pytest.raises(SearchAttributeConflict):
            await ensure_search_attributes(client, "default", {"CaseDueDate": "Keyword"})
    finally:
        server.stop()




def start_temporal(tmp_path: Path, search_attributes: dict[str, str]) -> TemporalDevServer:
    return start_temporal_dev_server(
        db_file=tmp_path / "temporal.db",
        port=free_port(),
        ui_port=None,
        search_attributes=search_attributes,
        log_file=tmp_path / "temporal.log",
    )
