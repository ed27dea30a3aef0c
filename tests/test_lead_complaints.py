"""Lead complaints (F2) through the HTTP API on the real services: filing refused until an
administrator sets up the types; an agent files on a lead they may see (another partner's is 404);
comments; compliance takes and resolves with a resolution of the chosen type (another type's, or a
retired one, is 422); resolved complaints are read-only but for comments and a dispute; a dispute
is picked up and upheld; one nobody picks up escalates on its own timer (time-skipping); the lead's
activity history shows filing, dispute and resolution; the queue filters and exports."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
import zipfile
from datetime import date, datetime

from casework.calendar.deadlines import breach_instant, start_of_day
from casework.calendar.workdays import Region, add_working_days
from tests.casefixtures import auth, case_path, step
from tests.test_deadline_clocks import Clock, calendar, clock, record_history  # noqa: F401 (the fixture)

TYPES, RESOLUTION_TYPES, RESOLUTIONS = "lead_complaint_types", "lead_resolution_types", "lead_resolutions"


async def put_value(api, name: str, code: str, label: str, **extra) -> None:
    response = await api.put(f"/admin/lists/{name}/{code}", json={"label": label, **extra}, headers=auth("admin"))
    assert response.status_code in (200, 201), response.text


async def set_up_lists(api) -> None:
    await put_value(api, TYPES, "service_issue", "Service Issue")
    await put_value(api, TYPES, "incorrect_info", "Incorrect Information")
    await put_value(api, RESOLUTION_TYPES, "rejected", "Rejected")
    await put_value(api, RESOLUTION_TYPES, "upheld", "Upheld")
    await put_value(api, RESOLUTIONS, "incomplete_profile", "Incomplete Profile", parent="rejected")
    await put_value(api, RESOLUTIONS, "no_evidence", "No evidence", parent="rejected")
    await put_value(api, RESOLUTIONS, "apology", "Apology given", parent="upheld")


async def new_lead(api) -> str:
    """A lead of its own for each test (the demo leads' histories are other tests' to check)."""
    lead = f"L-F2-{uuid.uuid4().hex[:8]}"
    response = await api.put(f"/leads/{lead}", json={"name": "Lee Lead", "status": "new"}, headers=auth("integration"))
    assert response.status_code == 201, response.text
    return lead


async def file(api, lead: str, user: str = "agent", complaint_type: str = "service_issue",
               expect: int = 201, **headers) -> dict:
    response = await api.post("/lead-complaints", headers=auth(user, **headers), json={
        "lead": lead, "complaint_type": complaint_type,
        "description": f"The lead was called five times in one day ({uuid.uuid4().hex[:6]})."})
    assert response.status_code == expect, response.text
    return response.json()


async def activities(api, lead: str, user: str) -> list[dict]:
    response = await api.get(f"/leads/{lead}/activities", headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


async def test_filing_is_refused_until_an_administrator_sets_up_lead_complaint_types(api):
    listed = (await api.get(f"/admin/lists/{TYPES}", headers=auth("admin"))).json()
    active = [v for v in listed if v["active"]]
    for value in active:  # none offered, as in a fresh deployment
        await put_value(api, TYPES, value["code"], value["label"], active=False)
    try:
        refused = await file(api, await new_lead(api), expect=422)
        assert refused["detail"][0]["loc"][-1] == "complaint_type"
        assert "an administrator must add them" in refused["detail"][0]["msg"]
    finally:
        for value in active:
            await put_value(api, TYPES, value["code"], value["label"], active=True)


async def test_an_agent_files_compliance_takes_and_resolves_and_the_lead_history_shows_it(api):
    await set_up_lists(api)
    lead = await new_lead(api)
    filed = await file(api, lead, **{"Idempotency-Key": (key := uuid.uuid4().hex)})
    ref = filed["reference"]
    assert ref.startswith("LC/") and filed["stage_label"] == "Open" and filed["team"] == "COMPLIANCE"
    assert filed["details"]["status"] == "open" and filed["details"]["complaint_type_label"] == "Service Issue"
    again = await file(api, lead, **{"Idempotency-Key": key})  # a retried request files nothing new
    assert again["reference"] == ref

    # Follow-up comments from the agent and from compliance, on the timeline with who and when.
    commented = await step(api, ref, "notes", "agent", {"text": "The lead called back to add details."})
    note_id = commented["notes"][0]["id"]
    edited = (await api.patch(f"{case_path(ref)}/notes/{note_id}", json={"text": "The lead called back twice."},
                              headers=auth("agent"))).json()
    assert edited["notes"][0]["edited_by"] == "Alex Agent"
    others = await api.patch(f"{case_path(ref)}/notes/{note_id}", json={"text": "Not mine."}, headers=auth("compliance"))
    assert others.status_code == 403 and "only its author (Alex Agent)" in others.text
    await step(api, ref, "notes", "compliance", {"text": "Checking the dialler logs."})

    taken = await step(api, ref, "take", "compliance", {})
    assert taken["assignee_name"] == "Cass Compliance"
    assert (await api.get(case_path(ref), headers=auth("agent"))).status_code == 200  # the agent still follows it

    # The resolution must belong to the resolution type; a retired one is refused too.
    wrong = await step(api, ref, "resolve", "compliance", {"resolution_type": "upheld",
                                                           "resolution": "incomplete_profile"}, expect=422)
    assert wrong["detail"][0]["loc"][-1] == "resolution" and "does not belong to upheld" in wrong["detail"][0]["msg"]
    await put_value(api, RESOLUTIONS, "no_evidence", "No evidence", parent="rejected", active=False)
    retired = await step(api, ref, "resolve", "compliance", {"resolution_type": "rejected",
                                                             "resolution": "no_evidence"}, expect=422)
    assert "is retired" in retired["detail"][0]["msg"]
    await step(api, ref, "resolve", "agent", {"resolution_type": "rejected", "resolution": "incomplete_profile"},
               expect=403)

    resolved = await step(api, ref, "resolve", "compliance", {"resolution_type": "rejected",
                                                              "resolution": "incomplete_profile"})
    assert resolved["stage_label"] == "Resolved" and resolved["details"]["status"] == "resolved"
    assert resolved["details"]["resolution"]["resolution"]["label"] == "Incomplete Profile"
    got = (await api.get(case_path(ref), headers=auth("agent"))).json()
    assert got["details"]["status"] == "resolved" and got["details"]["resolution"]["resolution_type"]["code"] == "rejected"

    # Read-only now, but for comments (and a dispute).
    conflict = await step(api, ref, "resolve", "compliance", {"resolution_type": "rejected",
                                                              "resolution": "incomplete_profile"}, expect=409)
    assert conflict["detail"]["stage"] == "resolved" and "'Resolved'" in conflict["detail"]["message"]
    await step(api, ref, "take", "compliance", {}, expect=409)
    await step(api, ref, "notes", "agent", {"text": "Thanks for looking into it."})

    # The filing agent sees the outcome in the lead's activity history.
    history = [a for a in await activities(api, lead, "agent") if (a["case"] or {}).get("reference") == ref]
    kinds = [a["kind"] for a in history]
    assert "lead_complaint_filed" in kinds and "lead_complaint_resolved" in kinds
    resolution = next(a for a in history if a["kind"] == "lead_complaint_resolved")
    assert resolution["who"] == "Cass Compliance" and "Rejected — Incomplete Profile" in resolution["what"]


async def test_a_lead_one_may_not_see_is_not_found(api):
    await set_up_lists(api)
    missing = await file(api, "L-5002", user="partner-acme", expect=404)  # Cedar's lead, not Acme's
    assert "L-5002" in str(missing)
    await file(api, "L-NOWHERE", expect=404)
    await file(api, await new_lead(api), user="qa", expect=403)  # no permission to file


async def test_a_dispute_is_picked_up_by_a_manager_and_the_resolution_upheld(api):
    await set_up_lists(api)
    lead = await new_lead(api)
    ref = (await file(api, lead))["reference"]
    await step(api, ref, "resolve", "compliance", {"resolution_type": "rejected", "resolution": "incomplete_profile"})
    await step(api, ref, "dispute", "agent", {"reason": ""}, expect=422)
    disputed = await step(api, ref, "dispute", "agent", {"reason": "The lead has a complete profile."})
    assert disputed["stage_label"] == "Disputed" and disputed["details"]["status"] == "disputed"
    [task] = [t for t in disputed["tasks"] if t["status"] == "open"]
    assert task["team"] == "LEADMGMT"
    await step(api, ref, "dispute/uphold", "manager", {}, expect=409)  # not picked up yet
    await step(api, ref, "dispute/take", "compliance", {}, expect=403)
    await step(api, ref, "dispute/take", "manager", {})
    upheld = await step(api, ref, "dispute/uphold", "manager", {"note": "Profile was incomplete at the time."})
    assert upheld["stage_label"] == "Resolved" and upheld["details"]["status"] == "resolved"
    assert [r["how"] for r in upheld["details"]["resolution_history"]] == ["resolved", "upheld"]
    assert [t["status"] for t in upheld["tasks"]] == ["done"]
    kinds = [a["kind"] for a in await activities(api, lead, "agent") if (a["case"] or {}).get("reference") == ref]
    assert {"lead_complaint_disputed", "lead_complaint_upheld", "lead_complaint_resolved"} <= set(kinds)


async def test_a_manager_changes_the_resolution_or_sends_the_dispute_back(api):
    await set_up_lists(api)
    ref = (await file(api, await new_lead(api)))["reference"]
    await step(api, ref, "dispute", "compliance", {"reason": "Needs a manager's call before resolving."})
    await step(api, ref, "dispute/take", "manager", {})
    back = await step(api, ref, "dispute/send-back", "manager", {"reason": "Check the call recordings first."})
    assert back["stage_label"] == "Open" and back["details"]["status"] == "open"
    await step(api, ref, "dispute", "compliance", {"reason": "Recordings are inconclusive."})
    await step(api, ref, "dispute/take", "manager", {})
    await step(api, ref, "dispute/uphold", "manager", {}, expect=409)  # nothing to uphold yet
    await step(api, ref, "dispute/change", "manager", {"resolution_type": "rejected", "resolution": "apology"},
               expect=422)
    changed = await step(api, ref, "dispute/change", "manager", {"resolution_type": "upheld", "resolution": "apology"})
    assert changed["details"]["resolution"]["resolution"]["code"] == "apology"
    assert changed["details"]["status"] == "resolved"


async def test_the_queue_filters_sorts_pages_and_exports(api):
    await set_up_lists(api)
    lead = await new_lead(api)
    first = (await file(api, lead, complaint_type="incorrect_info"))["reference"]
    second = (await file(api, lead, complaint_type="incorrect_info"))["reference"]
    other = (await file(api, lead, complaint_type="service_issue"))["reference"]
    await step(api, second, "resolve", "compliance", {"resolution_type": "upheld", "resolution": "apology"})

    async def queue(user="compliance", **params) -> list[str]:
        response = await api.get("/lead-complaints", params={"lead": lead, **params}, headers=auth(user))
        assert response.status_code == 200, response.text
        return [row["reference"] for row in response.json()]

    open_refs = await queue(complaint_type="incorrect_info")
    assert first in open_refs and second not in open_refs and other not in open_refs
    assert second in await queue(status="resolved")
    assert first in await queue(agent="agent") and first not in await queue(agent="compliance")
    assert first in await queue(older_than_days=0) and first not in await queue(older_than_days=1)  # filed today
    assert first not in await queue(overdue="true") and first in await queue(overdue="false")
    assert (await queue(sort="reference", limit=1))[0] <= sorted(await queue(sort="reference"))[0]
    assert (await api.get("/lead-complaints", params={"status": "closedish"}, headers=auth("compliance"))).status_code == 422

    # Team statistics (and digests) count open lead complaints by status (the stage) and type.
    stats = (await api.get("/statistics/teams", params={"case_type": "LEADCOMP", "team": "COMPLIANCE"},
                           headers=auth("compliance"))).json()
    [team] = stats["teams"]
    assert {s["label"] for s in team["by_stage"]} >= {"Open"}
    assert {c["category"] for c in team["by_category"]} >= {"Incorrect Information", "Service Issue"}

    csv = await api.get("/lead-complaints.csv", params={"lead": lead, "complaint_type": "incorrect_info"},
                        headers=auth("compliance"))
    assert csv.status_code == 200 and first in csv.text and "Incorrect Information" in csv.text and other not in csv.text
    xlsx = await api.get("/lead-complaints.xlsx", params={"lead": lead}, headers=auth("compliance"))
    assert xlsx.status_code == 200
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as workbook:
        assert first in workbook.read("xl/worksheets/sheet1.xml").decode()


async def found_in_temporal(temporal, query: str, expected: list[str]) -> list[str]:
    """The workflow ids Temporal's visibility lists for `query`, once they are `expected` (the dev
    server indexes an upsert a moment after it), or what it lists when the deadline passes."""
    deadline = time.monotonic() + 30
    while True:
        ids = sorted([w.id async for w in temporal.list_workflows(query)])
        if ids == expected or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.25)


async def test_a_complaint_is_found_in_temporal_by_reference_lead_type_status_and_owner(api, temporal):
    await set_up_lists(api)
    kind = f"found_{uuid.uuid4().hex[:8]}"
    await put_value(api, TYPES, kind, "Found by type")
    lead = await new_lead(api)
    ref = (await file(api, lead, complaint_type=kind))["reference"]
    other = (await file(api, await new_lead(api), complaint_type=kind))["reference"]
    assert await found_in_temporal(temporal, f'CaseParties = "lead:{lead}"', [ref]) == [ref]
    assert await found_in_temporal(temporal, f'CaseCategory = "{kind}"', sorted([ref, other])) == sorted([ref, other])
    # The owner and the status as the steps change them (the engine upserts what changed).
    await step(api, ref, "take", "compliance", {})
    await step(api, ref, "dispute", "compliance", {"reason": "A manager should decide this one."})
    query = (f'CaseReference = "{ref}" AND CaseParties = "lead:{lead}" AND CaseCategory = "{kind}" '
             'AND CaseStage = "Disputed" AND CaseAssignee = "Cass Compliance" AND CaseKind = "lead_complaint"')
    assert await found_in_temporal(temporal, query, [ref]) == [ref]


async def test_a_dispute_nobody_picks_up_escalates_on_its_own_timer(clock: Clock):  # noqa: F811
    api = clock.api
    await set_up_lists(api)
    ref = (await file(api, await new_lead(api)))["reference"]
    disputed = await step(api, ref, "dispute", "agent", {"reason": "Nobody has looked at this."})
    [first] = disputed["tasks"]
    assert first["team"] == "LEADMGMT"
    await clock.skip_to(breach_instant(datetime.fromisoformat(first["due_at"]).date(), Region.ENGLAND_AND_WALES))
    escalated = await clock.event(ref, "lead_complaint_dispute_escalated")
    assert "escalated to team EXEC" in escalated["summary"]
    case = await clock.case_when(ref, lambda c: any(t["team"] == "EXEC" for t in c["tasks"]), "escalated to EXEC")
    assert {(t["team"], t["status"]) for t in case["tasks"]} == {("LEADMGMT", "cancelled"), ("EXEC", "open")}
    assert case["details"]["dispute_with"] == "EXEC"
    await step(api, ref, "dispute/take", "manager", {})
    changed = await step(api, ref, "dispute/change", "manager",
                         {"resolution_type": "upheld", "resolution": "apology", "reason": "Escalated: upheld."})
    assert changed["details"]["status"] == "resolved"
    await record_history(clock, ref, "lead-complaint-dispute-escalated")


async def compliance_counts(api) -> tuple[int, int]:
    """The COMPLIANCE team's lead complaints in warning and overdue, by team statistics."""
    response = await api.get("/statistics/teams", params={"case_type": "LEADCOMP", "team": "COMPLIANCE"},
                             headers=auth("compliance"))
    assert response.status_code == 200, response.text
    [team] = response.json()["teams"]
    return team["warning"], team["overdue"]


