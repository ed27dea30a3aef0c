"""Letters and emails to the complainant, delivered exactly once per business key.

Every letter or email has an outbox row keyed by the workflow's business key (case reference,
purpose and sequence number). The row is checked before anything is produced: a retried activity,
or a client retrying its request, finds the row already `sent` and returns the recorded result.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from casework import mail, rendering
from casework.config import Settings
from casework.contracts import Channel, CorrespondenceJob, CorrespondenceResult, DocumentRef
from casework.db import CaseDocument, OutboxMessage, Team
from casework.documents import DOCX, EML, load_blob, store_blob

log = logging.getLogger(__name__)

DOCUMENT_NAMESPACE = uuid.UUID("6f1c7d0e-4a57-4b8e-9d0e-2f8f6b5c9a31")


def document_id_for(business_key: str) -> str:
    return str(uuid.uuid5(DOCUMENT_NAMESPACE, business_key))


def message_id_for(business_key: str) -> str:
    """Deterministic, so a resend after a crash mid-delivery carries the same Message-ID."""
    return f"<{hashlib.sha256(business_key.encode()).hexdigest()[:32]}@casework.invalid>"


def template_context(job: CorrespondenceJob, team_name: str | None, today: date) -> dict[str, Any]:
    state = job.state
    person = state.complainant
    return {
        "case": {
            "reference": state.reference,
            "type_name": state.case_type.name,
            "date_received": state.details.date_received,
            "category": state.details.category,
            "description": state.details.description,
            "channel": state.details.channel,
        },
        "complainant": {
            "name": person.name,
            "email": person.email or "",
            "phone": person.phone or "",
            "address_lines": list(person.address_lines),
            "postcode": person.postcode or "",
        },
        "team": {"name": team_name or "Complaints Team"},
        "sender": {"name": job.sender_name},
        "letter_date": today,
        **job.extra,
    }


def _document(job: CorrespondenceJob, *, kind: str, filename: str, content_type: str,
              content: bytes, digest: str) -> DocumentRef:
    return DocumentRef(
        id=document_id_for(job.business_key),
        kind=kind,
        filename=filename,
        content_type=content_type,
        size=len(content),
        sha256=digest,
        purpose=job.purpose,
        added_by=job.sender_name,
        added_at=datetime.now(timezone.utc),
    )


def _safe_reference(reference: str) -> str:
    return reference.replace("/", "-")


class CorrespondenceActivities:
    def __init__(self, sessionmaker: async_sessionmaker, settings: Settings) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings

    async def _already_sent(self, session: AsyncSession, key: str) -> CorrespondenceResult | None:
        row = await session.get(OutboxMessage, key)
        if row is None or row.status != "sent":
            return None
        doc = await session.get(CaseDocument, row.document_id)
        if doc is None:
            return None
        ref = DocumentRef.model_validate(doc, from_attributes=True)
        return CorrespondenceResult(document=ref, message_id=row.message_id, recipient=row.recipient)

    async def _team_name(self, session: AsyncSession, code: str | None) -> str | None:
        if code is None:
            return None
        return await session.scalar(select(Team.name).where(Team.code == code))

    @activity.defn
    async def dispatch_correspondence(self, job: CorrespondenceJob) -> CorrespondenceResult:
        async with self._sessionmaker() as session:
            done = await self._already_sent(session, job.business_key)
            if done is not None:
                log.info("correspondence %s already sent; not sending again", job.business_key)
                return done
            team_name = await self._team_name(session, job.state.team)
        context = template_context(job, team_name, date.today())
        try:
            if job.channel is Channel.LETTER:
                return await self._produce_letter(job, context)
            return await self._send_email(job, context)
        except rendering.TemplateError as exc:
            raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc

    async def _record(self, job: CorrespondenceJob, document: DocumentRef, content: bytes,
                      *, recipient: str | None, message_id: str | None) -> CorrespondenceResult:
        async with self._sessionmaker() as session, session.begin():
            await store_blob(session, content)
            await session.execute(
                insert(CaseDocument)
                .values(case_reference=job.state.reference, **document.model_dump())
                .on_conflict_do_nothing(index_elements=["id"])
            )
            values = dict(
                case_reference=job.state.reference,
                purpose=job.purpose,
                channel=job.channel.value,
                recipient=recipient,
                message_id=message_id,
                document_id=document.id,
                status="sent",
                sent_at=datetime.now(timezone.utc),
            )
            await session.execute(
                insert(OutboxMessage)
                .values(business_key=job.business_key, **values)
                .on_conflict_do_update(index_elements=["business_key"], set_=values)
            )
        return CorrespondenceResult(document=document, message_id=message_id, recipient=recipient)

    async def _produce_letter(self, job: CorrespondenceJob, context: dict) -> CorrespondenceResult:
        template = self._settings.templates_dir / "letters" / f"{job.purpose}.docx"
        if not template.exists():
            raise ApplicationError(
                f"no letter template for purpose '{job.purpose}' at {template}",
                type="TemplateMissing",
                non_retryable=True,
            )
        content = await asyncio.to_thread(rendering.render_letter, template, context)
        digest = hashlib.sha256(content).hexdigest()
        filename = f"{_safe_reference(job.state.reference)}-{job.purpose}-letter.docx"
        document = _document(job, kind="letter", filename=filename, content_type=DOCX,
                             content=content, digest=digest)
        return await self._record(job, document, content, recipient=None, message_id=None)

    async def _send_email(self, job: CorrespondenceJob, context: dict) -> CorrespondenceResult:
        recipient = job.state.complainant.email
        if not recipient:
            raise ApplicationError(
                f"case {job.state.reference} has no complainant email address",
                type="NoEmailAddress",
                non_retryable=True,
            )
        rendered = rendering.render_email(self._settings.templates_dir, job.purpose, context)
        attachments = await self._attachments(job.attachment_ids)
        message_id = message_id_for(job.business_key)
        message = mail.build_message(
            sender=self._settings.mail_from,
            to=[recipient],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id,
            attachments=attachments,
        )
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                insert(OutboxMessage)
                .values(
                    business_key=job.business_key,
                    case_reference=job.state.reference,
                    purpose=job.purpose,
                    channel=job.channel.value,
                    recipient=recipient,
                    message_id=message_id,
                    status="pending",
                )
                .on_conflict_do_nothing(index_elements=["business_key"])
            )
        await asyncio.to_thread(mail.send_message, self._settings, message)
        content = message.as_bytes()
        digest = hashlib.sha256(content).hexdigest()
        filename = f"{_safe_reference(job.state.reference)}-{job.purpose}-email.eml"
        document = _document(job, kind="email", filename=filename, content_type=EML,
                             content=content, digest=digest)
        return await self._record(job, document, content, recipient=recipient,
                                  message_id=message_id)

    async def _attachments(self, document_ids: list[str]) -> list[mail.Attachment]:
        if not document_ids:
            return []
        async with self._sessionmaker() as session:
            rows = (
                await session.scalars(select(CaseDocument).where(CaseDocument.id.in_(document_ids)))
            ).all()
            found = {row.id: row for row in rows}
            attachments = []
            for doc_id in document_ids:
                row = found.get(doc_id)
                content = await load_blob(session, row.sha256) if row else None
                if row is None or content is None:
                    raise ApplicationError(
                        f"attachment {doc_id} not found", type="AttachmentMissing", non_retryable=True
                    )
                attachments.append(
                    mail.Attachment(filename=row.filename, content_type=row.content_type,
                                    content=content)
                )
            return attachments
