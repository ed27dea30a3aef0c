"""Workflow definitions: the process of a case and nothing else (no I/O).

`workflows/engine/` is what every kind of case shares; each kind of case is a package here named as
in the kinds registry (`casework.kinds.KINDS`), exporting its `WORKFLOW`.
"""

import importlib

from casework.kinds import KINDS
from workflows.calendar import CalendarChangeWorkflow
from workflows.complaint import ComplaintCaseWorkflow
from workflows.digest import DigestWorkflow

KIND_WORKFLOWS = {kind: importlib.import_module(f"workflows.{kind}").WORKFLOW for kind in KINDS}
WORKFLOWS = [*KIND_WORKFLOWS.values(), DigestWorkflow, CalendarChangeWorkflow]

__all__ = ["CalendarChangeWorkflow", "ComplaintCaseWorkflow", "DigestWorkflow", "KIND_WORKFLOWS", "WORKFLOWS"]
