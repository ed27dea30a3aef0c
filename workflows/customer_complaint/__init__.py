"""Customer complaints (F3) as a kind of case: its workflow."""

from workflows.customer_complaint.workflow import CustomerComplaintWorkflow

WORKFLOW = CustomerComplaintWorkflow

__all__ = ["WORKFLOW", "CustomerComplaintWorkflow"]
