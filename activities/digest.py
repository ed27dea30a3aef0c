"""The digest email of one schedule run, delivered once per run.

The run's workflow id is the outbox key: checked before anything is built, written `pending`
before the SMTP hand-off and `sent` after it. A retry after a crash between the two sends again
with the same Message-ID, so receiving systems can drop the duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from datetime import datetime, timezone
from email.message import Message

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.correspondence import message_id_for
from casework.cases.jobs import DigestJob, DigestResult
from casework.digests.subscriptions import Digest, DigestUnavailable, build_digest, unsubscribe_url
from casework.documents import rendering
from casework.platform import mail
from casework.platform.config import Settings
from casework.platform.db import DigestSubscription, OutboxMessage

log = logging.getLogger(__name__)


class DigestActivities:
    def __init__(self, sessionmaker: async_sessionmaker, settings: Settings) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings

    @activity.defn
    async def send_digest(self, job: DigestJob) -> DigestResult:
        async with self._sessionmaker() as session:
            done = await session.get(OutboxMessage, job.run_key)
            if done is not None and done.status == "sent":
                log.info("digest %s already sent; not sending again", job.run_key)
                return DigestResult(sent=True, recipient=done.recipient, message_id=done.message_id,
                                    reason="already sent")
            sub = await session.get(DigestSubscription, job.subscription_id)
            if sub is None:
                return DigestResult(sent=False, reason="unsubscribed")
            try:
                digest = await build_digest(session, sub, self._settings, attach=True)
            except DigestUnavailable as exc:
                return DigestResult(sent=False, reason=str(exc))
            except rendering.TemplateError as exc:
                raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc
        message_id = message_id_for(job.run_key)
        await self._send(job, sub, digest, message_id)
        return DigestResult(sent=True, recipient=digest.recipient, message_id=message_id,
                            case_count=digest.case_count)

    async def _send(self, job: DigestJob, sub: DigestSubscription, digest: Digest,
                    message_id: str) -> None:
        message = mail.build_message(
            sender=self._settings.mail_from, to=[digest.recipient], subject=digest.subject,
            text=digest.text, html=digest.html, message_id=message_id,
            attachments=[mail.Attachment(digest.attachment_name, digest.attachment_type,
                                         digest.attachment or b"")],
        )
        # One-click unsubscribe (RFC 8058): mail clients POST to the link without a login.
        message["List-Unsubscribe"] = f"<{unsubscribe_url(self._settings, sub.id)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        await send_run_email(self._sessionmaker, self._settings, message, business_key=job.run_key,
                             purpose="digest", recipient=digest.recipient, message_id=message_id, what="the digest")


async def send_run_email(sessionmaker: async_sessionmaker, settings: Settings, message: Message, *,
                         business_key: str, purpose: str, recipient: str, message_id: str, what: str) -> None:
    """Send a scheduled run's email once: its outbox row (keyed by the run) is written `pending`
    before the SMTP hand-off and `sent` after it; a permanent SMTP refusal is not retried."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            insert(OutboxMessage)
            .values(business_key=business_key, case_reference=None, purpose=purpose, channel="email",
                    recipient=recipient, message_id=message_id, status="pending")
            .on_conflict_do_nothing(index_elements=["business_key"])
        )
    try:
        await asyncio.to_thread(mail.send_message, settings, message)
    except smtplib.SMTPException as exc:
        if mail.is_permanent_failure(exc):
            raise ApplicationError(f"SMTP refused {what}: {exc}", type="MailRefused", non_retryable=True) from exc
        raise
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.business_key == business_key)
            .values(status="sent", sent_at=datetime.now(timezone.utc))
        )