async def test_a_complaint_types_target_sets_its_deadline_with_warning_and_overdue(clock: Clock):  # noqa: F811
    api = clock.api
    await set_up_lists(api)
    kind = f"quick_{uuid.uuid4().hex[:8]}"
    await put_value(api, TYPES, kind, "Quick Fix", target_working_days=3)
    listed = {v["code"]: v for v in (await api.get(f"/lists/{TYPES}", headers=auth("agent"))).json()}
    assert listed[kind]["target_working_days"] == 3
    no_target = await api.put(f"/admin/lists/{RESOLUTION_TYPES}/rejected", headers=auth("admin"),
                              json={"label": "Rejected", "target_working_days": 3})
    assert no_target.status_code == 422 and no_target.json()["detail"][0]["loc"][-1] == "target_working_days"

    lead = await new_lead(api)
    quick = await file(api, lead, complaint_type=kind)
    usual = await file(api, lead)  # a type without a target: the case type's 10 working days
    received, cal = date.fromisoformat(quick["date_received"]), calendar()
    assert quick["deadline"] == add_working_days(received, 3, cal).isoformat()
    assert quick["deadline_policy"] == "Quick Fix lead complaints (3 working days)"
    assert quick["deadline_warning_on"] == add_working_days(received, 1, cal).isoformat()  # 2 days before
    assert usual["deadline"] == add_working_days(received, 10, cal).isoformat()
    ref = quick["reference"]

    async def queue(**params) -> list[str]:
        response = await api.get("/lead-complaints", params={"lead": lead, **params}, headers=auth("compliance"))
        assert response.status_code == 200, response.text
        return [row["reference"] for row in response.json()]

    warning, overdue = await compliance_counts(api)
    await clock.skip_to(start_of_day(date.fromisoformat(quick["deadline_warning_on"]), Region.ENGLAND_AND_WALES))
    await clock.event(ref, "deadline_warning")
    await clock.case_when(ref, lambda c: c["deadline_warned"], "warned")
    assert await queue(warning="true") == [ref] and ref in await queue(overdue="false")
    assert await compliance_counts(api) == (warning + 1, overdue)

    await clock.skip_to(breach_instant(date.fromisoformat(quick["deadline"]), Region.ENGLAND_AND_WALES))
    await clock.event(ref, "deadline_breached")
    await clock.case_when(ref, lambda c: c["overdue"], "overdue")
    assert await queue(overdue="true") == [ref] and await queue(warning="true") == []
    assert await compliance_counts(api) == (warning, overdue + 1)
    rows = (await api.get("/lead-complaints", params={"lead": lead}, headers=auth("compliance"))).json()
    assert {(r["reference"], r["warning"], r["overdue"]) for r in rows} == {
        (ref, False, True), (usual["reference"], False, False)}


