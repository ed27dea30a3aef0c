"""How Temporal's refusals of an Update become HTTP answers.

The messages are the server's own (temporal CLI dev server 1.x): a closed case's Update is answered
NOT_FOUND "workflow execution already completed" (tests/test_case_rules.py walks that one through the
API); a case whose workflow task keeps failing, FAILED_PRECONDITION "Unable to perform workflow
execution update due to Workflow Task in failed state." (seen after a workflow's task had failed
three times, which takes the server about 12 s to reach, too slow to stage here on every run).
"""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from temporalio.service import RPCError, RPCStatusCode

from api.errors import from_rpc_error

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
