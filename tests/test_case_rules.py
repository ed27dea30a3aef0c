"""The rules a user meets: wrong stage, bad input, permissions, loops, early close, escalation,
idempotent retries."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from tests.casefixtures import (
    auth,
    case_path,
    complaint,
    register,
    step,
    uk_today,
    upload_draft,
    walk_to_draft,
    walk_to_qa,
)


async def test_step_in_wrong_stage_is_409_naming_the_stage(api):
    case = await register(api)
    body = await step(api, case["reference"], "qa/approve", "qa", expect=409)
    assert body["detail"]["stage"] == "triage"
    assert "Allocation" in body["detail"]["message"]
    # Nothing was written: still in triage with only the registration (and its deadline) on the timeline.
    timeline = (await api.get(f"{case_path(case['reference'])}/timeline", headers=auth("qa"))).json()
    assert [e["kind"] for e in timeline] == ["deadline_set", "registered"]


async def test_malformed_bodies_are_422_naming_the_field(api):
    bad = complaint()
    del bad["category"]
    response = await api.post("/cases", json=bad, headers=auth("handler"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "category"]

    bad = complaint(date_received=(date.today() + timedelta(days=3)).isoformat())
    response = await api.post("/cases", json=bad, headers=auth("handler"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "date_received"

    bad = complaint()
    bad["correspondents"][0]["email"] = "not-an-email"
    response = await api.post("/cases", json=bad, headers=auth("handler"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "email"

    case = await register(api)
    body = await step(api, case["reference"], "allocate", "coordinator", {"team": "NOPE"}, expect=422)
    assert body["detail"][0]["loc"] == ["body", "team"]
    body = await step(api, case["reference"], "allocate", "coordinator",
                      {"team": "SERVICE", "assignee": "qa"}, expect=422)
    assert body["detail"][0]["loc"] == ["body", "assignee"] and "not a member" in body["detail"][0]["msg"]
    body = await step(api, case["reference"], "close", "coordinator", {"reason": "bored", "note": "x"},
                      expect=422)
    assert body["detail"][0]["loc"] == ["body", "reason"]


async def test_missing_case_is_404_and_auth_is_enforced(api):
    response = await api.get("/cases/COMP/999999/99", headers=auth("handler"))
    assert response.status_code == 404 and "COMP/999999/99" in response.json()["detail"]
    assert (await api.post("/cases/COMP/999999/99/allocate", json={"team": "CENTRAL"},
                           headers=auth("coordinator"))).status_code == 404
    response = await api.get("/cases")
    assert response.status_code == 401 and response.headers["www-authenticate"] == 'Bearer realm="casework"'
    response = await api.get("/cases", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401 and "invalid" in response.json()["detail"]

    case = await register(api)
    body = await step(api, case["reference"], "allocate", "drafter", {"team": "CENTRAL"}, expect=403)
    assert body["detail"] == "'allocate' needs the permission 'complaint.allocate'"
    response = await api.post("/cases", json=complaint(), headers=auth("qa"))
    assert response.status_code == 403


async def test_qa_reject_loop_returns_to_draft_with_reason(api):
    case = await walk_to_qa(api)
    ref = case["reference"]
    body = await step(api, ref, "qa/reject", "qa", {}, expect=422)
    assert body["detail"][0]["loc"][-1] == "reason"
    case = await step(api, ref, "qa/reject", "qa", {"reason": "Tone is too defensive"})
    assert case["stage"] == "draft" and case["submitted_draft_id"] is None
    await step(api, ref, "send", "drafter", {"channel": "email"}, expect=409)

    case = await upload_draft(api, ref, text="Revised: we apologise.")
    drafts = [d for d in case["documents"] if d["kind"] == "draft"]
    assert [d["version"] for d in drafts] == [1, 2]
    case = await step(api, ref, "submit-draft", "drafter")
    assert case["submitted_draft_id"] == drafts[-1]["id"]
    case = await step(api, ref, "qa/approve", "qa")
    assert case["stage"] == "send"

    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("qa"))).json()
    rejected = next(e for e in timeline if e["kind"] == "qa_rejected")
    assert rejected["reason"] == "Tone is too defensive" and rejected["actor_name"] == "Quinn Reviewer"
    back = next(e for e in timeline if e["kind"] == "stage_changed" and e["data"]["to"] == "draft"
                and e["data"]["from"] == "qa")
    assert back["reason"] == "Tone is too defensive"


async def test_reviewer_may_not_be_the_drafter(api):
    case = await walk_to_draft(api)
    ref = case["reference"]
    # The admin holds every role, so only the drafter rule stops them reviewing their own draft.
    await upload_draft(api, ref, user="admin")
    await step(api, ref, "submit-draft", "admin")
    body = await step(api, ref, "qa/approve", "admin", expect=403)
    assert "drafter" in body["detail"]
    case = await step(api, ref, "qa/approve", "qa")
    assert case["stage"] == "send"


async def test_no_author_of_any_draft_version_may_review_it(api):
    # The admin holds every role: only four eyes stops them reviewing.
    case = await walk_to_draft(api)
    ref = case["reference"]
    await upload_draft(api, ref, user="admin")  # version 1, uploaded by the admin
    await upload_draft(api, ref, user="drafter", text="Version two")  # the drafter's version 2
    await step(api, ref, "submit-draft", "drafter")
    for action, body in (("qa/approve", {}), ("qa/reject", {"reason": "Too long"})):
        refused = await step(api, ref, action, "admin", body, expect=403)
        assert "four eyes" in refused["detail"] and "version 1" in refused["detail"]
    case = await step(api, ref, "qa/approve", "qa")
    assert case["stage"] == "send"


async def test_the_author_of_a_generated_draft_may_not_review_it(api):
    case = await walk_to_draft(api)
    ref = case["reference"]
    await step(api, ref, "draft-response", "admin", {"summary": "We looked again."})
    await step(api, ref, "submit-draft", "drafter")
    refused = await step(api, ref, "qa/approve", "admin", expect=403)
    assert "four eyes" in refused["detail"]
    await step(api, ref, "qa/reject", "qa", {"reason": "Say sorry"})


async def test_whoever_submitted_an_earlier_version_may_not_review_a_later_one(api):
    case = await walk_to_draft(api)
    ref = case["reference"]
    await upload_draft(api, ref, user="drafter")
    await step(api, ref, "submit-draft", "admin")  # the admin submits the drafter's version 1
    await step(api, ref, "qa/reject", "qa", {"reason": "Say sorry"})
    await upload_draft(api, ref, user="drafter", text="Sorry")
    await step(api, ref, "submit-draft", "drafter")  # version 2, submitted by the drafter
    refused = await step(api, ref, "qa/reject", "admin", {"reason": "No"}, expect=403)
    assert "submitted" in refused["detail"]
    await step(api, ref, "qa/approve", "qa")


async def test_early_close_needs_a_note_and_a_coordinator(api):
    case = await register(api)
    ref = case["reference"]
    body = await step(api, ref, "close", "coordinator", {"reason": "not a complaint"}, expect=422)
    assert body["detail"][0]["loc"][-1] == "note" and "Allocation" in body["detail"][0]["msg"]
    await step(api, ref, "close", "drafter", {"reason": "not a complaint", "note": "x"}, expect=403)
    case = await step(api, ref, "close", "coordinator",
                      {"reason": "not a complaint", "note": "Service request, passed to helpdesk"})
    assert case["status"] == "closed" and case["close_note"] == "Service request, passed to helpdesk"
    body = await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL"}, expect=409)
    assert body["detail"]["stage"] == "closed"
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("coordinator"))).json()
    assert timeline[0]["kind"] == "closed_early"
    assert timeline[0]["reason"] == "Service request, passed to helpdesk"


async def test_reallocation_at_any_stage_is_recorded(api):
    case = await walk_to_qa(api)
    ref = case["reference"]
    case = await step(api, ref, "allocate", "coordinator",
                      {"team": "CENTRAL", "assignee": "drafter2", "reason": "Dev is on leave"})
    assert case["stage"] == "qa" and case["assignee_name"] == "Dina Drafter"
    listed = (await api.get("/cases", params={"assignee": "drafter2", "status": "open"},
                            headers=auth("coordinator"))).json()
    assert ref in [c["reference"] for c in listed]
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("coordinator"))).json()
    assert timeline[0]["kind"] == "reallocated" and timeline[0]["reason"] == "Dev is on leave"


async def test_closed_case_escalates_to_linked_stage_two_case(api):
    case = await register(api)
    ref = case["reference"]
    await step(api, ref, "escalate", "coordinator", {"reason": "Unhappy"}, expect=409)
    await step(api, ref, "close", "coordinator", {"reason": "withdrawn", "note": "Withdrawn by phone"})
    stage2 = await step(api, ref, "escalate", "handler", {"reason": "Complainant disputes the outcome"},
                        expect=201)
    assert stage2["reference"].startswith("COMP2/") and stage2["case_type"] == "COMP2"
    assert stage2["escalated_from"] == ref and stage2["stage"] == "triage"
    assert stage2["correspondents"][0]["name"] == case["correspondents"][0]["name"]
    assert stage2["description"] == case["description"]
    again = await step(api, ref, "escalate", "handler", {"reason": "again"}, expect=201)
    assert again["reference"] == stage2["reference"]
    original = (await api.get(case_path(ref), headers=auth("handler"))).json()
    assert original["escalated_to"] == stage2["reference"]
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("handler"))).json()
    assert timeline[0]["kind"] == "escalated" and timeline[0]["reason"] == "Complainant disputes the outcome"
    # The stage-2 case walks the same flow.
    case = await step(api, stage2["reference"], "allocate", "coordinator", {"team": "CENTRAL"})
    assert case["stage"] == "acknowledgement"


async def test_retried_request_with_same_idempotency_key_sends_one_email(api, mailbox):
    case = await register(api)
    ref = case["reference"]
    address = case["correspondents"][0]["email"]
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL"})
    headers = {"Idempotency-Key": "ack-once-please"}
    first, second = await asyncio.gather(
        step(api, ref, "acknowledge", "drafter", {"channel": "email"}, **headers),
        step(api, ref, "acknowledge", "drafter", {"channel": "email"}, **headers),
    )
    third = await step(api, ref, "acknowledge", "drafter", {"channel": "email"}, **headers)
    assert first["stage"] == second["stage"] == third["stage"] == "clarification"
    assert len(mailbox.to(address)) == 1
    emails = [d for d in third["documents"] if d["kind"] == "email"]
    assert len(emails) == 1
    eml = await api.get(emails[0]["download_url"], headers=auth("drafter"))
    assert eml.status_code == 200 and b"Message-ID" in eml.content


async def test_retried_registration_with_same_key_creates_one_case(api):
    body = complaint()
    headers = auth("handler", **{"Idempotency-Key": "register-once"})
    first = await api.post("/cases", json=body, headers=headers)
    second = await api.post("/cases", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["reference"] == second.json()["reference"]


async def test_a_registration_retried_after_the_case_closed_returns_it_and_starts_nothing(api):
    body = complaint()
    headers = auth("handler", **{"Idempotency-Key": "register-then-close"})
    first = (await api.post("/cases", json=body, headers=headers)).json()
    await step(api, first["reference"], "close", "coordinator", {"reason": "withdrawn", "note": "Withdrawn"})
    again = await api.post("/cases", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json()["reference"] == first["reference"] and again.json()["status"] == "closed"


async def test_notes_are_added_and_edited_with_editor_recorded(api):
    case = await register(api)
    ref = case["reference"]
    case = await step(api, ref, "notes", "handler", {"text": "Called the complainant"})
    note = case["notes"][0]
    assert note["created_by"] == "Hana Handler" and note["edited_by"] is None
    response = await api.patch(f"{case_path(ref)}/notes/{note['id']}", json={"text": "Called twice"},
                               headers=auth("coordinator"))
    assert response.status_code == 200
    edited = response.json()["notes"][0]
    assert edited["text"] == "Called twice" and edited["edited_by"] == "Cora Coordinator"
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("handler"))).json()
    assert timeline[0]["kind"] == "note_edited" and timeline[0]["data"]["previous"] == "Called the complainant"


async def test_attachments_uploaded_before_registration(api):
    upload = await api.post("/uploads", files={"file": ("evidence.pdf", b"%PDF-1.4 fake", "application/pdf")},
                            headers=auth("handler"))
    assert upload.status_code == 201
    upload_id = upload.json()["upload_id"]
    case = await register(api, attachment_ids=[upload_id])
    assert [d["filename"] for d in case["documents"]] == ["evidence.pdf"]
    assert case["documents"][0]["kind"] == "attachment"
    response = await api.post("/cases", json=complaint(attachment_ids=[upload_id]), headers=auth("handler"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "attachment_ids"
    bad = await api.post("/uploads", files={"file": ("run.exe", b"MZ", "application/octet-stream")},
                         headers=auth("handler"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "file"


async def test_steps_on_a_case_you_may_not_see_are_404(api):
    case = await register(api)
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "BILLING"})
    # The handler works in SERVICE: a BILLING case is not theirs to see, so not theirs to change.
    body = await step(api, ref, "notes", "handler", {"text": "peeking"}, expect=404)
    assert ref in body["detail"]
    await step(api, ref, "notes", "drafter", {"text": "Drafter is in BILLING"})


async def test_uploading_to_a_case_you_may_not_see_stores_nothing(api, sessionmaker):
    import hashlib

    from casework.documents.store import load_blob

    case = await register(api)
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "BILLING"})
    content = f"not yours {ref}".encode()
    response = await api.post(f"{case_path(ref)}/documents", files={"file": ("note.txt", content, "text/plain")},
                              headers=auth("handler"))
    assert response.status_code == 404
    async with sessionmaker() as session:
        assert await load_blob(session, hashlib.sha256(content).hexdigest()) is None


async def test_who_may_act_follows_the_case_as_it_is_now(api):
    """Visibility travels with each step and the workflow applies it to the case's current team,
    assignee and contributions: re-allocation hides a case at once; a contribution asked of a
    team lets its members in."""
    case = await walk_to_draft(api)  # CENTRAL, assigned to drafter
    ref = case["reference"]
    await step(api, ref, "notes", "drafter2", {"text": "CENTRAL can see this"})
    await step(api, ref, "notes", "handler", {"text": "SERVICE cannot"}, expect=404)
    due = (date.today() + timedelta(days=5)).isoformat()
    await step(api, ref, "contributions", "drafter", {"team": "SERVICE", "request": "Call recordings?",
                                                      "due_date": due})
    case = await step(api, ref, "notes", "handler", {"text": "Recordings are on the share"})
    assert case["notes"][-1]["text"] == "Recordings are on the share"
    await step(api, ref, "allocate", "coordinator", {"team": "BILLING", "assignee": "drafter"})
    body = await step(api, ref, "notes", "drafter2", {"text": "no longer mine"}, expect=404)
    assert ref in body["detail"]


async def test_generating_a_draft_for_a_case_you_may_not_see_renders_and_stores_nothing(api, sessionmaker):
    from sqlalchemy import func, select

    from casework.platform.db import DocumentBlob

    case = await walk_to_draft(api)
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "BILLING", "assignee": "drafter"})
    async with sessionmaker() as session:
        before = await session.scalar(select(func.count()).select_from(DocumentBlob))
    body = await step(api, ref, "draft-response", "drafter2", {}, expect=404)  # drafter2: CENTRAL only
    assert ref in body["detail"]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(DocumentBlob)) == before


@pytest.mark.parametrize("channel, how", [("telephone", "by telephone"), ("in_person", "in person")])
async def test_a_response_given_by_telephone_or_in_person_is_recorded_with_its_document(api, mailbox, channel, how):
    case = await walk_to_qa(api)
    ref = case["reference"]
    await step(api, ref, "qa/approve", "qa")
    tomorrow = (uk_today() + timedelta(days=1)).isoformat()
    refused = await api.post(f"/cases/{ref}/send", json={"channel": channel, "sent_on": tomorrow},
                             headers=auth("drafter"))
    assert refused.status_code == 422 and "sent_on" in refused.text
    before = len(mailbox.to(case["correspondents"][0]["email"]))
    case = await step(api, ref, "send", "drafter", {"channel": channel})
    assert (case["stage"], case["sent_channel"], case["deadline_met"]) == ("outcome", channel, True)
    assert len(mailbox.to(case["correspondents"][0]["email"])) == before  # nothing sent
    timeline = (await api.get(f"/cases/{ref}/timeline", headers=auth("drafter"))).json()
    [given] = [e for e in timeline if e["kind"] == "response_given"]
    assert given["summary"] == f"Response given {how}"
    draft = [d for d in case["documents"] if d["kind"] == "draft"][-1]
    assert given["data"]["response_document_id"] == draft["id"]
    closed = await step(api, ref, "outcome", "drafter", {"outcome": "upheld", "detail": "Explained on the call"})
    assert closed["stage"] == "closure"
