"""Letters and emails from a case: one correspondence job per letter or email, rendered, sent and
recorded exactly once by its business key (`reference/purpose/n`). A mixin of `CaseWorkflow`."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from casework.cases.contracts import (
        Actor,
        AddDocumentInput,
        AnyCaseState,
        Channel,
        ConfirmDeliveryInput,
        DocumentRef,
        ResendDeliveryInput,
        TaskAssignee,
        TaskStatus,
        TimelineEvent,
        UnconfirmedDelivery,
    )
    from casework.cases.jobs import CorrespondenceJob, CorrespondenceResult
    from casework.cases.stages import EngineAction

from workflows.engine.activity_options import (
    CORRESPONDENCE_TIMEOUT,
)
from workflows.engine.errors import invalid
from workflows.engine.tasks import Tasks
from workflows.engine.versioning import LOCAL_CORRESPONDENCE

# The actions of this part's steps; every kind's rule table declares them.
CONFIRM_DELIVERY, RESEND_DELIVERY = EngineAction.CONFIRM_DELIVERY, EngineAction.RESEND_DELIVERY


class Correspondence(Tasks):
    """Letters, emails and documents on a case (mixed into CaseWorkflow); an email whose delivery
    was not confirmed opens a task for the case's owner (engine/tasks.py)."""

    async def _correspond(self, purpose: str, channel: Channel, actor: Actor, *,
                          extra: dict[str, Any] | None = None,
                          attachments: list[str] | None = None,
                          recipients: list[str] | None = None,
                          addressee_id: str | None = None) -> CorrespondenceResult:
        """Send a letter or email of `purpose` (a template purpose) and keep its files on the case;
        to `addressee_id` (a correspondent: a representative) instead of the complainant if named."""
        self.state.correspondence_count += 1
        key = f"{self.state.reference}/{purpose}/{self.state.correspondence_count}"
        result = await self._dispatch(
            CorrespondenceJob(business_key=key, purpose=purpose, channel=channel, state=self.state,
                              sender_name=actor.display_name, extra=extra or {},
                              attachment_ids=attachments or [], recipients=recipients or [],
                              addressee_id=addressee_id))
        self.state.documents.append(result.document)
        self.state.documents.extend(result.documents)
        if result.message_id and not result.delivery_confirmed:
            self.state.unconfirmed_deliveries.append(UnconfirmedDelivery(
                id=result.document.id, business_key=key, purpose=purpose, channel=channel,
                recipient=result.recipient, message_id=result.message_id, sent_at=workflow.now(),
                extra=extra or {}, attachment_ids=attachments or [], recipients=recipients or []))
            # Someone must check it arrived: the case's owner (its assignee, else its team).
            owner = TaskAssignee(team=self.state.team, assignee_id=self.state.assignee_id,
                                 assignee_name=self.state.assignee_name)
            await self._open_task(
                f"Confirm or resend the {purpose} email to {result.recipient}", assignee=owner,
                due_on=self._tomorrow(), source=f"delivery:{result.document.id}",
                description="The send was interrupted and the email may not have arrived: check with the "
                            "recipient or the mail server's log, then confirm its delivery or send it again.")
        return result

    async def _dispatch(self, job: CorrespondenceJob) -> CorrespondenceResult:
        """Render, send and record one letter or email (idempotent by its business key): locally
        first, then patiently as a regular activity (see `_local_then_patient`)."""
        return await self._duty("dispatch_correspondence", job, patch=LOCAL_CORRESPONDENCE,
                                start_to_close=CORRESPONDENCE_TIMEOUT, result_type=CorrespondenceResult,
                                what=f"correspondence {job.business_key}")

    # ---- an email whose delivery was not confirmed -----------------------------------------

    @workflow.update
    async def confirm_delivery(self, inp: ConfirmDeliveryInput) -> AnyCaseState:
        """Someone checked (with the recipient, the mail server's log) that the email arrived."""
        async with self._step(CONFIRM_DELIVERY, inp.actor) as events:
            delivery = self._take_unconfirmed(inp.delivery_id)
            self._finish_tasks_from(f"delivery:{delivery.id}", TaskStatus.DONE, f"Delivery confirmed: {inp.note}",
                                    inp.actor)
            events.append(self._event(
                "delivery_confirmed", f"Delivery of the {delivery.purpose} email to {delivery.recipient} confirmed",
                inp.actor, reason=inp.note, data={"document_id": delivery.id, "message_id": delivery.message_id}))
        return self.state

    @confirm_delivery.validator
    def _validate_confirm_delivery(self, inp: ConfirmDeliveryInput) -> None:
        self._validate(CONFIRM_DELIVERY, inp.actor)
        self._require_unconfirmed(inp.delivery_id)
        if not inp.note.strip():
            raise invalid("note", "say how the delivery was confirmed")

    @workflow.update
    async def resend_delivery(self, inp: ResendDeliveryInput) -> AnyCaseState:
        """Send the email again, made afresh from what it was made from, as a new email."""
        async with self._step(RESEND_DELIVERY, inp.actor) as events:
            delivery = self._take_unconfirmed(inp.delivery_id)
            self._finish_tasks_from(f"delivery:{delivery.id}", TaskStatus.DONE, f"Sent again: {inp.reason}",
                                    inp.actor)
            if delivery.task_id is not None:  # a task's email: told to its assignee again
                task = next(t for t in self.state.tasks if t.id == delivery.task_id)
                notice = await self._notify_assignee(task, inp.actor, again=True)
                how = (f"emailed to {notice.recipient}" if notice.delivery_confirmed else
                       f"emailed to {notice.recipient} (delivery not confirmed)") if notice.message_id else "not sent"
                events.append(self._event(
                    "delivery_resent", f"The {delivery.purpose} email {how} again", inp.actor, reason=inp.reason,
                    data={"task_id": task.id, "message_id": notice.message_id, "recipient": notice.recipient,
                          "delivery_confirmed": notice.delivery_confirmed, "email_refused": notice.refused,
                          "resent_delivery_id": delivery.id}))
                return self.state
            sent = await self._correspond(delivery.purpose, delivery.channel, inp.actor, extra=delivery.extra,
                                          attachments=delivery.attachment_ids, recipients=delivery.recipients)
            events.append(self._event(
                "delivery_resent", f"The {delivery.purpose} email {self._how_sent(sent)} again", inp.actor,
                reason=inp.reason, data={**self._sent_data(sent, delivery.channel), "resent_document_id": delivery.id}))
        return self.state

    @resend_delivery.validator
    def _validate_resend_delivery(self, inp: ResendDeliveryInput) -> None:
        self._validate(RESEND_DELIVERY, inp.actor)
        self._require_unconfirmed(inp.delivery_id)
        if not inp.reason.strip():
            raise invalid("reason", "a reason is required to send an email again")

    def _require_unconfirmed(self, delivery_id: str) -> None:
        if not any(d.id == delivery_id for d in self.state.unconfirmed_deliveries):
            raise invalid("delivery_id", f"no email awaiting confirmation with id {delivery_id} on this case")

    def _take_unconfirmed(self, delivery_id: str) -> UnconfirmedDelivery:
        self._require_unconfirmed(delivery_id)  # again, under the step's lock
        delivery = next(d for d in self.state.unconfirmed_deliveries if d.id == delivery_id)
        self.state.unconfirmed_deliveries.remove(delivery)
        return delivery

    def _correspondence_event(self, kind: str, what: str, sent: CorrespondenceResult,
                              inp: Any, data: dict[str, Any] | None = None) -> TimelineEvent:
        return self._event(kind, f"{what} {self._how_sent(sent)}", inp.actor,
                           data={**self._sent_data(sent, inp.channel), **(data or {})})

    def _validate_channel(self, channel: Channel) -> None:
        if channel is Channel.EMAIL and not self.state.complainant.email:
            raise invalid("channel", "the complainant has no email address; send by letter")

    @staticmethod
    def _how_sent(sent: CorrespondenceResult) -> str:
        if sent.message_id:
            if sent.delivery_confirmed:
                return f"emailed to {sent.recipient}"
            return (f"emailed to {sent.recipient} (delivery not confirmed: the attempt stopped while "
                    "sending; not sent again)")
        printable = next((d for d in [sent.document, *sent.documents]
                          if d.content_type == "application/pdf"), sent.document)
        return f"letter ready for the post room: {printable.filename}"

    @staticmethod
    def _sent_data(sent: CorrespondenceResult | None, channel: Channel | None) -> dict[str, Any]:
        """Timeline data of a letter or email: its files, Message-ID and template version."""
        if sent is None:
            return {}
        return {
            "channel": channel.value if channel else None,
            "document_id": sent.document.id,
            "message_id": sent.message_id,
            "recipient": sent.recipient,
            "documents": [{"id": d.id, "filename": d.filename, "content_type": d.content_type}
                          for d in [sent.document, *sent.documents]],
            "template": sent.template.model_dump(mode="json") if sent.template else None,
            "delivery_confirmed": sent.delivery_confirmed,
        }

    # ---- documents --------------------------------------------------------------------------

    def _attach(self, documents: list[DocumentRef]) -> list[str]:
        self.state.documents.extend(documents)
        return [d.id for d in documents]

    @staticmethod
    def _attachment_data(documents: list[DocumentRef]) -> dict[str, Any]:
        return {"attachment_ids": [d.id for d in documents]} if documents else {}

    def _validate_new_documents(self, documents: list[DocumentRef]) -> None:
        known = {d.id for d in self.state.documents}
        for doc in documents:
            if doc.id in known:
                raise invalid("attachment_ids", f"document {doc.id} is already on this case")
            known.add(doc.id)

    @staticmethod
    def _generated_note(inp: AddDocumentInput) -> str:
        source = inp.generated_from
        if source is None:
            return ""
        count = len(source.standard_lines)
        return (f", generated from the {source.template.describe()} with {count} standard "
                f"line{'' if count == 1 else 's'}")

    @staticmethod
    def _generated_data(inp: AddDocumentInput) -> dict[str, Any]:
        source = inp.generated_from
        if source is None:
            return {}
        return {"template": source.template.model_dump(mode="json"),
                "standard_lines": [line.model_dump() for line in source.standard_lines]}
