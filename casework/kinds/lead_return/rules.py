"""Lead returns' stages, actions and who may take each: pure data.

A return is open at its one working stage (the decision) until someone permitted accepts or
declines it; either decision closes it, except an acceptance that owes the partner a replacement
lead: that return waits at its closure stage until the replacement is sent. Accepting runs the
saga (workflows/lead_return/workflow.py).
"""

from __future__ import annotations

from enum import StrEnum

from casework.cases.roles import Role
from casework.cases.stages import CLOSURE, TRIAGE, KindRules, Leads, StagePlan, StageSpec, register_rules

KIND = "lead_return"


class StageKind(StrEnum):
    TRIAGE = TRIAGE  # the return is open, waiting for a decision
    CLOSURE = CLOSURE


class Action(StrEnum):
    DECIDE = "decide"  # accept or decline: "unrefer, return and reverse leads"
    SEND_REPLACEMENT = "send_replacement"  # link the replacement lead an accepted return owes
    ALLOCATE = "allocate"
    ADD_DOCUMENT = "add_document"
    ADD_NOTE = "add_note"
    EDIT_NOTE = "edit_note"
    CLOSE = "close"
    COMPLETE_STAGE = "complete_stage"
    EXTEND_DEADLINE = "extend_deadline"
    CHANGE_TYPE = "change_type"
    CONFIRM_DELIVERY = "confirm_delivery"
    RESEND_DELIVERY = "resend_delivery"
    ADD_TASK = "add_task"
    COMPLETE_TASK = "complete_task"
    CANCEL_TASK = "cancel_task"
    REASSIGN_TASK = "reassign_task"
    RESCHEDULE_TASK = "reschedule_task"


DECIDERS = frozenset({Role.MANAGER})
_STAFF = frozenset({Role.HANDLER, Role.COORDINATOR, Role.DRAFTER, Role.QA_REVIEWER, Role.MANAGER})
_TASKS = (Action.ADD_TASK, Action.COMPLETE_TASK, Action.CANCEL_TASK, Action.REASSIGN_TASK, Action.RESCHEDULE_TASK)

RULES = register_rules(KindRules(
    kind=KIND,
    actions=tuple(Action),
    stage_kinds=frozenset(StageKind),
    # A return accepted with a replacement owed waits, decided, at its closure stage for the lead.
    stage_actions={StageKind.TRIAGE: frozenset({Action.DECIDE}),
                   StageKind.CLOSURE: frozenset({Action.SEND_REPLACEMENT})},
    any_open_stage=frozenset({
        Action.ALLOCATE, Action.ADD_DOCUMENT, Action.ADD_NOTE, Action.EDIT_NOTE, Action.CLOSE,
        Action.EXTEND_DEADLINE, Action.CHANGE_TYPE, Action.CONFIRM_DELIVERY, Action.RESEND_DELIVERY, *_TASKS}),
    action_roles={
        Action.DECIDE: DECIDERS,
        Action.SEND_REPLACEMENT: frozenset({Role.COORDINATOR, Role.MANAGER}),
        Action.ALLOCATE: frozenset({Role.COORDINATOR, Role.MANAGER}),
        Action.ADD_DOCUMENT: _STAFF,
        Action.ADD_NOTE: _STAFF,
        Action.EDIT_NOTE: _STAFF,
        Action.CLOSE: DECIDERS,
        Action.COMPLETE_STAGE: DECIDERS,
        Action.EXTEND_DEADLINE: DECIDERS,
        Action.CHANGE_TYPE: DECIDERS,
        Action.CONFIRM_DELIVERY: DECIDERS,
        Action.RESEND_DELIVERY: DECIDERS,
        **dict.fromkeys(_TASKS, _STAFF),
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
