"""Workflows that stand for stuck cases in tests/test_stuck_cases.py (a module of their own, so the
sandbox can load them)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy


@workflow.defn
class TaskFailingCase:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in workflow code")  # not an ApplicationError: the task fails, retried


@activity.defn
async def unreachable_mail_server() -> None:
    raise ConnectionRefusedError("SMTP server refused the connection")


@workflow.defn
class ActivityFailingCase:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            unreachable_mail_server, start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50), backoff_coefficient=1.0))
