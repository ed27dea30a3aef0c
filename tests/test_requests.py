"""Clarification and contribution requests go out by letter or email with a reply-by date; replies
(text and files) are recorded against the case; a stage-2 case is acknowledged with its own letter."""

from __future__ import annotations

from datetime import date, timedelta

from casework.documents.pdf import pdf_text
from casework.documents.rendering import longdate
from tests.casefixtures import auth, case_path, register, step, walk_to_draft

SOON = date.today() + timedelta(days=7)


async def upload(api, filename: str, content: bytes, content_type: str, user: str = "drafter") -> str:
    # Until attached, an upload is only its uploader's to attach: the drafter records the replies.
    response = await api.post("/uploads", files={"file": (filename, content, content_type)},
                              headers=auth(user))
    assert response.status_code == 201, response.text
    return response.json()["upload_id"]


def about(messages, reference: str):
    return [m for m in messages if reference in m["Subject"]]


async def printed_words(api, url: str) -> str:
    """The text of a stored PDF, as one line of words."""
    response = await api.get(url, headers=auth("drafter"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    return " ".join(pdf_text(response.content).split())


async def timeline(api, ref: str) -> list[dict]:
    return (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()


async def test_contribution_request_is_emailed_to_the_team_or_the_person_asked(api, mailbox):
    case = await walk_to_draft(api)
    ref = case["reference"]

    case = await step(api, ref, "contributions", "drafter",
                      {"team": "BILLING", "request": "Was the customer charged twice?",
                       "due_date": SOON.isoformat()})
    (to_team,) = about(mailbox.to("billing@example.org"), ref)
    assert longdate(SOON) in to_team["Subject"]
    body = to_team.get_body(("plain",)).get_content()
    assert "Dear Billing Complaints" in body and "Was the customer charged twice?" in body
    assert "I was charged twice for my March bill." in body  # the complaint as recorded
    (contribution,) = case["contributions"]
    assert (contribution["channel"], contribution["recipient"]) == ("email", "billing@example.org")
    event = next(e for e in await timeline(api, ref) if e["kind"] == "contribution_requested")
    assert event["data"]["message_id"] == to_team["Message-ID"]
    assert event["data"]["template"]["purpose"] == "contribution"
    assert "emailed to billing@example.org" in event["summary"]

    await step(api, ref, "contributions", "drafter",
               {"team": "BILLING", "assignee": "drafter", "request": "Any notes from the call?",
                "due_date": SOON.isoformat()})
    (to_person,) = about(mailbox.to("drafter@example.org"), ref)
    assert "Dear Dev Drafter" in to_person.get_body(("plain",)).get_content()


async def test_contribution_request_by_letter_or_only_recorded(api, mailbox):
    case = await walk_to_draft(api)
    ref = case["reference"]
    before = len(mailbox.messages)

    await step(api, ref, "contributions", "drafter",
               {"team": "SERVICE", "request": "Please check the call log.", "due_date": SOON.isoformat(),
                "channel": "letter"})
    case = await step(api, ref, "contributions", "drafter",
                      {"team": "SERVICE", "request": "Noted verbally.", "due_date": SOON.isoformat(),
                       "channel": None})

    assert len(mailbox.messages) == before
    letter, recorded = case["contributions"]
    assert (letter["channel"], letter["recipient"]) == ("letter", "Customer Service")
    assert recorded["channel"] is None
    event = next(e for e in reversed(await timeline(api, ref)) if e["kind"] == "contribution_requested")
    printed = next(d for d in event["data"]["documents"] if d["content_type"] == "application/pdf")
    text = await printed_words(api, f"/documents/{printed['id']}")
    assert "Dear Customer Service" in text and "Please check the call log." in text
    assert f"by {longdate(SOON)}" in text


async def test_replies_are_recorded_with_their_files(api):
    case = await walk_to_draft(api)
    ref = case["reference"]
    case = await step(api, ref, "clarifications", "drafter",
                      {"channel": "letter", "questions": "Which account?", "reply_by": SOON.isoformat()})
    clarification = case["clarifications"][0]
    letter = next(d for d in case["documents"] if d["purpose"] == "clarification"
                  and d["content_type"] == "application/pdf")
    text = await printed_words(api, letter["download_url"])
    assert "Which account?" in text and f"Please reply by {longdate(SOON)}" in text

    statement = await upload(api, "statement.pdf", b"%PDF-1.4 bank statement", "application/pdf")
    photo = await upload(api, "receipt.png", b"\x89PNG receipt", "image/png")
    key = {"Idempotency-Key": f"reply-{ref}"}
    body = {"reply": "Account 12345; statement attached.", "attachment_ids": [statement, photo]}
    case = await step(api, ref, f"clarifications/{clarification['id']}/reply", "drafter", body, **key)
    again = await step(api, ref, f"clarifications/{clarification['id']}/reply", "drafter", body, **key)

    assert again["clarifications"] == case["clarifications"]
    replied = case["clarifications"][0]
    assert replied["reply"] == "Account 12345; statement attached."
    assert replied["reply_attachment_ids"] == [statement, photo]
    files = {d["id"]: d for d in case["documents"]}
    assert files[statement]["filename"] == "statement.pdf"
    assert files[photo]["purpose"] == "clarification_reply"
    stored = await api.get(files[statement]["download_url"], headers=auth("drafter"))
    assert stored.content == b"%PDF-1.4 bank statement"
    event = next(e for e in await timeline(api, ref) if e["kind"] == "clarification_replied")
    assert event["data"]["attachment_ids"] == [statement, photo]

    case = await step(api, ref, "contributions", "drafter",
                      {"team": "BILLING", "request": "Refund?", "due_date": SOON.isoformat()})
    contribution = case["contributions"][0]["id"]
    # A file already on the case cannot be attached again; a fresh upload can.
    body = await step(api, ref, f"contributions/{contribution}/complete", "drafter",
                      {"details": "Refunded", "attachment_ids": [statement]}, expect=422)
    assert body["detail"][0]["loc"][-1] == "attachment_ids"
    ledger = await upload(api, "ledger.txt", b"refund 25.00", "text/plain")
    case = await step(api, ref, f"contributions/{contribution}/complete", "drafter",
                      {"details": "Refunded", "attachment_ids": [ledger]})
    assert case["contributions"][0]["attachment_ids"] == [ledger]


async def test_stage_two_case_is_acknowledged_with_the_review_template(api, mailbox):
    case = await register(api)
    ref = case["reference"]
    await step(api, ref, "close", "coordinator", {"reason": "withdrawn", "note": "Withdrawn by phone"})
    stage2 = await step(api, ref, "escalate", "coordinator", {"reason": "Unhappy"}, expect=201)
    await step(api, stage2["reference"], "allocate", "coordinator", {"team": "CENTRAL"})
    await step(api, stage2["reference"], "acknowledge", "drafter", {"channel": "email"})

    (message,) = about(mailbox.to(case["correspondents"][0]["email"]), stage2["reference"])
    assert "request for a review" in message["Subject"]
    assert f"(our reference {ref})" in message.get_body(("plain",)).get_content()
    event = next(e for e in await timeline(api, stage2["reference"]) if e["kind"] == "acknowledged")
    assert event["data"]["template"]["purpose"] == "stage2_acknowledgement"
