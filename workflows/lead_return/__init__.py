"""Lead returns (F5) as a kind of case: its workflow."""

from workflows.lead_return.workflow import LeadReturnWorkflow

WORKFLOW = LeadReturnWorkflow

__all__ = ["WORKFLOW", "LeadReturnWorkflow"]
