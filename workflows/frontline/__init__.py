"""Frontline complaint handling (F4) as a kind of case: its workflow and what the API starts it with,
and the fortnightly service improvement review its schedule runs (SCHEDULED: run by the worker)."""

from workflows.frontline.review import ImprovementReviewWorkflow
from workflows.frontline.workflow import FrontlineWorkflow, initial_state

WORKFLOW = FrontlineWorkflow
SCHEDULED = [ImprovementReviewWorkflow]

__all__ = ["WORKFLOW", "SCHEDULED", "FrontlineWorkflow", "ImprovementReviewWorkflow", "initial_state"]
