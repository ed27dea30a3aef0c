"""Scenario tests through the HTTP API: a real worker, Temporal dev server, PostgreSQL and SMTP."""

from __future__ import annotations

import asyncio
import io
from datetime import date, timedelta

from docx import Document

from temporalio.contrib.pydantic import pydantic_data_converter

from casework.cases.contracts import Actor
from casework.kinds.complaint.contracts import CaseStart, SubmitDraftInput
from casework.documents.pdf import pdf_text
from tests.casefixtures import auth, case_path, register, step, upload_draft, walk_to_draft, walk_to_qa
from workflows.complaint import ComplaintCaseWorkflow


async def test_full_walk_from_registration_to_closed(api, mailbox):
    case = await register(api)
    ref = case["reference"]
    assert ref.startswith("COMP/") and ref.endswith(f"/{date.today().year % 100:02d}")
    assert case["stage"] == "triage" and case["status"] == "open"
    assert case["workflow_id"] == ref
    complainant = case["correspondents"][0]
    assert complainant["is_primary"] and complainant["postcode"] == "AB1 2CD"

    case = await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    assert (case["stage"], case["team"], case["assignee_name"]) == ("acknowledgement", "CENTRAL", "Dev Drafter")

    case = await step(api, ref, "acknowledge", "drafter", {"channel": "letter"})
    assert case["stage"] == "clarification"
    letter = next(d for d in case["documents"] if d["kind"] == "letter")
    download = await api.get(letter["download_url"], headers=auth("drafter"))
    assert download.status_code == 200
    text = "\n".join(p.text for p in Document(io.BytesIO(download.content)).paragraphs)
    assert complainant["name"] in text and ref in text and "1 High Street" in text

    reply_by = (date.today() + timedelta(days=10)).isoformat()
    case = await step(api, ref, "clarifications", "drafter",
                      {"channel": "email", "questions": "Which account number?", "reply_by": reply_by})
    clarification = case["clarifications"][0]
    assert clarification["reply"] is None
    asked = mailbox.to(complainant["email"])
    assert any("Which account number?" in m.get_body(("plain",)).get_content() for m in asked)
    case = await step(api, ref, f"clarifications/{clarification['id']}/reply", "drafter",
                      {"reply": "Account 12345"})
    assert case["clarifications"][0]["reply"] == "Account 12345"

    due = (date.today() + timedelta(days=5)).isoformat()
    case = await step(api, ref, "contributions", "drafter",
                      {"team": "BILLING", "request": "Was the customer double charged?", "due_date": due})
    assert case["stage"] == "contributions"
    first = case["contributions"][0]["id"]
    case = await step(api, ref, "contributions", "drafter",
                      {"team": "SERVICE", "request": "Any call recordings?", "due_date": due})
    second = next(c["id"] for c in case["contributions"] if c["id"] != first)
    await step(api, ref, f"contributions/{first}/complete", "drafter", {"details": "Yes, refunded on 3 April."})
    case = await step(api, ref, f"contributions/{second}/cancel", "manager", {"reason": "Not needed"})
    assert {c["status"] for c in case["contributions"]} == {"completed", "cancelled"}

    # Moving on without a response document is refused, naming the field.
    response = await api.post(f"{case_path(ref)}/submit-draft", json={}, headers=auth("drafter"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "document"

    await upload_draft(api, ref, text="We uphold your complaint and have refunded you.")
    case = await step(api, ref, "submit-draft", "drafter")
    assert case["stage"] == "qa"
    case = await step(api, ref, "qa/approve", "qa")
    assert case["stage"] == "send" and case["approved_by"] == "Quinn Reviewer"

    before = len(mailbox.to(complainant["email"]))
    case = await step(api, ref, "send", "drafter", {"channel": "email"})
    assert case["stage"] == "outcome" and case["sent_channel"] == "email"
    assert case["sent_on"] == date.today().isoformat()
    sent = mailbox.to(complainant["email"])[before:]
    assert len(sent) == 1
    attachment = next(sent[0].iter_attachments())
    assert attachment.get_content_type() == "application/pdf"  # the response, print-ready
    assert "We uphold your complaint" in pdf_text(attachment.get_content())

    case = await step(api, ref, "outcome", "drafter",
                      {"outcome": "upheld", "detail": "Double charge confirmed", "redress_amount": "25.00"})
    assert case["stage"] == "closure" and case["outcome"] == "upheld"
    case = await step(api, ref, "close", "drafter", {"reason": "response sent"})
    assert case["status"] == "closed" and case["close_reason"] == "response sent"
    assert case["allowed_actions"] == []

    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("handler"))).json()
    kinds = [e["kind"] for e in timeline]
    assert kinds[0] == "closed" and kinds[-1] == "registered"  # newest first
    for kind in ("allocated", "acknowledged", "clarification_requested", "clarification_replied",
                 "contribution_requested", "contribution_completed", "contribution_cancelled",
                 "document_added", "draft_submitted", "qa_approved", "response_sent",
                 "outcome_recorded", "stage_skipped", "stage_changed"):
        assert kind in kinds, kind
    cancelled = next(e for e in timeline if e["kind"] == "contribution_cancelled")
    assert cancelled["reason"] == "Not needed" and cancelled["actor_name"] == "Mo Manager"


async def test_a_continued_case_follows_the_plan_of_its_current_type(api, temporal, settings):
    """Continue-as-new carries the state; the new run must route by the case's type now (changed
    since registration), not by the type the case was registered with."""
    case = await walk_to_draft(api)
    await upload_draft(api, case["reference"])
    handle = temporal.get_workflow_handle(case["reference"])
    state = await handle.query(ComplaintCaseWorkflow.current_state)
    start = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    registered = pydantic_data_converter.payload_converter.from_payloads(start.input.payloads, [CaseStart])[0]
    # Since registration the case's type changed to one whose plan has no quality assurance stage.
    no_qa = registered.case_type.model_copy(update={
        "stages": [s for s in registered.case_type.stages if s["kind"] != "qa"]})
    reference = f"{case['reference']}-continued"
    carried = state.model_copy(update={"reference": reference, "case_type": no_qa})
    continued = await temporal.start_workflow(
        ComplaintCaseWorkflow.run, registered.model_copy(update={"reference": reference, "carried_state": carried}),
        id=reference, task_queue=settings.task_queue)
    drafter = Actor(user_id=state.assignee_id, username="drafter", display_name="Drafter", roles=["drafter"])
    # With the registered type's plan the case moved to a stage its own type lacks, and its
    # projection failed and retried for ever: the step never returned.
    after = await asyncio.wait_for(
        continued.execute_update(ComplaintCaseWorkflow.submit_draft, SubmitDraftInput(actor=drafter)), 60)
    assert after.stage == "send"
