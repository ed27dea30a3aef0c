"""Workflow definitions: the process of a case and nothing else (no I/O)."""

from workflows.complaint import ComplaintCaseWorkflow

WORKFLOWS = [ComplaintCaseWorkflow]

__all__ = ["ComplaintCaseWorkflow", "WORKFLOWS"]
