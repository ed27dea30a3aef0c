"""A holding response: telling the complainant why the final response is late and when it will come.

Under a policy like the FCA's, the deadline clock records "a holding response is due"; this is the
step that sends it, by email or letter, from the template library's `holding_response` template.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

from docx import Document

from casework.documents.rendering import longdate
from tests.casefixtures import auth, case_path, register, step, walk_to_draft, walk_to_qa

REASON = "We are still waiting for your bank's records of the two payments."


def holding(channel: str, days: int = 14, reason: str = REASON) -> dict:
    return {"channel": channel, "reason": reason,
            "new_due_date": (date.today() + timedelta(days=days)).isoformat()}


async def test_a_holding_email_tells_the_complainant_why_and_when_and_the_case_stays_where_it_was(api, mailbox):
    case = await walk_to_draft(api)
    ref, complainant = case["reference"], case["correspondents"][0]
    before = len(mailbox.to(complainant["email"]))
    key = {"Idempotency-Key": f"holding-{ref}"}
    sent = await step(api, ref, "holding-response", "drafter", holding("email"), **key)
    # A retried request (same key) sends nothing more.
    again = await step(api, ref, "holding-response", "drafter", holding("email"), **key)

    assert sent["stage"] == again["stage"] == "clarification"
    received = mailbox.to(complainant["email"])[before:]
    assert len(received) == 1
    text = received[0].get_body(("plain",)).get_content()
    due = longdate(date.today() + timedelta(days=14))
    assert REASON in text and f"response by {due}" in text and ref in text
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    events = [e for e in timeline if e["kind"] == "holding_response_sent"]
    assert len(events) == 1
    assert events[0]["summary"] == f"Holding response emailed to {complainant['email']}"
    assert events[0]["data"]["reason"] == REASON and events[0]["actor_name"] == "Dev Drafter"
    assert events[0]["data"]["message_id"] == received[0]["Message-ID"]
    assert any(d["purpose"] == "holding_response" and d["kind"] == "email" for d in sent["documents"])


async def test_a_holding_letter_is_a_docx_and_a_pdf_on_the_case(api):
    case = await walk_to_qa(api)
    ref = case["reference"]
    sent = await step(api, ref, "holding-response", "coordinator", holding("letter", days=30))
    assert sent["stage"] == "qa"
    letter = next(d for d in sent["documents"] if d["purpose"] == "holding_response" and d["filename"].endswith(".docx"))
    assert any(d["purpose"] == "holding_response" and d["filename"].endswith(".pdf") for d in sent["documents"])
    download = await api.get(letter["download_url"], headers=auth("coordinator"))
    text = "\n".join(p.text for p in Document(io.BytesIO(download.content)).paragraphs)
    assert REASON in text and longdate(date.today() + timedelta(days=30)) in text
    assert case["correspondents"][0]["name"] in text


async def test_no_holding_response_before_allocation_or_once_the_final_response_has_gone(api):
    case = await register(api)
    body = await step(api, case["reference"], "holding-response", "drafter", holding("email"), expect=409)
    assert body["detail"]["stage"] == "triage"

    case = await walk_to_qa(api)
    ref = case["reference"]
    await step(api, ref, "qa/approve", "qa")
    await step(api, ref, "send", "drafter", {"channel": "letter"})
    body = await step(api, ref, "holding-response", "drafter", holding("email"), expect=409)
    assert body["detail"]["stage"] == "outcome"
    assert "Complaint outcome" in body["detail"]["message"]


async def test_bad_holding_responses_are_refused_naming_the_field_and_nothing_is_sent(api, mailbox):
    case = await walk_to_draft(api)
    ref, email = case["reference"], case["correspondents"][0]["email"]
    before = len(mailbox.to(email))
    past = await step(api, ref, "holding-response", "drafter", holding("email", days=-1), expect=422)
    assert "new_due_date" in str(past["detail"])
    blank = await step(api, ref, "holding-response", "drafter", holding("email", reason="   "), expect=422)
    assert "reason" in str(blank["detail"])
    # The handler (another team) may not see the case at all; the reviewer sees it but may not act.
    await step(api, ref, "holding-response", "handler", holding("email"), expect=404)
    refused = await step(api, ref, "holding-response", "qa", holding("email"), expect=403)
    assert "send_holding_response" in refused["detail"]
    assert len(mailbox.to(email)) == before
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    assert "holding_response_sent" not in [e["kind"] for e in timeline]
