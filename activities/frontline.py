"""Frontline complaint handling's (F4) side effects beyond the engine's: the fortnightly service
improvement review's agenda email (new ideas, ideas awaiting a decision, complaints by issue since
the last review), delivered once per schedule run: the run's workflow id is the outbox key,
written `pending` before the SMTP hand-off and `sent` after it (as digests are)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

from activities.correspondence import message_id_for
from activities.digest import send_run_email
from casework.kinds.frontline.contracts import AgendaJob, AgendaResult
from casework.platform import mail
from casework.platform.config import Settings
from casework.platform.db import CaseRecord, OutboxMessage
from casework.tables.frontline import ServiceImprovement

NEW = ("proposed",)
AWAITING = ("discussed", "out_for_comment", "agreed")


def activities(sessionmaker: async_sessionmaker, settings: Settings) -> list:
    return [ImprovementActivities(sessionmaker, settings).send_improvement_agenda]


class ImprovementActivities:
    def __init__(self, sessionmaker: async_sessionmaker, settings: Settings) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings

    @activity.defn
    async def send_improvement_agenda(self, job: AgendaJob) -> AgendaResult:
        if not job.reviewers:
            return AgendaResult(sent=False, reason="no reviewers configured")
        async with self._sessionmaker() as session:
            done = await session.get(OutboxMessage, job.run_key)
            if done is not None and done.status == "sent":
                return AgendaResult(sent=True, message_id=done.message_id, reason="already sent")
            ideas = (await session.scalars(select(ServiceImprovement).where(
                ServiceImprovement.status.in_(NEW + AWAITING)).order_by(ServiceImprovement.proposed_at))).all()
            issue = CaseRecord.details["issue"].astext
            counts = (await session.execute(
                select(issue, func.count()).where(CaseRecord.kind == "frontline",
                                                  CaseRecord.registered_at >= job.since)
                .group_by(issue).order_by(func.count().desc(), issue))).all()
        new = [i for i in ideas if i.status in NEW]
        awaiting = [i for i in ideas if i.status in AWAITING]
        lines = [f"Service improvement review: agenda (complaints since {job.since:%d %b %Y})", "",
                 f"New ideas ({len(new)}):"]
        lines += [f"- {i.title}{f' (from {i.case_reference})' if i.case_reference else ''}: {i.description}"
                  for i in new] or ["- none"]
        lines += ["", f"Awaiting a decision ({len(awaiting)}):"]
        lines += [f"- {i.title} [{i.status.replace('_', ' ')}]" for i in awaiting] or ["- none"]
        lines += ["", "Complaints by issue since the last review:"]
        lines += [f"- {name}: {count}" for name, count in counts] or ["- none"]
        message_id = message_id_for(job.run_key)
        message = mail.build_message(sender=self._settings.mail_from, to=job.reviewers, message_id=message_id,
                                     subject="Service improvement review: agenda", text="\n".join(lines), html=None)
        await send_run_email(self._sessionmaker, self._settings, message, business_key=job.run_key,
                             purpose="improvement_review", recipient=", ".join(job.reviewers)[:320],
                             message_id=message_id, what="the review agenda")
        return AgendaResult(sent=True, message_id=message_id, new_ideas=len(new), awaiting_decision=len(awaiting))
