"""Complaint casework's stage kinds, actions and who may take them (being moved here from
casework.cases.stages, which keeps the kind-independent plan and routing)."""

from casework.cases.stages import (  # noqa: F401
    ACTION_ROLES, ANY_OPEN_STAGE, EARLY_CLOSE_ROLES, ESCALATE_ROLES, REGISTER_ROLES, STAGE_ACTIONS,
    STANDARD_COMPLAINT_PLAN, Action, Role, StageKind, allowed_actions, blocked_stages, role_allows,
    route_action,
)
