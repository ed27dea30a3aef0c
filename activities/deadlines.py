"""Deadline activities: the calendar arithmetic (which needs the `holidays` package and the closures
table, so it must not run in workflow code) and the warning/breach emails to the people responsible.

`compute_deadlines` is a pure function of its input plus the region's calendar *now*: bank holiday
data changes between releases of `holidays` and administrators add closures, so the workflow stores
the dates it gets back and never recomputes them itself.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timezone
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.correspondence import message_id_for
from casework import mail, rendering
from casework.config import Settings
from casework.contracts import (
    ComputeDeadlinesInput,
    ComputeDeadlinesResult,
    DeadlineNoticeJob,
    DeadlineNoticeResult,
    OpenCasesPage,
)
from casework.db import AppUser, ComplaintCase, OutboxMessage, Team, driver_connection, reading
from casework.deadlines import ExtensionRefusal, Pause, Schedule, compute_schedule, local_date, plan_extension
from casework.policies import DayUnit
from casework.stages import StagePlan
from casework.workdays import Region, WorkingCalendar, bank_holiday_names, build_calendar, holidays_version

log = logging.getLogger(__name__)

# How far past the latest date involved a calendar is loaded; deadlines never run further ahead.
_YEARS_AHEAD = 3


_CLOSURES = "SELECT day, reason FROM calendar_closure WHERE region = %(region)s"


async def load_calendar(conn: psycopg.AsyncConnection, region: Region,
                        years: range) -> tuple[WorkingCalendar, dict[date, str], str]:
    """The region's calendar: bank holidays for `years` plus the administrator's closures, the name of
    every closed day (for explanations), and where the data came from. Every registration asks, so
    the closures come from a prepared statement on psycopg's connection (``driver_connection``)."""
    closures = await (await conn.execute(_CLOSURES, {"region": region.value}, prepare=True)).fetchall()
    cal = build_calendar(region, years, [day for day, _ in closures])
    names = {**bank_holiday_names(region, years), **{day: reason for day, reason in closures}}
    source = f"{holidays_version()} + {len(closures)} closure(s) for {region.value}"
    return cal, names, source


def _years(inp: ComputeDeadlinesInput) -> range:
    dates = [inp.date_received, inp.today, *(p.started_on for p in inp.pauses),
             *(p.ended_on for p in inp.pauses if p.ended_on)]
    return range(min(d.year for d in dates), max(d.year for d in dates) + _YEARS_AHEAD + 1)


def _result(schedule: Schedule, source: str, **extra: Any) -> ComputeDeadlinesResult:
    return ComputeDeadlinesResult(
        deadline=schedule.deadline,
        warning_on=schedule.warning_on,
        acknowledgement_due=schedule.acknowledgement_due,
        stage_deadlines={kind.value: day for kind, day in schedule.stage_deadlines.items()},
        paused_days=list(schedule.paused_days),
        explanation=schedule.explanation,
        calendar_source=source,
        **extra,
    )


class DeadlineActivities:
    def __init__(self, sessionmaker: async_sessionmaker, settings: Settings) -> None:
        self._sessionmaker = sessionmaker
        self._engine = sessionmaker.kw["bind"]
        self._settings = settings

    @activity.defn
    async def compute_deadlines(self, inp: ComputeDeadlinesInput) -> ComputeDeadlinesResult:
        region = inp.policy.region
        async with driver_connection(self._engine) as conn:
            cal, names, source = await load_calendar(conn, region, _years(inp))
        pauses = [Pause(p.started_on, p.ended_on) for p in inp.pauses]
        if inp.extension is None:
            schedule = compute_schedule(inp.policy, inp.date_received, pauses, inp.extension_days, cal, names)
            return _result(schedule, source)
        plan = plan_extension(inp.policy, inp.date_received, pauses, inp.extension_days,
                              inp.extension.anchor, inp.extension.working_days, inp.today, cal, names)
        if isinstance(plan, ExtensionRefusal):
            current = compute_schedule(inp.policy, inp.date_received, pauses, inp.extension_days, cal, names)
            return _result(current, source, refusal_field=plan.field, refusal=plan.message)
        return _result(plan.schedule, source, extension_days_added=plan.days_added)

    @activity.defn
    async def notify_deadline(self, job: DeadlineNoticeJob) -> DeadlineNoticeResult:
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
                "date_received": state.details.date_received,
                "category": state.details.category,
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
        async with reading(self._sessionmaker) as session:
            stmt = (
                select(ComplaintCase.reference)
                .where(ComplaintCase.status == "open", ComplaintCase.calendar_region == page.region,
                       ComplaintCase.deadline.is_not(None), ComplaintCase.reference > page.after_reference)
                .order_by(ComplaintCase.reference)
                .limit(page.limit)
            )
            return list((await session.scalars(stmt)).all())
