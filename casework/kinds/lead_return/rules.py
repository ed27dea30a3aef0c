"""Lead returns' stages, actions and who may take each: pure data.

A return is open at its one working stage (the decision) until someone permitted accepts or
declines it; either decision closes it, except an acceptance that owes the partner a replacement
lead: that return waits at its closure stage until the replacement is sent. Accepting runs the
saga (workflows/lead_return/workflow.py).
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
    SEND_REPLACEMENT = "send_replacement"  # link the replacement lead an accepted return owes


DECIDERS = frozenset({Role.MANAGER})
_STAFF = frozenset({Role.HANDLER, Role.COORDINATOR, Role.DRAFTER, Role.QA_REVIEWER, Role.MANAGER})

RULES = register_rules(KindRules(
    kind=KIND,
    actions=(*Action, *EngineAction),
    stage_kinds=frozenset(StageKind),
    # A return accepted with a replacement owed waits, decided, at its closure stage for the lead.
    stage_actions={StageKind.TRIAGE: frozenset({Action.DECIDE}),
                   StageKind.CLOSURE: frozenset({Action.SEND_REPLACEMENT})},
    any_open_stage=OPEN_CASE_ACTIONS,
    action_roles={
        Action.DECIDE: DECIDERS,
        Action.SEND_REPLACEMENT: frozenset({Role.COORDINATOR, Role.MANAGER}),
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
    # What the partner is told anyway (the decision email): not who decided, nor the saga's log.
    partner_details=frozenset({
        "lead_id", "lead_group", "partner", "introducer", "reason", "reason_text", "requested_on",
        "requested_by_partner", "return_status", "colour", "decided_on", "decision_notes", "reversals",
        "lead_status_set", "auto_accept_at", "remedy", "replacement_lead"}),
    partner_events=frozenset({"return_requested", "return_accepted", "return_declined", "return_decision_emailed",
                              "replacement_owed", "replacement_sent"}),
))

DECIDE_PERMISSION = RULES.permission(Action.DECIDE)  # "lead_return.decide"

LEAD_RETURN_PLAN = StagePlan((
    StageSpec("decision", StageKind.TRIAGE, "Decide return"),
    StageSpec("closure", StageKind.CLOSURE, "Decided"),
))
