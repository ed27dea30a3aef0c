"""How a step is refused: typed application errors the API maps to HTTP statuses (api/errors.py).

A validator raising one of these rejects an Update before anything reaches history."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

WRONG_STAGE = "WrongStage"  # 409, naming the stage
CONFLICT = "StepConflict"  # 409
INVALID = "InvalidStep"  # 422, naming the field
FORBIDDEN = "StepForbidden"  # 403
NOT_VISIBLE = "CaseNotVisible"  # 404: a case the user may not see does not exist for them

# casework.cases.stages.Rejection codes -> error types
REJECTION_TYPES = {"wrong_stage": WRONG_STAGE, "conflict": CONFLICT, "invalid": INVALID}


def conflict(message: str, stage: str) -> ApplicationError:
    return ApplicationError(message, {"stage": stage}, type=CONFLICT, non_retryable=True)


def invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, {"field": field}, type=INVALID, non_retryable=True)


def forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, {}, type=FORBIDDEN, non_retryable=True)


def not_visible(reference: str) -> ApplicationError:
    return ApplicationError(f"case {reference} not found", {}, type=NOT_VISIBLE, non_retryable=True)


def wrong_stage(message: str, stage: str) -> ApplicationError:
    return ApplicationError(message, {"stage": stage}, type=WRONG_STAGE, non_retryable=True)