async def test_a_dispute_reopening_a_resolved_complaint_restarts_its_clock(clock: Clock):  # noqa: F811
    """Resolved, the clock stops (deadline met); disputed, the complaint is no longer resolved and its
    target runs again from that day: warned and overdue as before if the dispute drags on; upheld,
    the clock stops again, this time late. A dispute of an open complaint leaves its clock running."""
    api = clock.api
    await set_up_lists(api)
    kind = f"restart_{uuid.uuid4().hex[:8]}"
    await put_value(api, TYPES, kind, "Restarts", target_working_days=3)
    lead = await new_lead(api)
    filed = await file(api, lead, complaint_type=kind)
    ref, cal = filed["reference"], calendar()
    resolved = await step(api, ref, "resolve", "compliance", {"resolution_type": "rejected",
                                                              "resolution": "incomplete_profile"})
    assert resolved["deadline_met"] is True and resolved["deadline"] == filed["deadline"]

    # Once the first deadline has passed, the agent disputes it: a new target from that day.
    await clock.skip_to(breach_instant(date.fromisoformat(filed["deadline"]), Region.ENGLAND_AND_WALES))
    reopened_on = await clock.today()
    disputed = await step(api, ref, "dispute", "agent", {"reason": "The profile was complete."})
    due = add_working_days(reopened_on, 3, cal)
    assert disputed["deadline"] == due.isoformat() and disputed["deadline_met"] is None
    assert disputed["deadline_warning_on"] == add_working_days(reopened_on, 1, cal).isoformat()
    assert disputed["deadline_explanation"].startswith(f"Due {due:%a} ") and "reopened" in disputed["deadline_explanation"]
    restarted = await clock.event(ref, "clock_restarted")
    assert restarted["data"]["previous_deadline"] == filed["deadline"] and "Disputed once resolved" in restarted["reason"]

    # Nobody resolves it again in time: overdue on the queue.
    await clock.skip_to(breach_instant(due, Region.ENGLAND_AND_WALES))
    await clock.event(ref, "deadline_breached")
    await clock.case_when(ref, lambda c: c["overdue"], "overdue")
    overdue = await api.get("/lead-complaints", params={"lead": lead, "overdue": "true"}, headers=auth("compliance"))
    assert [row["reference"] for row in overdue.json()] == [ref]

    await step(api, ref, "dispute/take", "manager", {})
    upheld = await step(api, ref, "dispute/uphold", "manager", {"note": "The profile was incomplete."})
    assert upheld["details"]["status"] == "resolved" and upheld["deadline_met"] is False and not upheld["overdue"]
    assert [e["kind"] for e in await clock.timeline(ref)].count("clock_stopped") == 2
    await record_history(clock, ref, "lead-complaint-clock-restarted")

    # Disputed while still open: the clock was never stopped, so it runs on to its first deadline.
    other = await file(api, lead, complaint_type=kind)
    still = await step(api, other["reference"], "dispute", "compliance", {"reason": "A manager should decide."})
    assert still["deadline"] == other["deadline"]
    assert "clock_restarted" not in [e["kind"] for e in await clock.timeline(other["reference"])]


