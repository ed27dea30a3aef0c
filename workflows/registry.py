"""The workflows a worker runs: each kind of case's, named as in the kinds registry
(`casework.kinds.KINDS`; the package `workflows/<kind>/` exports its `WORKFLOW`), and the calendar
and digest workflows. `workflows/engine/` is what every kind shares."""

import importlib

from casework.kinds import KINDS
from workflows.calendar import CalendarChangeWorkflow
from workflows.complaint import ComplaintCaseWorkflow
from workflows.digest import DigestWorkflow

KIND_WORKFLOWS = {kind: importlib.import_module(f"workflows.{kind}").WORKFLOW for kind in KINDS}
# Workflows a kind's schedules start besides its cases' (a kind's package may list them as SCHEDULED).
SCHEDULED_WORKFLOWS = [workflow for kind in KINDS
                       for workflow in getattr(importlib.import_module(f"workflows.{kind}"), "SCHEDULED", [])]
WORKFLOWS = [*KIND_WORKFLOWS.values(), *SCHEDULED_WORKFLOWS, DigestWorkflow, CalendarChangeWorkflow]

__all__ = ["CalendarChangeWorkflow", "ComplaintCaseWorkflow", "DigestWorkflow", "KIND_WORKFLOWS", "WORKFLOWS"]
