"""DigestWorkflow: one run per scheduled (or triggered) digest email.

Started by the subscription's Temporal Schedule, whose workflow ids are ``digest-<subscription>``
followed by the scheduled time, so each run has its own id. That id keys the email's outbox row:
a retried activity finds the run already sent and does not mail it again. No I/O happens here.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from casework.cases.jobs import DigestJob, DigestRequest, DigestResult

# A digest an hour late is still worth sending; one a day late is noise, so stop retrying then.
DIGEST_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))
DIGEST_ATTEMPT_TIMEOUT = timedelta(minutes=5)
DIGEST_GIVE_UP_AFTER = timedelta(hours=6)


@workflow.defn
class DigestWorkflow:
    @workflow.run
    async def run(self, request: DigestRequest) -> DigestResult:
        return await workflow.execute_activity(
            "send_digest",
            DigestJob(subscription_id=request.subscription_id, run_key=workflow.info().workflow_id),
            start_to_close_timeout=DIGEST_ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=DIGEST_GIVE_UP_AFTER,
            retry_policy=DIGEST_RETRY,
            result_type=DigestResult,
        )
