from workflows.lead_complaint.workflow import LeadComplaintWorkflow, initial_state

WORKFLOW = LeadComplaintWorkflow

__all__ = ["WORKFLOW", "LeadComplaintWorkflow", "initial_state"]
