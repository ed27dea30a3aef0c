"""Issue 18: every date a person types is bounded at the edge. Far-future and far-past dates get a
422 naming the field (from the API's schema, and from the workflow's validators for a client that
goes straight to Temporal), and the case walks on; a reply-by date at the horizon works end to end."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from casework.calendar.bounds import MAX_HORIZON_DAYS
from casework.cases.contracts import Actor, Channel
from casework.kinds.complaint.contracts import ClarificationRequestInput
from tests.casefixtures import auth, case_path, complaint, register, step, upload_draft, walk_to_draft
from workflows.complaint import ComplaintCaseWorkflow

FAR_FUTURE, FAR_PAST = "9999-12-31", "0001-01-01"


def refused_field(response) -> str:
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]["loc"][-1]


async def post(api, ref: str, action: str, user: str, body: dict):
    return await api.post(f"{case_path(ref)}/{action}", json=body, headers=auth(user))


async def test_date_received_is_bounded(api):
    for bad in (FAR_FUTURE, FAR_PAST, "1999-12-31", (date.today() + timedelta(days=2)).isoformat()):
        response = await api.post("/cases", json=complaint(
            date_received=bad), headers=auth("handler"))
        assert refused_field(response) == "date_received", bad
    case = await register(api, date_received="2000-01-01")
    assert case["date_received"] == "2000-01-01"


async def test_far_dates_on_every_step_are_refused_and_the_case_walks_on(api):
    case = await walk_to_draft(api)
    ref = case["reference"]
    today = date.today()
    beyond = (today + timedelta(days=367)).isoformat()
    for bad in (FAR_FUTURE, FAR_PAST, beyond):
        assert refused_field(await post(api, ref, "clarifications", "drafter",
                                        {"channel": "email", "questions": "Which account?",
                                         "reply_by": bad})) == "reply_by"
        assert refused_field(await post(api, ref, "contributions", "drafter",
                                        {"team": "SERVICE", "request": "Recordings?", "due_date": bad,
                                         "channel": None})) == "due_date"
        assert refused_field(await post(api, ref, "holding-response", "drafter",
                                        {"channel": "email", "reason": "Still looking",
                                         "new_due_date": bad})) == "new_due_date"

    # A reply-by date at the horizon works end to end: the clock stops until then, the reply restarts it.
    horizon = (today + timedelta(days=366)).isoformat()
    case = await step(api, ref, "clarifications", "drafter",
                      {"channel": "email", "questions": "Which account?", "reply_by": horizon})
    clarification = case["clarifications"][0]
    assert clarification["reply_by"] == horizon
    for bad in (FAR_FUTURE, FAR_PAST):
        assert refused_field(await post(api, ref, f"clarifications/{clarification['id']}/reply", "drafter",
                                        {"reply": "12345", "received_on": bad})) == "received_on"
    case = await step(api, ref, f"clarifications/{clarification['id']}/reply", "drafter", {"reply": "12345"})
    assert case["clarifications"][0]["reply"] == "12345"
    case = await step(api, ref, "holding-response", "drafter",
                      {"channel": "email", "reason": "Still looking", "new_due_date": horizon})

    for days in (0, 10**6):
        assert refused_field(await post(api, ref, "extend", "coordinator",
                                        {"from": "deadline", "working_days": days, "reason": "x"})) == "working_days"

    await upload_draft(api, ref)
    await step(api, ref, "submit-draft", "drafter")
    await step(api, ref, "qa/approve", "qa")
    received = date.fromisoformat(case["date_received"])
    for bad in (FAR_FUTURE, FAR_PAST, (received - timedelta(days=1)).isoformat(),
                (today + timedelta(days=2)).isoformat()):
        # The last two pass the schema's bounds; the workflow knows the case's date received.
        assert refused_field(await post(api, ref, "send", "drafter",
                                        {"channel": "email", "sent_on": bad})) == "sent_on", bad
    case = await step(api, ref, "send", "drafter", {"channel": "email"})
    assert case["stage"] == "outcome" and case["deadline_met"] is True


async def test_the_workflow_refuses_far_dates_from_a_client_that_skips_the_api(api, temporal):
    """The Update validators bound dates themselves: a refusal, never a workflow task failing."""
    case = await walk_to_draft(api)
    ref = case["reference"]
    handle = temporal.get_workflow_handle(ref)
    state = await handle.query(ComplaintCaseWorkflow.current_state)
    drafter = Actor(user_id=state.assignee_id, username="drafter", display_name="Drafter", roles=["drafter"])
    for reply_by in (date(9999, 12, 31), date.today() + timedelta(days=MAX_HORIZON_DAYS + 1)):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                ComplaintCaseWorkflow.request_clarification,
                ClarificationRequestInput(actor=drafter, channel=Channel.EMAIL, questions="?", reply_by=reply_by))
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "InvalidStep"
        assert refused.value.cause.details[0]["field"] == "reply_by"
    # The case walks on: the next step through the API is answered, not a 503.
    case = await step(api, ref, "clarifications", "drafter",
                      {"channel": "email", "questions": "Which account?",
                       "reply_by": (date.today() + timedelta(days=5)).isoformat()})
    assert len(case["clarifications"]) == 1


async def test_closures_stay_inside_the_calendars_range(api):
    for bad in (FAR_FUTURE, FAR_PAST, "1989-12-31", "2101-01-01"):
        response = await api.post("/admin/calendars/england-and-wales/closures",
                                   json={"date": bad, "reason": "Fuzzed"}, headers=auth("admin"))
        assert refused_field(response) == "date", bad
