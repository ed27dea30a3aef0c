"""Customer complaints' (F3) stage kinds, actions, roles and where each action leads: pure data.

The ERP complaint document: Registered (assign the business unit and employee in charge, plan the
actions), Planned (review results, decide the claim, fulfil), Fulfilled (post the sales
adjustment), closed. "Not fulfilled" is the engine's early close with a reason.
"""

from __future__ import annotations

from enum import StrEnum

from casework.cases.roles import Role
from casework.cases.stages import (
    CLOSURE,
    OPEN_CASE_ACTIONS,
    TASK_ACTIONS,
    TRIAGE,
    EngineAction,
    KindPermission,
    KindRules,
    Leads,
    StagePlan,
    StageSpec,
    register_rules,
)

KIND = "customer_complaint"


class StageKind(StrEnum):
    TRIAGE = TRIAGE  # Registered
    PLANNED = "planned"
    FULFILLED = "fulfilled"
    CLOSURE = CLOSURE


class Action(StrEnum):
    PLAN = "set_planned"
    RECORD_REVIEW = "record_review"
    DECIDE = "decide"
    FULFIL = "fulfil"
    POST = "post"


_WORKERS = frozenset({Role.HANDLER, Role.COORDINATOR, Role.MANAGER})
_LEADERS = frozenset({Role.COORDINATOR, Role.MANAGER})
# The kind's own permissions besides one per action.
REGISTER = "register"
CREATE_REASON = "create_reason"
DECIDE_ABOVE_LIMIT = "decide_above_limit"
EXPORT_ADJUSTMENTS = "export_adjustments"
REGISTER_ROLES = _WORKERS

RULES = register_rules(KindRules(
    kind=KIND,
    actions=(*Action, *EngineAction),
    stage_kinds=frozenset(StageKind),
    stage_actions={
        StageKind.TRIAGE: frozenset({Action.PLAN}),
        StageKind.PLANNED: frozenset({Action.DECIDE, Action.FULFIL}),
        StageKind.FULFILLED: frozenset({Action.POST}),
        StageKind.CLOSURE: frozenset(),
    },
    any_open_stage=OPEN_CASE_ACTIONS | {Action.RECORD_REVIEW},
    action_roles={
        EngineAction.ALLOCATE: _LEADERS,
        Action.PLAN: _WORKERS,
        Action.RECORD_REVIEW: _WORKERS,
        Action.DECIDE: _LEADERS,
        Action.FULFIL: _WORKERS,
        Action.POST: _LEADERS,
        EngineAction.ADD_DOCUMENT: _WORKERS,
        EngineAction.ADD_NOTE: _WORKERS,
        EngineAction.EDIT_NOTE: _WORKERS,
        EngineAction.CLOSE: _LEADERS,
        EngineAction.COMPLETE_STAGE: _LEADERS,
        EngineAction.EXTEND_DEADLINE: _LEADERS,
        EngineAction.CHANGE_TYPE: _LEADERS,
        EngineAction.CONFIRM_DELIVERY: _WORKERS,
        EngineAction.RESEND_DELIVERY: _WORKERS,
        **dict.fromkeys(TASK_ACTIONS, _WORKERS),
    },
    # Assigning stays in Registered (and re-assigning wherever the complaint is).
    leads={Action.PLAN: Leads(), Action.FULFIL: Leads(), Action.POST: Leads()},
    early_close_roles=_LEADERS,  # "Not fulfilled"
    permissions={
        REGISTER: KindPermission(REGISTER_ROLES, "register a customer complaint"),
        CREATE_REASON: KindPermission(_LEADERS, "add a new complaint reason while registering a complaint"),
        DECIDE_ABOVE_LIMIT: KindPermission(frozenset({Role.MANAGER}),
                                           "accept a sales adjustment above the decision limit"),
        EXPORT_ADJUSTMENTS: KindPermission(_LEADERS, "list and export posted sales adjustments"),
    },
))

CUSTOMER_COMPLAINT_PLAN = StagePlan((
    StageSpec("registered", StageKind.TRIAGE, "Registered"),
    StageSpec("planned", StageKind.PLANNED, "Planned"),
    StageSpec("fulfilled", StageKind.FULFILLED, "Fulfilled"),
    StageSpec("closure", StageKind.CLOSURE, "Posted"),
))
NOT_FULFILLED = "not fulfilled"
CLOSE_REASONS = ["posted", NOT_FULFILLED, "withdrawn", "duplicate"]
