"""What operations see in the Temporal UI: cases findable by search attributes, stage in words."""

from __future__ import annotations

from tests.casefixtures import register, step, workflow_ids_matching


async def test_case_is_findable_by_search_attributes_with_current_stage(api, temporal):
    case = await register(api)
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "BILLING", "assignee": "drafter"})
    query = (f'CaseReference = "{ref}" AND CaseType = "COMP" AND CaseStage = "Acknowledge" '
             f'AND CaseTeam = "BILLING" AND CaseAssignee = "Dev Drafter" AND CaseStatus = "open"')
    assert await workflow_ids_matching(temporal, query) == [ref]

    metadata = await temporal.get_workflow_handle(ref).query("__temporal_workflow_metadata")
    details = metadata.current_details
    assert ref in details and "Stage: **Acknowledge**" in details and "BILLING" in details

    description = await temporal.get_workflow_handle(ref).describe()
    assert await description.static_summary() == f"{ref} Complaint"
