"""Workflow definitions: the process of a case and nothing else (no I/O)."""

from workflows.calendar import CalendarChangeWorkflow
from workflows.complaint import ComplaintCaseWorkflow

WORKFLOWS = [ComplaintCaseWorkflow, CalendarChangeWorkflow]

__all__ = ["CalendarChangeWorkflow", "ComplaintCaseWorkflow", "WORKFLOWS"]
