"""What operations see in the Temporal UI: cases findable by search attributes, stage in words."""

from __future__ import annotations

import asyncio

from tests.casefixtures import register, step


async def _find(temporal, query: str) -> list[str]:
    # Visibility is eventually consistent; poll briefly.
    for _ in range(50):
        found = [w.id async for w in temporal.list_workflows(query)]
        if found:
            return found
        await asyncio.sleep(0.2)
    return []


async def test_case_is_findable_by_search_attributes_with_current_stage(api, temporal):
    case = await register(api)
    ref = case["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "BILLING", "assignee": "drafter"})
    query = (f'CaseReference = "{ref}" AND CaseType = "COMP" AND CaseStage = "Acknowledge" '
             f'AND CaseTeam = "BILLING" AND CaseAssignee = "Dev Drafter" AND CaseStatus = "open"')
    assert await _find(temporal, query) == [ref]

    metadata = await temporal.get_workflow_handle(ref).query("__temporal_workflow_metadata")
    details = metadata.current_details
    assert ref in details and "Stage: **Acknowledge**" in details and "BILLING" in details

    description = await temporal.get_workflow_handle(ref).describe()
    assert await description.static_summary() == f"{ref} Complaint"
