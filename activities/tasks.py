"""The email telling a task's assignee it is theirs: at most one per assignment, by its outbox row.

The row (keyed `reference/task/<id>/<assignment>`) is claimed `sending` before the mail server is
called and recorded `sent` after it took the message; a failed SMTP conversation puts it back to
`pending` so the retry sends. A retry that finds it `sending` (the worker stopped between handing
the message over and recording it) does not send again, and says so (`delivery_confirmed=False`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.correspondence import message_id_for
from activities.refusals import refused_for_good
from casework.calendar.deadlines import format_day
from casework.cases.jobs import TaskNoticeJob, TaskNoticeResult
from casework.documents import rendering
from casework.platform import mail
from casework.platform.config import Settings
from casework.platform.db import AppUser, OutboxMessage, Team, reading

log = logging.getLogger(__name__)

PURPOSE = "task_assigned"
# Called after the SMTP server took a task email and before it is recorded: a test's crash.
AfterTaskEmail = Callable[[TaskNoticeJob], None]


class TaskActivities:
    def __init__(self, sessionmaker: async_sessionmaker, settings: Settings, *,
                 after_send: AfterTaskEmail | None = None) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._after_send = after_send

    @activity.defn
    async def notify_task_assignee(self, job: TaskNoticeJob) -> TaskNoticeResult:
        with refused_for_good(f"task email for case {job.reference}"):
            return await self._notify(job)

    async def _notify(self, job: TaskNoticeJob) -> TaskNoticeResult:
        task = job.task
        async with reading(self._sessionmaker) as session:
            person = await session.get(AppUser, task.assignee_id) if task.assignee_id is not None else None
            team = await session.get(Team, task.team) if task.team else None
            row = await session.get(OutboxMessage, job.business_key)
        if row is not None and row.status != "pending":
            return self._recorded(row)
        address = (person.email if person else None) or (team.email if team else None)
        if not address:
            return TaskNoticeResult()
        message_id = message_id_for(job.business_key)
        try:
            rendered = rendering.render_email(self._settings.templates_dir, PURPOSE, self._context(job, person, team))
        except rendering.TemplateError as exc:
            raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc
        message = mail.build_message(sender=self._settings.mail_from, to=[address], subject=rendered.subject,
                                     text=rendered.text, html=rendered.html, message_id=message_id)
        values = dict(case_reference=job.reference, purpose=PURPOSE, channel="email", recipient=address,
                      message_id=message_id)
        if not await self._claim(job, values):
            async with reading(self._sessionmaker) as session:
                claimed = await session.get(OutboxMessage, job.business_key)
            assert claimed is not None  # another attempt claimed it
            return self._recorded(claimed)
        try:
            await asyncio.to_thread(mail.send_message, self._settings, message)
        except Exception as exc:
            await self._set_status(job, "pending")
            if mail.is_permanent_failure(exc):
                # The task stands all the same; its timeline says the email was refused.
                return TaskNoticeResult(recipient=address, refused=f"the mail server refused it: {exc}"[:300])
            raise
        if self._after_send is not None:
            self._after_send(job)
        await self._set_status(job, "sent")
        return TaskNoticeResult(recipient=address, message_id=message_id)

    @staticmethod
    def _recorded(row: OutboxMessage) -> TaskNoticeResult:
        if row.status == "sending":
            log.warning("task email %s was being sent when its attempt stopped; not sending again", row.business_key)
        return TaskNoticeResult(recipient=row.recipient, message_id=row.message_id,
                                delivery_confirmed=row.status == "sent")

    async def _claim(self, job: TaskNoticeJob, values: dict[str, Any]) -> bool:
        """Mark the email `sending`, unless another attempt has (then False)."""
        async with self._sessionmaker() as session, session.begin():
            claimed = await session.execute(
                insert(OutboxMessage).values(business_key=job.business_key, status="sending", **values)
                .on_conflict_do_update(index_elements=["business_key"], set_={"status": "sending"},
                                       where=OutboxMessage.status == "pending")
                .returning(OutboxMessage.business_key))
            return claimed.first() is not None

    async def _set_status(self, job: TaskNoticeJob, status: str) -> None:
        sent_at = datetime.now(timezone.utc) if status == "sent" else None
        async with self._sessionmaker() as session, session.begin():
            await session.execute(update(OutboxMessage).where(OutboxMessage.business_key == job.business_key)
                                  .values(status=status, sent_at=sent_at))

    def _context(self, job: TaskNoticeJob, person: AppUser | None, team: Team | None) -> dict[str, Any]:
        task = job.task
        due = format_day(task.due_on) + (f" at {task.due_time.strftime('%H:%M')}" if task.due_time else "")
        base = self._settings.base_url
        return {
            "case": {"reference": job.reference, "type_name": job.case_type_name},
            "task": {"title": task.title, "description": task.description or "", "due": due,
                     "assignee": person.display_name if person else (team.name if team else "Hello"),
                     "assigned_by": job.sender_name},
            "links": {"my_tasks": f"{base}/tasks?scope={'mine' if person else 'team'}",
                      "case": f"{base}/cases/{job.reference}"},
        }
