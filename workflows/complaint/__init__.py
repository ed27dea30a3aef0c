"""Complaint casework (F1) as a kind of case: its workflow and what the API starts it with."""

from workflows.complaint.workflow import ComplaintCaseWorkflow, initial_state

__all__ = ["ComplaintCaseWorkflow", "initial_state"]
