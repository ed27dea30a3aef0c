"""Deadline activities: the calendar arithmetic (which needs the `holidays` package and the closures
table, so it must not run in workflow code) and the warning/breach emails to the people responsible.

`compute_deadlines` is a pure function of its input plus the region's calendar *now*
(`casework.calendar.schedules`, which the API also uses for a new case's first deadlines).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.correspondence import message_id_for
from activities.refusals import refused_for_good
from casework.calendar import schedules
from casework.calendar.deadlines import local_date
from casework.calendar.policies import DayUnit
from casework.cases.contracts import ComputeDeadlinesResult
from casework.cases.jobs import (
    CalendarNoticeJob,
    ComputeDeadlinesInput,
    DeadlineNoticeJob,
    DeadlineNoticeResult,
    OpenCasesPage,
)
from casework.cases.stages import StagePlan
from casework.documents import rendering
from casework.platform import mail
from casework.platform.config import Settings
from casework.platform.db import AppUser, CaseRecord, OutboxMessage, Team, reading

log = logging.getLogger(__name__)

NOTICES_IN_FLIGHT = 40  # calendar notices: cases told and not yet done with it, at once
# How long a case may take over a notice before it gets the signal as well: a case whose worker
# is not running (or is far behind) still has the notice in its history for when it comes.
NOTICE_PATIENCE_SECONDS = 20.0


class DeadlineActivities:
    def __init__(self, sessionmaker: async_sessionmaker, settings: Settings) -> None:
        self._sessionmaker = sessionmaker
        self._engine = sessionmaker.kw["bind"]
        self._settings = settings

    # Data PostgreSQL refuses for good fails these at once (activities.refusals), not for ever.
    @activity.defn
    async def compute_deadlines(self, inp: ComputeDeadlinesInput) -> ComputeDeadlinesResult:
        with refused_for_good("deadline calculation"):
            return await schedules.compute_deadlines(self._engine, inp)

    @activity.defn
    async def notify_deadline(self, job: DeadlineNoticeJob) -> DeadlineNoticeResult:
        with refused_for_good(f"{job.kind} notice for case {job.state.reference}"):
            return await self._notify(job)

    async def _notify(self, job: DeadlineNoticeJob) -> DeadlineNoticeResult:
        state = job.state
        async with reading(self._sessionmaker) as session:
            team = await session.get(Team, state.team) if state.team else None
            owner = await session.get(AppUser, state.assignee_id) if state.assignee_id else None
            if team is not None and team.manager_id is not None:
                managers = [m for m in [await session.get(AppUser, team.manager_id)] if m is not None]
            else:
                # An unallocated case has no team manager: the complaints managers hear of it.
                managers = list((await session.scalars(
                    select(AppUser).where(AppUser.roles.contains(["manager"]), AppUser.active).order_by(AppUser.id)
                )).all())
            sent = await session.get(OutboxMessage, job.business_key)
        manager_name = ", ".join(m.display_name for m in managers) or None
        people = [owner.email if owner else None, team.email if team else None]
        if job.kind == "breach":
            people = [m.email for m in managers] + people
        recipients = list(dict.fromkeys(address for address in people if address))
        if sent is not None and sent.status == "sent":
            log.info("deadline notice %s already sent; not sending again", job.business_key)
            return DeadlineNoticeResult(recipients=recipients, message_id=sent.message_id,
                                        manager_name=manager_name)
        if not recipients:
            return DeadlineNoticeResult(recipients=[], manager_name=manager_name)
        context = self._context(job, team.name if team else None, owner, manager_name)
        try:
            rendered = rendering.render_email(self._settings.templates_dir, f"deadline_{job.kind}", context)
        except rendering.TemplateError as exc:
            raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc
        message_id = message_id_for(job.business_key)
        message = mail.build_message(sender=self._settings.mail_from, to=recipients, subject=rendered.subject,
                                     text=rendered.text, html=rendered.html, message_id=message_id)
        values = dict(case_reference=state.reference, purpose=f"deadline_{job.kind}", channel="email",
                      recipient=", ".join(recipients)[:320], message_id=message_id)
        async with self._sessionmaker() as session, session.begin():
            await session.execute(insert(OutboxMessage).values(business_key=job.business_key, status="pending",
                                                               **values)
                                  .on_conflict_do_nothing(index_elements=["business_key"]))
        await asyncio.to_thread(mail.send_message, self._settings, message)
        async with self._sessionmaker() as session, session.begin():
            sent_values = dict(values, status="sent", sent_at=datetime.now(timezone.utc))
            await session.execute(insert(OutboxMessage).values(business_key=job.business_key, **sent_values)
                                  .on_conflict_do_update(index_elements=["business_key"], set_=sent_values))
        return DeadlineNoticeResult(recipients=recipients, message_id=message_id, manager_name=manager_name)

    def _context(self, job: DeadlineNoticeJob, team_name: str | None, owner: AppUser | None,
                 manager_name: str | None) -> dict[str, Any]:
        state = job.state
        clock = state.clock
        assert clock is not None  # only cases with a clock get deadline notices
        policy = clock.policy
        return {
            "case": {
                "reference": state.reference,
                "type_name": state.case_type.name,
                "date_received": state.date_received,
                "category": state.letter_fields()["category"] or "",
                "complainant_name": state.complainant.name,
                "stage": StagePlan.from_data(state.case_type.stages).get(state.stage).label,
            },
            "deadline": {
                "date": clock.deadline,
                "warning_on": clock.warning_on,
                "explanation": clock.explanation,
                "policy": policy.name,
                "unit": "working days" if policy.unit is DayUnit.WORKING else "calendar days",
                "holding_response": policy.holding_response_at_deadline and clock.stopped_on is None,
                "due_at": local_date(job.due_at, policy.region),
            },
            "team": {"name": team_name or "not allocated"},
            "owner": {"name": owner.display_name if owner else "nobody yet"},
            "manager": {"name": manager_name or "the complaints managers"},
        }

    @activity.defn
    async def list_open_cases(self, page: OpenCasesPage) -> list[str]:
        """Open cases with a clock on `region`'s calendar, in reference order, after `after_reference`."""
        with refused_for_good(f"open cases of calendar {page.region}"):
            return await self._open_cases(page)

    async def _open_cases(self, page: OpenCasesPage) -> list[str]:
        async with reading(self._sessionmaker) as session:
            stmt = (
                select(CaseRecord.reference)
                .where(CaseRecord.status == "open", CaseRecord.calendar_region == page.region,
                       CaseRecord.deadline.is_not(None), CaseRecord.reference > page.after_reference)
                .order_by(CaseRecord.reference)
                .limit(page.limit)
            )
            return list((await session.scalars(stmt)).all())

    @activity.defn
    async def signal_open_cases(self, job: CalendarNoticeJob) -> int:
        """Tell every open case on the notice's calendar, in reference order, a page at a time; how
        many were told. Each is told with the Update `apply_calendar_change`, which answers once the
        case has recomputed and committed its dates, so no more than NOTICES_IN_FLIGHT cases have
        the change waiting at once: signals as fast as the server takes them would queue thousands
        of workflow tasks, past the worker's sticky-queue timeout, and each case would then be
        replayed from its whole history. A case whose code predates the Update gets the signal
        `calendar_changed`. The heartbeat after each page (the last reference, the count so far) is
        where a retried attempt carries on. A case whose workflow has ended since the page was read
        is skipped."""
        details = activity.info().heartbeat_details
        after, told = (str(details[0]), int(details[1])) if details else (job.after_reference, 0)
        finished = (after, told)  # the progress a retry may carry on from: whole pages only
        beaten = [time.monotonic()]
        client = activity.client()
        notice = job.notice
        gate = asyncio.Semaphore(NOTICES_IN_FLIGHT)

        async def tell(reference: str) -> bool:
            async with gate:
                case = client.get_workflow_handle(reference)
                try:
                    try:
                        await asyncio.wait_for(case.execute_update("apply_calendar_change", notice),
                                               NOTICE_PATIENCE_SECONDS)
                    except (WorkflowUpdateFailedError, asyncio.TimeoutError):
                        # Its run knows no such Update, or has not got to it: the signal is kept
                        # in its history (a case told twice records nothing the second time).
                        await case.signal("calendar_changed", notice)
                except RPCError as exc:
                    if exc.status is not RPCStatusCode.NOT_FOUND:
                        raise
                    log.info("case %s not signalled: its workflow is no longer running", reference)
                    return False
                finally:
                    if time.monotonic() - beaten[0] > 5:  # alive, while a slow page is under way
                        beaten[0] = time.monotonic()
                        activity.heartbeat(*finished)
                return True

        while True:
            with refused_for_good(f"open cases of calendar {notice.region}"):
                page = await self._open_cases(OpenCasesPage(region=notice.region, after_reference=after,
                                                            limit=job.page_size))
            if not page:
                return told
            told += sum(await asyncio.gather(*map(tell, page)))
            after = page[-1]
            finished = (after, told)
            activity.heartbeat(*finished)
