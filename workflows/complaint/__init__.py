"""Complaint casework (F1) as a kind of case: its workflow and what the API starts it with."""

from workflows.complaint.workflow import ComplaintCaseWorkflow, initial_state

WORKFLOW = ComplaintCaseWorkflow

__all__ = ["WORKFLOW", "ComplaintCaseWorkflow", "initial_state"]
