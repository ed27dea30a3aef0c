"""What operations see in the Temporal UI: cases findable by search attributes, stage in words."""

from __future__ import annotations

import json
from datetime import date, timedelta

from tests.casefixtures import auth, case_path, register, step, workflow_ids_matching


async def test_case_is_findable_by_search_attributes_with_current_stage(api, temporal):
    case = await register(api)
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "BILLING", "assignee": "drafter"})
    query = (f'CaseReference = "{ref}" AND CaseKind = "complaint" AND CaseType = "COMP" '
             f'AND CaseStage = "Acknowledge" AND CaseTeam = "BILLING" AND CaseAssignee = "Dev Drafter" '
             f'AND CaseStatus = "open"')
    assert await workflow_ids_matching(temporal, query) == [ref]

    metadata = await temporal.get_workflow_handle(ref).query("__temporal_workflow_metadata")
    details = metadata.current_details
    assert ref in details and "Stage: **Acknowledge**" in details and "BILLING" in details

    description = await temporal.get_workflow_handle(ref).describe()
    assert await description.static_summary() == f"{ref} Complaint"


async def test_a_registered_case_is_findable_by_its_deadline_from_its_start(api, temporal):
    """The API works out a new case's first deadlines before it starts the workflow (with the
    calculation the deadline activity runs, casework.calendar.schedules), so the case starts with its
    deadline among its search attributes: registration runs no deadline activity and upserts
    nothing, and the timeline still says when the response is due."""
    case = await register(api)
    ref = case["reference"]
    deadline = date.fromisoformat(case["deadline"])
    assert await workflow_ids_matching(
        temporal, f'CaseReference = "{ref}" AND CaseOverdue = false AND CaseDeadline >= "{deadline}T00:00:00Z" '
                  f'AND CaseDeadline < "{deadline + timedelta(days=1)}T00:00:00Z"') == [ref]

    history = await temporal.get_workflow_handle(ref).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert {"CaseDeadline", "CaseOverdue"} <= set(started.search_attributes.indexed_fields)
    first_task = []
    for event in history.events[1:]:
        if event.HasField("workflow_execution_update_completed_event_attributes"):
            break
        first_task.append(event)
    assert not [e for e in first_task if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    activities = [json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)["activity_type"]
                  for e in first_task if e.marker_recorded_event_attributes.marker_name == "core_local_activity"]
    assert activities == ["project_case"]
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("manager"))).json()
    assert any(e["kind"] == "deadline_set" and e["data"]["deadline"] == deadline.isoformat() for e in timeline)
