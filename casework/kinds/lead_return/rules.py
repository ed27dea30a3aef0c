"""Lead returns' stages, actions and who may take each: pure data.

A return is open at its one working stage (the decision) until someone permitted accepts or
declines it; either decision closes it. Accepting runs the saga (casework/kinds/lead_return/saga.py).
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
    KindRules,
    Leads,
    StagePlan,
    StageSpec,
    register_rules,
)

KIND = "lead_return"


class StageKind(StrEnum):
    TRIAGE = TRIAGE  # the return is open, waiting for a decision
    CLOSURE = CLOSURE


class Action(StrEnum):
    DECIDE = "decide"  # accept or decline: "unrefer, return and reverse leads"


DECIDERS = frozenset({Role.MANAGER})
_STAFF = frozenset({Role.HANDLER, Role.COORDINATOR, Role.DRAFTER, Role.QA_REVIEWER, Role.MANAGER})

RULES = register_rules(KindRules(
    kind=KIND,
    actions=(*Action, *EngineAction),
    stage_kinds=frozenset(StageKind),
    stage_actions={StageKind.TRIAGE: frozenset({Action.DECIDE}), StageKind.CLOSURE: frozenset()},
    any_open_stage=OPEN_CASE_ACTIONS,
    action_roles={
        Action.DECIDE: DECIDERS,
        EngineAction.ALLOCATE: frozenset({Role.COORDINATOR, Role.MANAGER}),
        EngineAction.ADD_DOCUMENT: _STAFF,
        EngineAction.ADD_NOTE: _STAFF,
        EngineAction.EDIT_NOTE: _STAFF,
        EngineAction.CLOSE: DECIDERS,
        EngineAction.COMPLETE_STAGE: DECIDERS,
        EngineAction.EXTEND_DEADLINE: DECIDERS,
        EngineAction.CHANGE_TYPE: DECIDERS,
        EngineAction.CONFIRM_DELIVERY: DECIDERS,
        EngineAction.RESEND_DELIVERY: DECIDERS,
        **dict.fromkeys(TASK_ACTIONS, _STAFF),
    },
    leads={Action.DECIDE: Leads(to=StageKind.CLOSURE)},
    early_close_roles=DECIDERS,
))

DECIDE_PERMISSION = RULES.permission(Action.DECIDE)  # "lead_return.decide"

LEAD_RETURN_PLAN = StagePlan((
    StageSpec("decision", StageKind.TRIAGE, "Decide return"),
    StageSpec("closure", StageKind.CLOSURE, "Decided"),
))
