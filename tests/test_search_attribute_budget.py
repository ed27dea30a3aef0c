"""The search attributes (casework.cases.search_attributes) fit the cluster, and the cluster gets
them from the code.

A Temporal cluster on PostgreSQL visibility (docker-compose.yml's, and the usual self-hosted one)
allows each namespace at most 10 Keyword, 3 Datetime, 3 Bool, 3 Int, 3 Double, 3 Text and 3
KeywordList custom search attributes; registering one more fails, and so would every workflow
that upserts it. Every kind of case shares the one list, so a new kind spends from the same budget.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from casework.cases.search_attributes import ALL_KEYS, SEARCH_ATTRIBUTES
from casework.platform.config import PROJECT_ROOT
from devtools.embedded import _indexed_value_types, list_search_attributes

POSTGRESQL_VISIBILITY_LIMITS = {
    "Keyword": 10, "Datetime": 3, "Bool": 3, "Int": 3, "Double": 3, "Text": 3, "KeywordList": 3,
}


def test_the_search_attributes_fit_postgresql_visibility():
    used = Counter(SEARCH_ATTRIBUTES.values())
    assert set(used) <= set(POSTGRESQL_VISIBILITY_LIMITS), used
    over = {kind: count for kind, count in used.items() if count > POSTGRESQL_VISIBILITY_LIMITS[kind]}
    assert over == {}, f"over PostgreSQL visibility's per-namespace limit: {over}"


def test_each_search_attribute_is_named_once():
    names = [key.name for key in ALL_KEYS]
    assert len(names) == len(set(names)) == len(SEARCH_ATTRIBUTES)


# docker-compose.yml's registration job: tests/test_deployment.py.


# --- The registration module, against the session's dev server ------------------------------------

async def _new_namespace(client: Client) -> str:
    namespace = f"sa-{uuid.uuid4().hex[:8]}"
    retention = Duration()
    retention.FromTimedelta(timedelta(days=1))
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention))
    return namespace


def _register(address: str, namespace: str, wait: str = "60") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devtools.register_search_attributes", "--address", address,
         "--namespace", namespace, "--wait", wait],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


async def test_the_registration_module_registers_the_list_and_can_be_run_again(temporal, temporal_address):
    namespace = await _new_namespace(temporal)
    # Run as docker-compose.yml runs it, right after the namespace is created (it waits for it).
    first = await asyncio.to_thread(_register, temporal_address, namespace)
    assert first.returncode == 0, first.stderr
    again = await asyncio.to_thread(_register, temporal_address, namespace, "0")
    assert again.returncode == 0, again.stderr
    types = _indexed_value_types()
    registered = await list_search_attributes(temporal, namespace)
    assert {name: registered.get(name) for name in SEARCH_ATTRIBUTES} == {
        name: types[kind] for name, kind in SEARCH_ATTRIBUTES.items()}


async def test_the_registration_module_refuses_a_type_conflict(temporal, temporal_address):
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    namespace = await _new_namespace(temporal)
    name = next(iter(SEARCH_ATTRIBUTES))
    for attempt in range(60):  # until the new namespace is known to the frontend
        try:
            await temporal.operator_service.add_search_attributes(AddSearchAttributesRequest(
                namespace=namespace, search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_TEXT}))
            break
        except Exception:  # noqa: BLE001
            if attempt == 59:
                raise
            await asyncio.sleep(0.5)
    result = await asyncio.to_thread(_register, temporal_address, namespace)
    assert result.returncode == 1
    assert "different type" in result.stderr and name in result.stderr
