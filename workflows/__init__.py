"""Workflow definitions: the process of a case and nothing else (no I/O)."""

from workflows.calendar import CalendarChangeWorkflow
from workflows.complaint import ComplaintCaseWorkflow
from workflows.digest import DigestWorkflow

WORKFLOWS = [ComplaintCaseWorkflow, DigestWorkflow, CalendarChangeWorkflow]

__all__ = ["CalendarChangeWorkflow", "ComplaintCaseWorkflow", "DigestWorkflow", "WORKFLOWS"]
