"""How Temporal's refusals of an Update become HTTP answers.

The messages are the server's own (temporal CLI dev server 1.x): a closed case's Update is answered
NOT_FOUND "workflow execution already completed" (tests/test_case_rules.py walks that one through the
API); a case whose workflow task keeps failing, FAILED_PRECONDITION "Unable to perform workflow
execution update due to Workflow Task in failed state." (seen after a workflow's task had failed
three times, which takes the server about 12 s to reach, too slow to stage here on every run).
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import HTTPException
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig, RPCError, RPCStatusCode

from api.errors import from_rpc_error, registration_refused
from devtools.embedded import free_port, start_temporal_dev_server
from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from tests.casefixtures import auth, complaint

REF = "COMP/000042/26"


def refusal(status: RPCStatusCode, message: str) -> RPCError:
    return RPCError(message, status, b"")


def test_a_workflow_task_in_failed_state_is_503_to_retry_not_a_closed_case() -> None:
    answer = from_rpc_error(refusal(
        RPCStatusCode.FAILED_PRECONDITION,
        "Unable to perform workflow execution update due to Workflow Task in failed state."), REF)

    assert answer.status_code == 503
    assert answer.headers == {"Retry-After": "5"}
    assert REF in answer.detail and "Workflow Task in failed state" in answer.detail
    assert "nothing was applied" in answer.detail


@pytest.mark.parametrize("status", [RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED])
def test_a_busy_or_unreachable_server_is_503(status: RPCStatusCode) -> None:
    answer = from_rpc_error(refusal(status, "workflow is busy"), REF)

    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"


@pytest.mark.parametrize("status", [RPCStatusCode.UNKNOWN, RPCStatusCode.DEADLINE_EXCEEDED])
def test_a_call_cut_short_may_have_been_applied_so_it_is_504_to_repeat_with_its_key(status: RPCStatusCode) -> None:
    # What the client raises for an Update in flight when the Temporal server is restarted (make chaos).
    step = from_rpc_error(refusal(status, "transport error"), REF)
    registration = registration_refused(refusal(status, "transport error"), REF)

    for answer in (step, registration):
        assert answer.status_code == 504 and answer.headers["Retry-After"] == "5"
        assert REF in answer.detail and "same Idempotency-Key" in answer.detail


def test_a_completed_workflow_is_409_naming_the_closed_stage() -> None:
    answer = from_rpc_error(refusal(RPCStatusCode.NOT_FOUND, "workflow execution already completed"), REF)

    assert answer.status_code == 409
    assert answer.detail == {"message": f"case {REF} is closed", "stage": "closed"}


def test_a_missing_workflow_is_404() -> None:
    answer = from_rpc_error(refusal(RPCStatusCode.NOT_FOUND, "sql: no rows in result set"), REF)

    assert answer.status_code == 404 and REF in answer.detail


def test_anything_else_is_not_dressed_up_as_a_client_error() -> None:
    error = refusal(RPCStatusCode.INTERNAL, "boom")

    with pytest.raises(RPCError) as raised:
        from_rpc_error(error, REF)
    assert raised.value is error and not isinstance(raised.value, HTTPException)


async def test_registration_while_temporal_is_unreachable_is_503_and_the_key_starts_the_case_later(
        settings, temporal, engine, worker, tmp_path) -> None:
    """Temporal goes away after the API connected: registration answers 503 (nothing started), and
    the same request with the same Idempotency-Key registers that very reference once it is back."""
    from api.main import create_app

    server = start_temporal_dev_server(db_file=None, port=free_port(), ui_port=None,
                                       search_attributes=SEARCH_ATTRIBUTES, log_file=tmp_path / "temporal.log")
    try:
        doomed = await Client.connect(server.address, data_converter=pydantic_data_converter,
                                      retry_config=RetryConfig(max_retries=1, initial_interval_millis=50))
    finally:
        server.stop()
    headers = auth("handler", **{"Idempotency-Key": "while-temporal-is-away"})
    body = complaint()
    for client, expected in ((doomed, 503), (temporal, 201)):
        app = create_app(settings, temporal=client, engine=engine)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60) as api:
            response = await api.post("/cases", json=body, headers=headers)
        assert response.status_code == expected, response.text
        if expected == 503:
            assert response.headers["Retry-After"] == "5"
            assert "same Idempotency-Key" in response.json()["detail"]
            reference = response.json()["detail"].split()[1]
    assert response.json()["reference"] == reference
