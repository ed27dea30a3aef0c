"""A complaint's own steps (F1): acknowledgement, clarifications, contributions, the draft
response and its quality check, sending it, the holding response and the outcome. What every
case has (allocation, documents, notes, extensions, closure, finishing an optional stage...) is in
api/routes/cases.py; the shared helpers in api/casesteps.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api import errors
from api.casesteps import AuthorisedCase, CaseStep, authorised_case, authorised_step, run_step, team_and_person
from api.deps import (
    CASE_PATH,
    ClarificationId,
    ContributionId,
    CurrentUser,
    IdempotencyKey,
    SessionDep,
    SettingsDep,
    TemporalDep,
)
from api.routes.cases import on_list
from api.schemas.cases import CaseRead, OptionalNote, ReasonBody
from api.schemas.complaint import (
    AcknowledgeRequest,
    AuthorityRequest,
    ClarificationReply,
    ClarificationRequest,
    ContributionComplete,
    ContributionRequest,
    DraftResponseRequest,
    HoldingResponseRequest,
    OutcomeRequest,
    SendBackRequest,
    SendRequest,
)
from api.uploads import reply_attachments
from casework.calendar.deadlines import case_today
from casework.cases import repository
from casework.cases.contracts import AddDocumentInput, Channel, ChosenLine, DocumentRef, DraftSource
from casework.documents import standard_lines, template_library
from casework.documents.rendering import TemplateError
from casework.documents.store import DOCX, store_blob
from casework.kinds.complaint.contracts import (
    AcknowledgeInput,
    AuthorityInput,
    ClarificationReplyInput,
    ClarificationRequestInput,
    ContributionCancelInput,
    ContributionCompleteInput,
    ContributionRequestInput,
    HoldingResponseInput,
    OutcomeInput,
    QaDecisionInput,
    SendBackInput,
    SendResponseInput,
    SubmitDraftInput,
)
from casework.kinds.complaint.rules import DRAFT_RESPONSE, RULES
from casework.reference_lists import declare_list
from workflows.complaint import ComplaintCaseWorkflow

router = APIRouter(prefix="/cases", tags=["cases"])
CONTRIBUTION_KINDS = declare_list("complaint_contribution_kinds",
                                  "kinds of contribution a complaint asks for (business area, legal, ...)")
DRAFT_RESPONSE_PERMISSION = RULES.permission(DRAFT_RESPONSE)
CASE = CASE_PATH


@router.post(CASE + "/acknowledge", response_model=CaseRead)
async def acknowledge(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.acknowledge)],
    body: AcknowledgeRequest) -> Any:
    """Send the acknowledgement by letter (.docx) or email."""
    payload = AcknowledgeInput(actor=case.actor(), channel=body.channel)
    return await case.take(payload)


# ---- a representative's letter of authority --------------------------------------------------


async def _correspondent_id(correspondent_id: str) -> str:
    return correspondent_id


@router.post(CASE + "/correspondents/{correspondent_id}/authority", response_model=CaseRead)
async def record_authority(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.record_authority)],
    correspondent_id: Annotated[str, Depends(_correspondent_id)], body: AuthorityRequest,
    session: SessionDep) -> Any:
    """Record the complainant's letter of authority for a representative, received on a day, with
    the letter (an upload): the response may then be sent to the representative."""
    [document] = await reply_attachments(session, case.user, case.reference, [body.upload_id], "authority")
    return await case.take(AuthorityInput(actor=case.actor(), correspondent_id=correspondent_id,
                                          received_on=body.received_on, document=document))


# ---- out of turn: to a manager, back to triage ------------------------------------------------


@router.post(CASE + "/refer-to-manager", response_model=CaseRead)
async def refer_to_manager(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.refer_to_manager)],
    body: SendBackRequest) -> Any:
    """Send the case up to a workflow manager, with a reason: they send it back to triage, on to
    drafting, or close it."""
    return await case.take(SendBackInput(actor=case.actor(), reason=body.reason))


@router.post(CASE + "/return-to-triage", response_model=CaseRead)
async def return_to_triage(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.return_to_triage)],
    body: SendBackRequest) -> Any:
    """Send the case back to triage with a reason (the wrong team; QA: not ours): it waits in the
    returned cases queue (`GET /cases?returned=true`) until a coordinator re-triages it by
    allocating it (then it goes on to drafting if acknowledged) or closes it with a note."""
    return await case.take(SendBackInput(actor=case.actor(), reason=body.reason))


@router.post(CASE + "/manager/send-to-drafting", response_model=CaseRead)
async def send_to_drafting(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.send_to_drafting)],
    body: SendBackRequest) -> Any:
    """A manager sends a referred case on to drafting, with a reason."""
    return await case.take(SendBackInput(actor=case.actor(), reason=body.reason))


# ---- clarifications -------------------------------------------------------------------------


@router.post(CASE + "/clarifications", response_model=CaseRead)
async def request_clarification(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.request_clarification)],
    body: ClarificationRequest) -> Any:
    """Ask the complainant for more information (repeatable)."""
    payload = ClarificationRequestInput(actor=case.actor(), channel=body.channel,
                                        questions=body.questions, reply_by=body.reply_by,
                                        sent_on=body.sent_on)
    return await case.take(payload)


@router.post(CASE + "/clarifications/{clarification_id}/reply", response_model=CaseRead)
async def record_clarification_reply(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.record_clarification_reply)],
    clarification_id: ClarificationId, body: ClarificationReply,
    request: Request, session: SessionDep) -> Any:
    """Record the complainant's reply to a clarification request, with any files they sent
    (upload them first with POST /uploads and pass the upload_ids)."""
    # No date given: the workflow uses today by its own clock (the case clock restarts on that day).
    attachments = await reply_attachments(session, case.user, case.reference, body.attachment_ids,
                                          "clarification_reply")
    payload = ClarificationReplyInput(actor=case.actor(), clarification_id=clarification_id,
                                      reply=body.reply, received_on=body.received_on,
                                      attachments=attachments)
    return await case.take(payload)


# ---- contributions --------------------------------------------------------------------------


@router.post(CASE + "/contributions", response_model=CaseRead)
async def request_contribution(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.request_contribution)],
    body: ContributionRequest, request: Request, session: SessionDep) -> Any:
    """Ask another team or person for input, with a due date. The request goes by email to the
    person asked (or the team's address), by letter, or (channel null) is only recorded."""
    if body.kind is not None:
        await on_list(request, session, CONTRIBUTION_KINDS, body.kind, "kind")
    team, person = await team_and_person(request, body.team, body.assignee)
    person_name = person.display_name if person else None
    recipient_email = (person.email if person else None) or team.email
    if body.channel is Channel.EMAIL and not recipient_email:
        raise errors.unprocessable("channel", f"team {team.code} has no email address (nor has the "
                                   "person asked); send by letter")
    payload = ContributionRequestInput(actor=case.actor(), team=team.code,
                                       assignee_id=person.id if person else None,
                                       assignee_name=person_name, request=body.request,
                                       due_date=body.due_date, kind=body.kind, channel=body.channel,
                                       team_name=team.name,
                                       recipient_name=person_name or team.name,
                                       recipient_email=recipient_email)
    return await case.take(payload)


@router.post(CASE + "/contributions/{contribution_id}/complete", response_model=CaseRead)
async def complete_contribution(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.complete_contribution)],
    contribution_id: ContributionId, body: ContributionComplete, session: SessionDep) -> Any:
    """Record the contribution received, with any files that came with it (upload_ids)."""
    attachments = await reply_attachments(session, case.user, case.reference, body.attachment_ids,
                                          "contribution_reply")
    payload = ContributionCompleteInput(actor=case.actor(), contribution_id=contribution_id,
                                        details=body.details, attachments=attachments,
                                        received_on=body.received_on)
    return await case.take(payload)


