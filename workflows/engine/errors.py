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


# An activity's data PostgreSQL refused for good (a value too long for its column, a NUL, a
# constraint violated): raised non-retryable by activities/refusals.py, so the step fails with a
# 422 naming the field (details["field"], when known) instead of being retried for ever.
DATA_REFUSED = "DataRefused"


def refusal(err: BaseException) -> ApplicationError:
    """An activity's failure (an ActivityError, or a local activity's ApplicationError as itself)
    as the step's answer: a DATA_REFUSED cause becomes an InvalidStep
    naming its field (422); anything else a StepConflict (409)."""
    cause = err if isinstance(err, ApplicationError) else getattr(err, "cause", None)
    if isinstance(cause, ApplicationError) and cause.type == DATA_REFUSED:
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        return invalid(str(details.get("field", "body")), cause.message)
    return ApplicationError(f"the case could not be registered: {err}", {"stage": None},
                            type=CONFLICT, non_retryable=True)
