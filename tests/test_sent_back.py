"""Out of turn, as casework teams work: a case referred to a workflow manager, who sends it back to
triage or on to drafting, or closes it; a case returned to triage (wrong team, QA: not ours) waits
in the returned cases queue until a coordinator re-triages it."""

from __future__ import annotations

import os

from tests.casefixtures import auth, complaint, step, upload_draft, walk_to_draft, walk_to_qa
from tests.test_case_types import new_type
from tests.test_replay import HISTORIES, replayer


async def queue(api, **flag) -> set[str]:
    answer = await api.get("/cases", params={**flag, "limit": 500}, headers=auth("coordinator"))
    assert answer.status_code == 200, answer.text
    return {c["reference"] for c in answer.json()}


async def test_referred_to_a_manager_then_back_to_triage_then_retriaged_to_drafting(api, temporal):
    ref = (await walk_to_draft(api))["reference"]
    case = await step(api, ref, "refer-to-manager", "drafter", {"reason": "Possible legal claim"})
    assert (case["stage"], case["stage_label"]) == ("manager", "Workflow manager")
    assert case["details"]["referred"] and case["details"]["referred_from"]["from_stage"] == "clarification"
    assert ref in await queue(api, referred="true")
    again = await api.post(f"/cases/{ref}/refer-to-manager", json={"reason": "x"}, headers=auth("drafter"))
    assert again.status_code == 409 and "Workflow manager" in again.text
    refused = await api.post(f"/cases/{ref}/manager/send-to-drafting", json={"reason": "x"}, headers=auth("drafter"))
    assert refused.status_code == 403 and "complaint.send_to_drafting" in refused.text

    case = await step(api, ref, "return-to-triage", "manager", {"reason": "Billing team's case"})
    assert case["stage"] == "triage" and not case["details"]["referred"]
    assert case["details"]["returned_from"]["reason"] == "Billing team's case"
    assert ref in await queue(api, returned="true") and ref not in await queue(api, referred="true")

    case = await step(api, ref, "allocate", "coordinator", {"team": "BILLING", "assignee": "drafter"})
    assert (case["stage"], case["team"], case["details"]["returned"]) == ("draft", "BILLING", False)
    assert ref not in await queue(api, returned="true")
    timeline = (await api.get(f"/cases/{ref}/timeline", headers=auth("coordinator"))).json()
    kinds = [e["kind"] for e in reversed(timeline)]
    assert [k for k in kinds if k in {"referred_to_manager", "returned_to_triage", "retriaged"}] == [
        "referred_to_manager", "returned_to_triage", "retriaged"]
    await record(temporal, ref, "sent-back-manager-triage-retriaged")


async def test_qa_returns_to_triage_and_a_manager_sends_a_referral_on_or_closes_it(api, temporal):
    ref = (await walk_to_qa(api))["reference"]
    case = await step(api, ref, "return-to-triage", "qa", {"reason": "Not ours: a planning matter"})
    assert case["stage"] == "triage" and case["details"]["returned_from"]["from_stage"] == "qa"
    closed = await step(api, ref, "close", "coordinator", {"reason": "withdrawn", "note": "Passed to planning; confirmed"})
    assert closed["status"] == "closed" and ref not in await queue(api, returned="true")

    ref = (await walk_to_draft(api))["reference"]
    await step(api, ref, "refer-to-manager", "drafter", {"reason": "Needs a decision on redress"})
    case = await step(api, ref, "manager/send-to-drafting", "manager", {"reason": "Offer £50"})
    assert case["stage"] == "draft" and not case["details"]["referred"]
    await upload_draft(api, ref)
    case = await step(api, ref, "submit-draft", "drafter")
    assert case["stage"] == "qa"
    await record(temporal, ref, "sent-back-manager-to-drafting")

    ref = (await walk_to_draft(api))["reference"]
    await step(api, ref, "refer-to-manager", "drafter", {"reason": "Vexatious"})
    closed = await step(api, ref, "close", "manager", {"reason": "withdrawn", "note": "Closed by the manager"})
    assert closed["status"] == "closed"
    refused = await api.post(f"/cases/{ref}/return-to-triage", json={"reason": ""}, headers=auth("qa"))
    assert refused.status_code in (409, 422)


async def test_a_reason_is_required_and_triage_cannot_return_to_itself(api):
    ref = (await walk_to_draft(api))["reference"]
    blank = await api.post(f"/cases/{ref}/return-to-triage", json={"reason": "  "}, headers=auth("drafter"))
    assert blank.status_code == 422 and "reason" in blank.text
    await step(api, ref, "return-to-triage", "drafter", {"reason": "Wrong team"})
    twice = await api.post(f"/cases/{ref}/return-to-triage", json={"reason": "again"}, headers=auth("coordinator"))
    assert twice.status_code == 409 and "Allocation" in twice.text


async def record(temporal, reference: str, name: str) -> None:
    history = await temporal.get_workflow_handle(reference).fetch_history()
    await replayer().replay_workflow(history)
    path = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") and not path.exists():
        path.write_text(history.to_json())


async def test_a_type_whose_plan_has_no_manager_stage_refuses_a_referral_naming_it(api):
    body = new_type(stages=[{"key": "triage", "kind": "triage", "label": "Allocation"},
                            {"key": "draft", "kind": "draft", "label": "Draft"},
                            {"key": "send", "kind": "send", "label": "Send"},
                            {"key": "closure", "kind": "closure", "label": "Close"}])
    assert (await api.post("/admin/case-types", json=body, headers=auth("admin"))).status_code == 201
    case = await api.post("/cases", json=complaint(case_type=body["code"]), headers=auth("handler"))
    ref = case.json()["reference"]
    refused = await api.post(f"/cases/{ref}/refer-to-manager", json={"reason": "x"}, headers=auth("coordinator"))
    assert refused.status_code == 409 and "no manager stage" in refused.text
