"""Standard lines and the draft response: admin keeps the lines, the drafter chooses some, generates
the draft, edits it in Word and uploads it back; QA reviews the latest; the response goes out as a
print-ready PDF by post or attached to an email."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta

import docx
from sqlalchemy import update

from casework.platform.db import StandardLine
from casework.documents.pdf import pdf_text
from casework.documents.rendering import docx_text
from tests.casefixtures import DOCX, auth, case_path, docx_bytes, step, walk_to_draft

NEXT_YEAR = (date.today() + timedelta(days=365)).isoformat()


async def add_line(api, topic: str, text: str, category: str = "Billing", user: str = "admin",
                   expires_on: str = NEXT_YEAR, expect: int = 201) -> dict:
    response = await api.post("/standard-lines", headers=auth(user), json={
        "category": category, "topic": topic, "text": text, "expires_on": expires_on})
    assert response.status_code == expect, response.text
    return response.json()


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


async def download(api, url: str) -> bytes:
    response = await api.get(url, headers=auth("drafter"))
    assert response.status_code == 200, response.text
    return response.content


# ---- standard lines ---------------------------------------------------------------------------


async def test_a_new_line_for_a_topic_retires_the_live_one(api):
    topic = unique("Refund timescales")
    first = await add_line(api, topic, "Refunds take 10 working days.")
    second = await add_line(api, topic.upper(), "Refunds take 5 working days.")  # same topic, any case

    old = (await api.get(f"/standard-lines/{first['id']}", headers=auth("drafter"))).json()
    assert (old["status"], old["replaced_by"], old["retired_by"]) == ("retired", second["id"], "Ada Admin")
    live = (await api.get("/standard-lines", params={"topic": topic}, headers=auth("drafter"))).json()
    assert [line["text"] for line in live] == ["Refunds take 5 working days."]
    everything = (await api.get("/standard-lines", params={"topic": topic, "status": "all"},
                                headers=auth("drafter"))).json()
    assert {line["status"] for line in everything} == {"live", "retired"}


async def test_only_admins_manage_lines_and_bad_input_names_the_field(api):
    await add_line(api, unique("Apology"), "Sorry.", user="drafter", expect=403)
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    body = await add_line(api, unique("Apology"), "Sorry.", expires_on=yesterday, expect=422)
    assert body["detail"][0]["loc"] == ["body", "expires_on"]
    line = await add_line(api, unique("Apology"), "Sorry.")
    moved = await api.patch(f"/standard-lines/{line['id']}", json={"expires_on": yesterday},
                            headers=auth("admin"))
    assert moved.status_code == 422 and moved.json()["detail"][0]["loc"][-1] == "expires_on"
    retired = await api.delete(f"/standard-lines/{line['id']}", headers=auth("admin"))
    assert retired.json()["status"] == "retired"
    changed = await api.patch(f"/standard-lines/{line['id']}", json={"expires_on": NEXT_YEAR},
                              headers=auth("admin"))
    assert changed.status_code == 409 and changed.json()["detail"]["status"] == "retired"


async def test_expired_and_retired_lines_cannot_be_chosen(api, sessionmaker):
    case = await walk_to_draft(api)
    ref = case["reference"]
    expired = await add_line(api, unique("Old policy"), "This no longer applies.")
    async with sessionmaker() as session, session.begin():  # time passes
        await session.execute(update(StandardLine).where(StandardLine.id == expired["id"])
                              .values(expires_on=date.today() - timedelta(days=1)))
    topic = unique("Compensation")
    retired = await add_line(api, topic, "We pay £10.")
    await add_line(api, topic, "We pay £20.")

    for line, why in ((expired, "expired on"), (retired, "was retired")):
        body = await step(api, ref, "draft-response", "drafter",
                          {"standard_line_ids": [line["id"]]}, expect=422)
        assert body["detail"][0]["loc"] == ["body", "standard_line_ids"]
        assert why in body["detail"][0]["msg"]
    body = await step(api, ref, "draft-response", "drafter", {"standard_line_ids": [str(uuid.uuid4())]},
                      expect=422)
    assert body["detail"][0]["loc"] == ["body", "standard_line_ids"]
    listed = (await api.get("/standard-lines", params={"topic": expired["topic"]},
                            headers=auth("drafter"))).json()
    assert listed == []  # only live lines are offered
    after = (await api.get(case_path(ref), headers=auth("drafter"))).json()
    assert not [d for d in after["documents"] if d["kind"] == "draft"]  # nothing half-written


# ---- the draft response -----------------------------------------------------------------------


async def test_drafter_generates_edits_and_resubmits_then_the_letter_is_printed_with_the_lines(api):
    refunds = await add_line(api, unique("Refunds"), "We refund double charges within five working days.")
    apology = await add_line(api, unique("Apology"), "We are sorry for the worry this caused.",
                             category="General")
    case = await walk_to_draft(api)
    ref, name = case["reference"], case["correspondents"][0]["name"]

    case = await step(api, ref, "draft-response", "drafter", {
        "standard_line_ids": [refunds["id"], apology["id"]],
        "summary": "We have looked at your March bill."})
    (draft,) = [d for d in case["documents"] if d["kind"] == "draft"]
    assert draft["version"] == 1 and draft["filename"].endswith(".docx")
    text = docx_text(await download(api, draft["download_url"]))
    assert f"Dear {name}" in text and ref in text and "1 High Street" in text
    assert ("We have looked at your March bill.\nWe refund double charges within five working days."
            "\n\nWe are sorry for the worry this caused.") in text

    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    generated = next(e for e in timeline if e["kind"] == "document_added")
    assert generated["data"]["template"]["purpose"] == "response"
    assert generated["data"]["template"]["source"] == "shipped"
    assert [line["id"] for line in generated["data"]["standard_lines"]] == [refunds["id"], apology["id"]]
    assert "2 standard lines" in generated["summary"]

    # Edited in Word and uploaded back: version 2 is what QA gets.
    edited = docx.Document(io.BytesIO(await download(api, draft["download_url"])))
    edited.add_paragraph("PS: we have also waived this month's fee.")
    buffer = io.BytesIO()
    edited.save(buffer)
    files = {"file": ("response-edited.docx", buffer.getvalue(), DOCX)}
    uploaded = await api.post(f"{case_path(ref)}/documents", files=files, data={"kind": "draft"},
                              headers=auth("drafter"))
    assert uploaded.status_code == 200, uploaded.text
    latest = max((d for d in uploaded.json()["documents"] if d["kind"] == "draft"),
                 key=lambda d: d["version"])
    assert latest["version"] == 2
    case = await step(api, ref, "submit-draft", "drafter")
    assert case["submitted_draft_id"] == latest["id"]
    await step(api, ref, "qa/approve", "qa")

    case = await step(api, ref, "send", "drafter", {"channel": "letter"})
    assert case["sent_channel"] == "letter" and case["stage"] == "outcome"
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    sent = next(e for e in timeline if e["kind"] == "response_sent")
    assert "post room" in sent["summary"] and sent["data"]["message_id"] is None
    (printed,) = sent["data"]["documents"]
    assert printed["content_type"] == "application/pdf"
    text = pdf_text(await download(api, f"/documents/{printed['id']}"))
    for expected in (name, ref, "We refund double charges within five working days.",
                     "We are sorry for the worry this caused.", "waived this month's fee"):
        assert expected in " ".join(text.split()), expected


async def test_response_by_email_is_multipart_with_the_response_attached_as_pdf(api, mailbox):
    line = await add_line(api, unique("Refunds"), "Your refund of £25.00 is on its way.")
    case = await walk_to_draft(api)
    ref, address = case["reference"], case["correspondents"][0]["email"]
    await step(api, ref, "draft-response", "drafter", {"standard_line_ids": [line["id"]]})
    await step(api, ref, "submit-draft", "drafter")
    await step(api, ref, "qa/approve", "qa")
    before = len(mailbox.to(address))

    case = await step(api, ref, "send", "drafter", {"channel": "email"})

    (message,) = mailbox.to(address)[before:]
    assert message.get_content_type() == "multipart/mixed"
    assert ref in message["Subject"]
    assert "Our full response is attached" in message.get_body(("plain",)).get_content()
    assert "<strong>" in message.get_body(("html",)).get_content()
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert "Your refund of £25.00 is on its way." in pdf_text(attachment.get_content())
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    sent = next(e for e in timeline if e["kind"] == "response_sent")
    assert sent["data"]["message_id"] == message["Message-ID"]
    assert {d["content_type"] for d in sent["data"]["documents"]} == {"message/rfc822", "application/pdf"}
    stored = [d for d in case["documents"] if d["id"] in {x["id"] for x in sent["data"]["documents"]}]
    assert len(stored) == 2
    for document in stored:
        assert await download(api, document["download_url"])


async def test_draft_uploads_are_checked_for_type_content_and_size(api, settings, monkeypatch):
    case = await walk_to_draft(api)
    ref = case["reference"]

    async def upload(filename: str, content: bytes, content_type: str):
        response = await api.post(f"{case_path(ref)}/documents", data={"kind": "draft"},
                                  files={"file": (filename, content, content_type)},
                                  headers=auth("drafter"))
        return response

    for filename, content, why in (
        ("notes.txt", b"plain text", "must be .docx, .odt, .pdf"),
        ("response.pdf", b"%PDF-1.4 not really", "not a readable PDF"),
        ("response.docx", b"PK not a docx", "not a readable .docx"),
        ("response.odt", docx_bytes("a docx in disguise"), "OpenDocument"),
    ):
        response = await upload(filename, content, "application/octet-stream")
        assert response.status_code == 422, filename
        detail = response.json()["detail"][0]
        assert detail["loc"][-1] == "file" and why in detail["msg"], (filename, detail)

    monkeypatch.setattr(settings, "max_draft_bytes", 1000)
    response = await upload("response.docx", docx_bytes("x" * 5000), DOCX)
    assert response.status_code == 422 and "larger than 1000 bytes" in response.json()["detail"][0]["msg"]
    # An attachment is not a draft: the draft rules do not apply to it.
    response = await api.post(f"{case_path(ref)}/documents", data={"kind": "attachment"},
                              files={"file": ("notes.txt", b"plain text", "text/plain")},
                              headers=auth("drafter"))
    assert response.status_code == 200


async def test_standard_line_text_is_printed_literally_not_run_as_template_code(api):
    line = await add_line(api, unique("Tricky"), "Total: {{ 7*7 }} {% if true %}yes{% endif %} <b>bold</b>")
    case = await walk_to_draft(api)
    case = await step(api, case["reference"], "draft-response", "drafter",
                      {"standard_line_ids": [line["id"]]})
    draft = next(d for d in case["documents"] if d["kind"] == "draft")
    text = docx_text(await download(api, draft["download_url"]))
    assert "Total: {{ 7*7 }} {% if true %}yes{% endif %} <b>bold</b>" in text
    assert "Total: 49" not in text  # not bare "49": the case reference may contain it