@router.post(CASE + "/contributions/{contribution_id}/cancel", response_model=CaseRead)
async def cancel_contribution(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.cancel_contribution)],
    contribution_id: ContributionId, body: ReasonBody) -> Any:
    payload = ContributionCancelInput(actor=case.actor(), contribution_id=contribution_id,
                                      reason=body.reason)
    return await case.take(payload)


# ---- the draft response and its quality check -----------------------------------------------


@router.post(CASE + "/draft-response", response_model=CaseRead)
async def generate_draft_response(
    case: Annotated[AuthorisedCase, authorised_case(
        ComplaintCaseWorkflow.add_document, permission=DRAFT_RESPONSE_PERMISSION, what="generating a draft response")],
    body: DraftResponseRequest, request: Request, client: TemporalDep,
    session: SessionDep, settings: SettingsDep, user: CurrentUser,
    idempotency_key: IdempotencyKey = None) -> Any:
    """Generate the draft response: the response letter template, the chosen standard lines and the
    case's data make a .docx, added as the next draft version. Download it, edit it in Word or
    LibreOffice and upload it back (POST documents, kind=draft) as the version after it."""
    # Authorised (by the dependency) before anything is rendered or stored.
    reference = case.reference
    row = await repository.get_case(session, reference)
    if row is None:
        raise errors.not_found(f"case {reference}")
    if row.status == "closed":
        raise errors.stage_conflict(f"case {reference} is closed; a draft cannot be generated", "closed")
    today = case_today(datetime.now(timezone.utc))
    try:
        lines = await standard_lines.choose(session, body.standard_line_ids, today)
    except standard_lines.LineRefused as exc:
        raise errors.unprocessable(exc.field, exc.message) from exc
    of_case = await template_library.context_for_case(session, reference,
                                                      sender_name=user.display_name, today=today)
    if of_case is None:
        raise errors.not_found(f"case {reference}")
    context = template_library.with_purpose_values("response", of_case, {"response": {
        "summary": body.summary or "",
        "standard_lines": [{"topic": line.topic, "category": line.category, "text": line.text}
                           for line in lines],
    }})
    try:
        template = await template_library.resolve(session, settings.templates_dir, "response",
                                                  Channel.LETTER, row.case_type)
        content = await asyncio.to_thread(template.render_letter, context)
    except template_library.TemplateMissing as exc:
        raise errors.unprocessable("template", str(exc)) from exc
    except TemplateError as exc:
        raise errors.template_refused("template", exc) from exc
    digest = await store_blob(session, content)
    await session.commit()
    # The same Idempotency-Key makes the same document, so a retried request adds one version.
    doc_id = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference}/draft-response/{user.id}/{idempotency_key}"))
              if idempotency_key else str(uuid.uuid4()))
    document = DocumentRef(
        id=doc_id, kind="draft", filename=f"{reference.replace('/', '-')}-draft-response.docx",
        content_type=DOCX, size=len(content), sha256=digest, purpose="response",
        added_by=user.display_name, added_by_id=user.id, added_at=datetime.now(timezone.utc))
    source = DraftSource(template=template.ref, standard_lines=[
        ChosenLine(id=line.id, category=line.category, topic=line.topic) for line in lines])
    payload = AddDocumentInput(actor=case.actor(), document=document, generated_from=source)
    return await run_step(request, client, case, ComplaintCaseWorkflow.add_document, payload, idempotency_key)


