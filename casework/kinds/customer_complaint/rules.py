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
    COMPLETE_STAGE,
    TRIAGE,
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
    ALLOCATE = "allocate"  # the business unit and employee in charge
    PLAN = "set_planned"
    RECORD_REVIEW = "record_review"
    DECIDE = "decide"
    FULFIL = "fulfil"
    POST = "post"
    ADD_DOCUMENT = "add_document"
    ADD_NOTE = "add_note"
    EDIT_NOTE = "edit_note"
    CLOSE = "close"
    COMPLETE_STAGE = COMPLETE_STAGE
    EXTEND_DEADLINE = "extend_deadline"
    CHANGE_TYPE = "change_type"
    CONFIRM_DELIVERY = "confirm_delivery"
    RESEND_DELIVERY = "resend_delivery"
    ADD_TASK = "add_task"
    COMPLETE_TASK = "complete_task"
    CANCEL_TASK = "cancel_task"
    REASSIGN_TASK = "reassign_task"
    RESCHEDULE_TASK = "reschedule_task"


_TASKS = (Action.ADD_TASK, Action.COMPLETE_TASK, Action.CANCEL_TASK, Action.REASSIGN_TASK, Action.RESCHEDULE_TASK)
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
    actions=tuple(Action),
    stage_kinds=frozenset(StageKind),
    stage_actions={
        StageKind.TRIAGE: frozenset({Action.PLAN}),
        StageKind.PLANNED: frozenset({Action.DECIDE, Action.FULFIL}),
        StageKind.FULFILLED: frozenset({Action.POST}),
        StageKind.CLOSURE: frozenset(),
    },
    any_open_stage=frozenset({
        Action.ALLOCATE, Action.RECORD_REVIEW, Action.ADD_DOCUMENT, Action.ADD_NOTE, Action.EDIT_NOTE,
        Action.CLOSE, Action.EXTEND_DEADLINE, Action.CHANGE_TYPE, Action.CONFIRM_DELIVERY,
        Action.RESEND_DELIVERY, *_TASKS}),
    action_roles={
        Action.ALLOCATE: _LEADERS,
        Action.PLAN: _WORKERS,
        Action.RECORD_REVIEW: _WORKERS,
        Action.DECIDE: _LEADERS,
        Action.FULFIL: _WORKERS,
        Action.POST: _LEADERS,
        Action.ADD_DOCUMENT: _WORKERS,
        Action.ADD_NOTE: _WORKERS,
        Action.EDIT_NOTE: _WORKERS,
        Action.CLOSE: _LEADERS,
        Action.COMPLETE_STAGE: _LEADERS,
        Action.EXTEND_DEADLINE: _LEADERS,
        Action.CHANGE_TYPE: _LEADERS,
        Action.CONFIRM_DELIVERY: _WORKERS,
        Action.RESEND_DELIVERY: _WORKERS,
        **dict.fromkeys(_TASKS, _WORKERS),
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
