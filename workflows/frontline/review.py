"""ImprovementReviewWorkflow: one run per fortnightly service improvement review.

Started by the review's Temporal Schedule (`frontline-improvement-review`); each run's workflow id
(the schedule's id and the scheduled time) keys the agenda email's outbox row, so a retried
activity does not mail it twice. No I/O happens here.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from casework.kinds.frontline.contracts import AgendaJob, AgendaRequest, AgendaResult

AGENDA_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))


@workflow.defn
class ImprovementReviewWorkflow:
    @workflow.run
    async def run(self, request: AgendaRequest) -> AgendaResult:
        job = AgendaJob(run_key=workflow.info().workflow_id, reviewers=request.reviewers,
                        since=workflow.now() - timedelta(days=request.every_days))
        return await workflow.execute_activity(
            "send_improvement_agenda", job, start_to_close_timeout=timedelta(minutes=5),
            schedule_to_close_timeout=timedelta(hours=6), retry_policy=AGENDA_RETRY, result_type=AgendaResult)
