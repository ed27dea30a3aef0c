"""CalendarChangeWorkflow: tell every open case on a region's calendar that its closed days changed.

Started by the admin API after a closure date or bank holiday is added or removed (or on request,
e.g. after upgrading the `holidays` package). Each case recomputes its own deadlines and re-arms its
own timer when it gets the `calendar_changed` signal; this workflow only fans the signal out.

It does so from one activity (`signal_open_cases`): a page of open cases at a time, a bounded
number of signals in flight, its progress heartbeated after each page, so a crash part-way resumes
after the last page it finished instead of signalling everyone again or missing anyone (a case told
twice recomputes the same dates and records nothing the second time). Signals sent from workflow
code cost this workflow's history two events and a share of a workflow task for every case; runs
started before the activity existed carry on that way (patch `calendar-notices-from-an-activity`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from casework.cases.contracts import CalendarChange, CalendarChangeRun
    from casework.cases.jobs import CalendarNoticeJob, OpenCasesPage

PAGE_SIZE = 200
SIGNALS_IN_FLIGHT = 20
LIST_TIMEOUT = timedelta(seconds=30)
# The activity runs as long as the cases take to be told; a worker that stops is noticed by its
# missing heartbeat, and the retry carries on after the last page it finished.
NOTICES_TIMEOUT = timedelta(hours=6)
NOTICES_HEARTBEAT = timedelta(seconds=60)
NOTICES_FROM_AN_ACTIVITY = "calendar-notices-from-an-activity"


@workflow.defn
class CalendarChangeWorkflow:
    @workflow.run
    async def run(self, change: CalendarChangeRun) -> int:
        """Returns how many open cases were told."""
        signalled, after = change.signalled, change.after_reference
        notice = CalendarChange(region=change.region, description=change.description,
                                requested_by=change.requested_by, calendar_as_of=change.calendar_as_of)
        if workflow.patched(NOTICES_FROM_AN_ACTIVITY):
            told: int = await workflow.execute_activity(
                "signal_open_cases", CalendarNoticeJob(notice=notice, after_reference=after),
                start_to_close_timeout=NOTICES_TIMEOUT, heartbeat_timeout=NOTICES_HEARTBEAT, result_type=int)
            return signalled + told
        while True:  # a run started before the activity: signals from workflow code
            page: list[str] = await workflow.execute_activity(
                "list_open_cases", OpenCasesPage(region=change.region, after_reference=after, limit=PAGE_SIZE),
                start_to_close_timeout=LIST_TIMEOUT, result_type=list[str],
            )
            if not page:
                return signalled
            for start in range(0, len(page), SIGNALS_IN_FLIGHT):
                batch = page[start:start + SIGNALS_IN_FLIGHT]
                told_now = await asyncio.gather(*(self._tell(reference, notice) for reference in batch))
                signalled += sum(told_now)
            after = page[-1]
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(change.model_copy(update={"after_reference": after,
                                                                   "signalled": signalled}))

    async def _tell(self, reference: str, notice: CalendarChange) -> bool:
        try:
            await workflow.get_external_workflow_handle(reference).signal("calendar_changed", notice)
        except FailureError:
            # Closed since the page was read (or its workflow is gone): nothing left to recompute.
            workflow.logger.info("case %s not signalled: its workflow is no longer running", reference)
            return False
        return True
