"""Letters and emails, delivered exactly once per business key.

Every letter or email has an outbox row keyed by the workflow's business key (case reference,
purpose and sequence number). The row is checked before anything is produced: a retried activity,
or a client retrying its request, finds the row already `sent` and returns the recorded result.

An email is sent in three steps: claim (the row becomes `sending` and already holds the stored
.eml), hand to SMTP, record (`sent`). A failed SMTP conversation puts the row back to `pending`, so
the retry sends. A retry that finds the row still `sending` cannot know whether the earlier attempt
died just before or just after the server accepted the message; it never sends again and records
the email with ``delivery_confirmed=False``, which the timeline shows, so a person can check.

A letter is rendered to .docx from the template library and laid out as a print-ready PDF for the
post room; both are stored. The response letter is the approved response document itself, printed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from datetime import date, datetime, timezone
from typing import Any, Callable

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from pydantic_core import to_json
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.refusals import refused_for_good
from casework.calendar.deadlines import case_today
from casework.calendar.workdays import DEFAULT_REGION
from casework.cases.contracts import CaseCore, Channel, DocumentRef
from casework.cases.jobs import CorrespondenceJob, CorrespondenceResult
from casework.documents import pdf, printing, rendering, template_library
from casework.documents.store import DOCX, EML, INSERT_BLOBS, blob_parameters, load_blob
from casework.platform import mail
from casework.platform.config import Settings
from casework.platform.db import CaseDocument, OutboxMessage, driver_connection, reading
from casework.platform.observability import count_delivery

log = logging.getLogger(__name__)

DOCUMENT_NAMESPACE = uuid.UUID("6f1c7d0e-4a57-4b8e-9d0e-2f8f6b5c9a31")

# Called after the SMTP server accepted a message and before the send is recorded. Off (None) in
# production; the exactly-once test passes one that raises, which is a crash at the worst moment.
AfterSmtpSend = Callable[[CorrespondenceJob], None]


def document_id_for(business_key: str) -> str:
    return str(uuid.uuid5(DOCUMENT_NAMESPACE, business_key))


def message_id_for(business_key: str) -> str:
    """Deterministic, so a resend after a crash mid-delivery carries the same Message-ID."""
    return f"<{hashlib.sha256(business_key.encode()).hexdigest()[:32]}@casework.invalid>"


def template_purpose(job: CorrespondenceJob) -> str:
    """A stage-2 case's acknowledgement has its own template."""
    if job.purpose == "acknowledgement" and job.state.escalated_from:
        return "stage2_acknowledgement"
    return job.purpose


def letter_date(state: CaseCore, now: datetime) -> date:
    """The date a letter or email made at `now` bears: today in the case's region (UK time), not
    in the server's zone."""
    return case_today(now, state.clock.policy.region if state.clock else DEFAULT_REGION)


def template_context(job: CorrespondenceJob, team_name: str | None, today: date) -> dict[str, Any]:
    state = job.state
    context = template_library.case_context(
        reference=state.reference,
        type_name=state.case_type.name,
        date_received=state.date_received,
        **state.letter_fields(),
        escalated_from=state.escalated_from,
        complainant=state.correspondent(job.addressee_id) or state.complainant,  # whom it is addressed to
        team_name=team_name,
        sender_name=job.sender_name,
        letter_date=today,
    )
    return template_library.with_purpose_values(template_purpose(job), context, job.extra)


def _document(job: CorrespondenceJob, *, kind: str, filename: str, content_type: str,
              content: bytes, suffix: str = "") -> DocumentRef:
    return DocumentRef(
        id=document_id_for(job.business_key + suffix),
        kind=kind,
        filename=filename,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        purpose=job.purpose,
        added_by=job.sender_name,
        added_at=datetime.now(timezone.utc),
    )


def _safe_reference(reference: str) -> str:
    return reference.replace("/", "-")