async def test_digests_and_team_statistics_count_lead_complaints_by_status_and_type(api):
    await set_up_lists(api)
    kind, label = f"digest_{uuid.uuid4().hex[:8]}", f"Digest type {uuid.uuid4().hex[:6]}"
    await put_value(api, TYPES, kind, label)
    lead = await new_lead(api)
    for _ in range(2):
        await file(api, lead, complaint_type=kind)
    disputed = (await file(api, lead, complaint_type=kind))["reference"]
    await step(api, disputed, "dispute", "agent", {"reason": "Needs a manager."})

    stats = (await api.get("/statistics/teams", params={"case_type": "LEADCOMP", "team": "COMPLIANCE"},
                           headers=auth("compliance"))).json()
    [team] = stats["teams"]
    assert {c["category"]: c["open"] for c in team["by_category"]}[label] == 3
    by_status = {s["label"]: s["open"] for s in team["by_stage"]}
    assert by_status["Disputed"] >= 1 and by_status["Open"] >= 2

    subscribed = await api.post("/digests", headers=auth("compliance"), json={
        "team": "COMPLIANCE", "recipient": "me", "case_type": "LEADCOMP",
        "schedule": {"frequency": "weekdays", "time": "03:00", "time_zone": "Europe/London"}})
    assert subscribed.status_code == 201, subscribed.text
    preview = await api.get(f"/digests/{subscribed.json()['id']}/preview", headers=auth("compliance"))
    assert preview.status_code == 200, preview.text
    text = preview.json()["text"]
    assert f"Open cases: {team['open']}" in text and f"Overdue: {team['overdue']}" in text
    assert f"In warning (past the warning day, not yet overdue): {team['warning']}" in text
    for status_, count in by_status.items():  # by status (the stage)
        assert f"{status_}: {count}" in text, status_
    assert f"{label}: 3" in text and "BY CATEGORY OR TYPE" in text  # by type
    assert disputed in text or preview.json()["case_count"] > 50  # the case list (its first 50)
    await api.delete(f"/digests/{subscribed.json()['id']}", headers=auth("compliance"))