@router.post(CASE + "/submit-draft", response_model=CaseRead)
async def submit_draft(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.submit_draft)],
    body: OptionalNote) -> Any:
    """Submit the latest draft response for quality assurance (a draft document is required)."""
    payload = SubmitDraftInput(actor=case.actor(), note=body.note)
    return await case.take(payload)


@router.post(CASE + "/qa/approve", response_model=CaseRead)
async def approve_draft(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.approve_draft)],
    body: OptionalNote) -> Any:
    """Approve the draft (the reviewer may not be its drafter)."""
    payload = QaDecisionInput(actor=case.actor(), approved=True, reason=body.note)
    return await case.take(payload)


@router.post(CASE + "/qa/reject", response_model=CaseRead)
async def reject_draft(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.reject_draft)],
    body: ReasonBody) -> Any:
    """Reject the draft with a reason; the case goes back to drafting."""
    payload = QaDecisionInput(actor=case.actor(), approved=False, reason=body.reason)
    return await case.take(payload)


# ---- the response, the holding response and the outcome -------------------------------------


@router.post(CASE + "/send", response_model=CaseRead)
async def send_response(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.send_response)],
    body: SendRequest) -> Any:
    """Send the approved response by email (attached) or letter, or record it given by telephone or
    in person; channel and date are recorded."""
    payload = SendResponseInput(actor=case.actor(), channel=body.channel, to=body.to,
                                sent_on=body.sent_on or case_today(datetime.now(timezone.utc)))
    return await case.take(payload)


@router.post(CASE + "/holding-response", response_model=CaseRead)
async def send_holding_response(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.send_holding_response)],
    body: HoldingResponseRequest) -> Any:
    """Tell the complainant, by letter or email, why the final response is late and when to expect
    it (the FCA's holding response at the deadline). Allowed from acknowledgement until the final
    response is sent; the deadline itself does not move (extend it for that)."""
    payload = HoldingResponseInput(actor=case.actor(), channel=body.channel, reason=body.reason,
                                   new_due_date=body.new_due_date)
    return await case.take(payload)


@router.post(CASE + "/outcome", response_model=CaseRead)
async def record_outcome(
    case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.record_outcome)],
    body: OutcomeRequest) -> Any:
    payload = OutcomeInput(actor=case.actor(), outcome=body.outcome, detail=body.detail,
                           redress_amount=body.redress_amount)
    return await case.take(payload)