def _permanent(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def _outbox_values(job: CorrespondenceJob, result: CorrespondenceResult, status: str) -> dict:
    """The outbox row for `job` in `status` (sending | sent), with what was or will be sent."""
    return dict(
        business_key=job.business_key,
        case_reference=job.state.reference,
        purpose=job.purpose,
        channel=job.channel.value,
        recipient=result.recipient,
        message_id=result.message_id,
        document_id=result.document.id,
        status=status,
        result=Jsonb(result.model_dump(mode="json")),
    )


# Every letter and email reads and writes through prepared statements on psycopg's own connection
# (see casework.platform.db.driver_connection): built once, planned once per connection, and without the
# ORM session, which had been ~15% of the worker's CPU at twenty steps in flight. Each write is a
# single statement, atomic on its own (data-modifying CTEs), so none needs BEGIN and COMMIT.
_OUTBOX_COLUMNS = ("case_reference", "purpose", "channel", "recipient", "message_id", "document_id",
                   "status", "result")
# The outbox row if there is one (status NULL if not) and the case's team name, in one round trip.
_LOOK = ("SELECT o.business_key, o.status, o.result, o.document_id, o.message_id, o.recipient,"
         " (SELECT name FROM team WHERE code = %(team)s) AS team_name"
         " FROM (VALUES (1)) AS one LEFT JOIN outbox_message o ON o.business_key = %(business_key)s")


def _outbox_upsert(columns: tuple[str, ...], where: str = "") -> str:
    """Insert the outbox row, or set ``columns`` of the existing one to the new values."""
    listed = ", ".join(("business_key", *columns))
    values = ", ".join(f"%({c})s" for c in ("business_key", *columns))
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns)
    return (f"INSERT INTO outbox_message ({listed}) VALUES ({values})"
            f" ON CONFLICT (business_key) DO UPDATE SET {assignments}{where}")


_DOCUMENT_COLUMNS = ", ".join(("case_reference", *DocumentRef.model_fields))
# Only a `pending` row (or none) is claimed: a row `sending` or `sent` belongs to another attempt.
# The blobs are stored either way: they are content-addressed, so a copy is never a second one.
_CLAIM = (f"WITH blobs AS ({INSERT_BLOBS}) "
          + _outbox_upsert(_OUTBOX_COLUMNS, " WHERE outbox_message.status = 'pending' RETURNING business_key"))
_RECORD_SENT = (
    f"WITH blobs AS ({INSERT_BLOBS}), documents AS (INSERT INTO case_document ({_DOCUMENT_COLUMNS})"
    f" SELECT {_DOCUMENT_COLUMNS} FROM jsonb_populate_recordset(NULL::case_document, %(documents)s::jsonb)"
    " ON CONFLICT (id) DO NOTHING) " + _outbox_upsert((*_OUTBOX_COLUMNS, "sent_at")))
# Documents to attach with their bytes, in one round trip.
_ATTACHMENTS = ("SELECT d.id, d.filename, d.content_type, b.content FROM case_document d"
                " JOIN document_blob b ON b.sha256 = d.sha256 WHERE d.id = ANY(%(ids)s)")


