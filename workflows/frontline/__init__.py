"""Frontline complaint handling (F4) as a kind of case: its workflow and what the API starts it with."""

from workflows.frontline.workflow import FrontlineWorkflow, initial_state

WORKFLOW = FrontlineWorkflow

__all__ = ["WORKFLOW", "FrontlineWorkflow", "initial_state"]
