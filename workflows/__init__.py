"""Workflow definitions: the process of a case and nothing else (no I/O)."""

from workflows.complaint import ComplaintCaseWorkflow
from workflows.digest import DigestWorkflow

WORKFLOWS = [ComplaintCaseWorkflow, DigestWorkflow]

__all__ = ["ComplaintCaseWorkflow", "DigestWorkflow", "WORKFLOWS"]