class CorrespondenceActivities:
    def __init__(self, sessionmaker: async_sessionmaker, settings: Settings, *,
                 after_smtp_send: AfterSmtpSend | None = None) -> None:
        self._sessionmaker = sessionmaker
        self._engine: AsyncEngine = sessionmaker.kw["bind"]
        self._settings = settings
        self._printer = printing.printer_for(settings)
        self._after_smtp_send = after_smtp_send

    @activity.defn
    async def dispatch_correspondence(self, job: CorrespondenceJob) -> CorrespondenceResult:
        # Data PostgreSQL refuses for good (a recipient too long for its column, a NUL in a name)
        # fails the step at once rather than being retried for ever.
        try:
            with refused_for_good(f"{job.purpose} {job.channel.value} for case {job.state.reference}"):
                return await self._dispatch(job)
        except ApplicationError as exc:
            if exc.non_retryable:
                count_delivery(job.channel.value, "refused")
            raise

    async def _dispatch(self, job: CorrespondenceJob) -> CorrespondenceResult:
        purpose = template_purpose(job)
        if purpose not in template_library.PURPOSES:
            raise _permanent(f"unknown correspondence purpose '{purpose}'", "TemplateMissing")
        template, files = None, {}
        async with driver_connection(self._engine) as conn:
            seen = await self._look(conn, job, team=job.state.team)
            if seen.status is None or seen.status == "pending":
                if not self._is_response_letter(job):
                    try:
                        template = await template_library.resolve_on(
                            conn, self._settings.templates_dir, purpose, job.channel,
                            job.state.case_type.code)
                    except template_library.TemplateMissing as exc:
                        raise _permanent(str(exc), "TemplateMissing") from exc
                if job.channel is Channel.EMAIL and job.attachment_ids:
                    files = await self._attachment_files(conn, job)
        if seen.status == "sent":
            log.info("correspondence %s already sent; not sending again", job.business_key)
            return await self._recorded(seen)
        if seen.status == "sending":
            return await self._unconfirmed(job, seen)
        context = template_context(job, seen.team_name, letter_date(job.state, datetime.now(timezone.utc)))
        try:
            if job.channel is Channel.LETTER:
                if template is None:
                    return await self._print_response(job)
                return await self._produce_letter(job, template, context)
            assert template is not None  # resolved above: only the response letter has none
            return await self._send_email(job, template, context, files)
        except rendering.TemplateError as exc:
            raise _permanent(str(exc), "TemplateError") from exc
        except pdf.PdfError as exc:
            raise _permanent(str(exc), "NotPrintable") from exc

    @staticmethod
    def _is_response_letter(job: CorrespondenceJob) -> bool:
        return job.purpose == "response" and job.channel is Channel.LETTER

    @staticmethod
    async def _look(conn: psycopg.AsyncConnection, job: CorrespondenceJob, team: str | None = None) -> Any:
        async with conn.cursor(row_factory=namedtuple_row) as cursor:
            await cursor.execute(_LOOK, {"business_key": job.business_key, "team": team}, prepare=True)
            return await cursor.fetchone()

    async def _recorded(self, row: Any) -> CorrespondenceResult:
        """What the outbox row `row` (see _LOOK) recorded as sent."""
        if row.result is not None:
            return CorrespondenceResult.model_validate(row.result)
        # Rows written before results were kept: rebuild from the stored document.
        async with reading(self._sessionmaker) as session:
            doc = await session.get(CaseDocument, row.document_id)
        if doc is None:
            raise ApplicationError(f"outbox row {row.business_key} has lost its document")
        ref = DocumentRef.model_validate(doc, from_attributes=True)
        return CorrespondenceResult(document=ref, message_id=row.message_id, recipient=row.recipient)

    # ---- letters ----------------------------------------------------------------------------

    async def _produce_letter(self, job: CorrespondenceJob, template: template_library.ResolvedTemplate,
                              context: dict) -> CorrespondenceResult:
        content = await asyncio.to_thread(template.render_letter, context)
        printed = await asyncio.to_thread(
            self._printer.letter_pdf, content, title=f"{template_library.PURPOSES[job.purpose].label} letter",
            subject=job.state.reference)
        stem = f"{_safe_reference(job.state.reference)}-{job.purpose}-letter"
        letter = _document(job, kind="letter", filename=f"{stem}.docx", content_type=DOCX,
                           content=content)
        print_ready = _document(job, kind="letter", filename=f"{stem}.pdf", content_type=pdf.PDF,
                                content=printed, suffix="/pdf")
        result = CorrespondenceResult(document=letter, documents=[print_ready], template=template.ref)
        return await self._record(job, result, {letter.id: content, print_ready.id: printed})

    async def _print_response(self, job: CorrespondenceJob) -> CorrespondenceResult:
        """The response by post is the approved response document itself, printed."""
        source, content = await self._response_document(job)
        printed = await asyncio.to_thread(
            self._printer.document_pdf, content, source.content_type, title="Response",
            subject=job.state.reference)
        filename = f"{_safe_reference(job.state.reference)}-response-letter.pdf"
        letter = _document(job, kind="letter", filename=filename, content_type=pdf.PDF,
                           content=printed)
        return await self._record(job, CorrespondenceResult(document=letter), {letter.id: printed})

    async def _response_document(self, job: CorrespondenceJob) -> tuple[DocumentRef, bytes]:
        draft_id = job.state.response_document_id()
        source = next((d for d in job.state.documents if d.id == draft_id), None)
        if source is None:
            raise _permanent(f"case {job.state.reference} has no approved response document",
                             "ResponseMissing")
        async with reading(self._sessionmaker) as session:
            content = await load_blob(session, source.sha256)
        if content is None:
            raise _permanent(f"response document {source.id} not found", "ResponseMissing")
        return source, content

    async def _record(self, job: CorrespondenceJob, result: CorrespondenceResult,
                      contents: dict[str, bytes] | None = None) -> CorrespondenceResult:
        """Store `contents`, the documents and the `sent` row: one statement, all or nothing."""
        documents = [dict(document.model_dump(), case_reference=job.state.reference)
                     for document in [result.document, *result.documents]]
        async with driver_connection(self._engine) as conn:
            await conn.execute(_RECORD_SENT, {
                **_outbox_values(job, result, "sent"), "sent_at": datetime.now(timezone.utc),
                "documents": to_json(documents).decode(), **blob_parameters((contents or {}).values()),
            }, prepare=True)
        count_delivery(job.channel.value, "sent" if result.delivery_confirmed else "unconfirmed")
        return result

    # ---- emails -----------------------------------------------------------------------------

    async def _send_email(self, job: CorrespondenceJob, template: template_library.ResolvedTemplate,
                          context: dict, files: dict[str, Any]) -> CorrespondenceResult:
        email = (job.state.correspondent(job.addressee_id) or job.state.complainant).email
        recipients = job.recipients or ([email] if email else [])
        if not recipients or not all(recipients):
            raise _permanent(f"case {job.state.reference} has no complainant email address",
                             "NoEmailAddress")
        rendered = template.render_email(context)
        attachments, extra_documents, contents = await self._attachments(job, files)
        message_id = message_id_for(job.business_key)
        message = mail.build_message(
            sender=self._settings.mail_from,
            to=recipients,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id,
            attachments=attachments,
        )
        content = mail.wire_bytes(message)  # stored, and sent as they are
        eml = _document(job, kind="email", filename=f"{_safe_reference(job.state.reference)}-"
                        f"{job.purpose}-email.eml", content_type=EML, content=content)
        contents[eml.id] = content
        result = CorrespondenceResult(document=eml, message_id=message_id, recipient=", ".join(recipients),
                                      documents=extra_documents, template=template.ref)
        if not await self._claim(job, result, contents):
            async with driver_connection(self._engine) as conn:
                row = await self._look(conn, job)
            if row.status == "sent":
                return await self._recorded(row)
            return await self._unconfirmed(job, row)
        try:
            await asyncio.to_thread(mail.send_message, self._settings, message, content)
        except Exception as exc:
            await self._release(job)
            if mail.is_permanent_failure(exc):
                raise _permanent(f"the mail server refused the message: {exc}", "DeliveryRefused") from exc
            raise
        if self._after_smtp_send is not None:
            self._after_smtp_send(job)
        return await self._record(job, result)

    async def _claim(self, job: CorrespondenceJob, result: CorrespondenceResult,
                     contents: dict[str, bytes]) -> bool:
        """Mark the email `sending` (storing what will be sent); False if another attempt has."""
        async with driver_connection(self._engine) as conn:
            claimed = await conn.execute(_CLAIM, {**_outbox_values(job, result, "sending"),
                                                  **blob_parameters(contents.values())}, prepare=True)
            return await claimed.fetchone() is not None

    async def _release(self, job: CorrespondenceJob) -> None:
        """The SMTP conversation failed, so nothing was delivered: let the retry send."""
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.business_key == job.business_key,
                       OutboxMessage.status == "sending")
                .values(status="pending")
            )

    async def _unconfirmed(self, job: CorrespondenceJob, row: Any) -> CorrespondenceResult:
        log.warning("correspondence %s was being sent when its attempt stopped; not sending again",
                    job.business_key)
        result = CorrespondenceResult.model_validate(row.result).model_copy(
            update={"delivery_confirmed": False})
        return await self._record(job, result)

    @staticmethod
    async def _attachment_files(conn: psycopg.AsyncConnection, job: CorrespondenceJob) -> dict[str, Any]:
        """The documents to attach (id -> row of filename, content type and bytes), all there."""
        async with conn.cursor(row_factory=namedtuple_row) as cursor:
            await cursor.execute(_ATTACHMENTS, {"ids": job.attachment_ids}, prepare=True)
            rows: list[Any] = await cursor.fetchall()
            found = {row.id: row for row in rows}
        for doc_id in job.attachment_ids:
            if doc_id not in found:  # no such document, or its bytes are gone
                raise _permanent(f"attachment {doc_id} not found", "AttachmentMissing")
        return found

    async def _attachments(
        self, job: CorrespondenceJob, files: dict[str, Any]
    ) -> tuple[list[mail.Attachment], list[DocumentRef], dict[str, bytes]]:
        """Files to attach; the response document goes as its print-ready PDF, stored too."""
        attachments: list[mail.Attachment] = []
        documents: list[DocumentRef] = []
        contents: dict[str, bytes] = {}
        for doc_id in dict.fromkeys(job.attachment_ids):
            row = files[doc_id]
            if job.purpose == "response" and doc_id == job.state.response_document_id():
                printed = await asyncio.to_thread(
                    self._printer.document_pdf, row.content, row.content_type, title="Response",
                    subject=job.state.reference)
                filename = f"{_safe_reference(job.state.reference)}-response.pdf"
                response = _document(job, kind="response", filename=filename, content_type=pdf.PDF,
                                     content=printed, suffix="/pdf")
                documents.append(response)
                contents[response.id] = printed
                attachments.append(mail.Attachment(filename, pdf.PDF, printed))
            else:
                attachments.append(mail.Attachment(row.filename, row.content_type, row.content))
        return attachments, documents, contents
