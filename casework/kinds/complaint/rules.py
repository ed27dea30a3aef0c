"""Complaint casework's stage kinds, actions, roles and where each action leads: pure data.

The HOCS-style flow: allocation, acknowledgement, optional clarification and contributions, a
draft response through quality assurance, sending it, recording the outcome, closure. The engine
(`casework.cases.stages`) routes any step of any kind with a table like `RULES` below.
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
    Rejection,
    Route,
    StagePlan,
    StageSpec,
    register_rules,
    role_allows,
)
from casework.cases.stages import (
    allowed_actions as _allowed_actions,
)
from casework.cases.stages import (
    route_action as _route_action,
)

KIND = "complaint"

__all__ = ["KIND", "RULES", "Action", "Role", "StageKind", "Rejection", "Route", "StagePlan", "StageSpec",
           "role_allows", "route_action", "allowed_actions", "blocked_stages", "STANDARD_COMPLAINT_PLAN"]


class StageKind(StrEnum):
    TRIAGE = TRIAGE
    ACKNOWLEDGEMENT = "acknowledgement"
    CLARIFICATION = "clarification"
    CONTRIBUTIONS = "contributions"
    DRAFT = "draft"
    QA = "qa"
    SEND = "send"
    OUTCOME = "outcome"
    MANAGER = "manager"  # a case referred to a (workflow) manager, who sends it on or back
    CLOSURE = CLOSURE


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REQUEST_CLARIFICATION = "request_clarification"
    RECORD_CLARIFICATION_REPLY = "record_clarification_reply"
    REQUEST_CONTRIBUTION = "request_contribution"
    COMPLETE_CONTRIBUTION = "complete_contribution"
    CANCEL_CONTRIBUTION = "cancel_contribution"
    SUBMIT_DRAFT = "submit_draft"
    APPROVE_DRAFT = "approve_draft"
    REJECT_DRAFT = "reject_draft"
    SEND_RESPONSE = "send_response"
    SEND_HOLDING_RESPONSE = "send_holding_response"
    RECORD_OUTCOME = "record_outcome"
    REFER_TO_MANAGER = "refer_to_manager"
    RETURN_TO_TRIAGE = "return_to_triage"
    SEND_TO_DRAFTING = "send_to_drafting"
    RECORD_AUTHORITY = "record_authority"


# A holding response (why the final one is late, and when it will come) may go out from
# acknowledgement until the final response is sent.
_BEFORE_THE_RESPONSE = frozenset({Action.SEND_HOLDING_RESPONSE})
_ANYONE_ON_THE_CASE = frozenset({Role.HANDLER, Role.COORDINATOR, Role.DRAFTER, Role.QA_REVIEWER, Role.MANAGER})
# Generating the draft response adds a draft version (ADD_DOCUMENT), but only a drafter writes one:
# the route's own permission, held by default within ADD_DOCUMENT's roles so the workflow's check agrees.
DRAFT_RESPONSE = "draft_response"
DRAFT_RESPONSE_ROLES = frozenset({Role.DRAFTER})

# Out of turn: up to a manager from any stage but the manager's own; back to triage (the wrong team,
# QA's "not ours") from any stage after it.
_REFER = frozenset({Action.REFER_TO_MANAGER})
_SEND_BACK = _REFER | {Action.RETURN_TO_TRIAGE}

RULES = register_rules(KindRules(
    kind=KIND,
    actions=(*Action, *EngineAction),
    stage_kinds=frozenset(StageKind),
    stage_actions={
        StageKind.TRIAGE: _REFER,
        StageKind.ACKNOWLEDGEMENT: frozenset({Action.ACKNOWLEDGE}) | _BEFORE_THE_RESPONSE | _SEND_BACK,
        StageKind.CLARIFICATION: frozenset({Action.REQUEST_CLARIFICATION}) | _BEFORE_THE_RESPONSE | _SEND_BACK,
        StageKind.CONTRIBUTIONS: frozenset(
            {Action.REQUEST_CONTRIBUTION, Action.COMPLETE_CONTRIBUTION, Action.CANCEL_CONTRIBUTION}
        ) | _BEFORE_THE_RESPONSE | _SEND_BACK,
        StageKind.DRAFT: frozenset({Action.SUBMIT_DRAFT}) | _BEFORE_THE_RESPONSE | _SEND_BACK,
        StageKind.QA: frozenset({Action.APPROVE_DRAFT, Action.REJECT_DRAFT}) | _BEFORE_THE_RESPONSE | _SEND_BACK,
        StageKind.SEND: frozenset({Action.SEND_RESPONSE}) | _BEFORE_THE_RESPONSE | _SEND_BACK,
        StageKind.OUTCOME: frozenset({Action.RECORD_OUTCOME}) | _SEND_BACK,
        # A referred case: the manager sends it on to drafting, back to triage, or closes it.
        StageKind.MANAGER: frozenset({Action.SEND_TO_DRAFTING, Action.RETURN_TO_TRIAGE}),
        StageKind.CLOSURE: frozenset(),
    },
    # A complainant's late reply is recorded wherever the case has got to; deadlines can be
    # extended and a case re-typed at any open stage.
    any_open_stage=OPEN_CASE_ACTIONS | {Action.RECORD_CLARIFICATION_REPLY, Action.RECORD_AUTHORITY},
    action_roles={
        EngineAction.ALLOCATE: frozenset({Role.COORDINATOR, Role.MANAGER}),
        Action.ACKNOWLEDGE: frozenset({Role.HANDLER, Role.COORDINATOR, Role.DRAFTER}),
        Action.REQUEST_CLARIFICATION: frozenset({Role.DRAFTER}),
        Action.RECORD_CLARIFICATION_REPLY: frozenset({Role.DRAFTER, Role.HANDLER}),
        Action.REQUEST_CONTRIBUTION: frozenset({Role.DRAFTER}),
        Action.COMPLETE_CONTRIBUTION: frozenset({Role.DRAFTER, Role.HANDLER, Role.MANAGER}),
        Action.CANCEL_CONTRIBUTION: frozenset({Role.DRAFTER, Role.MANAGER}),
        EngineAction.ADD_DOCUMENT: frozenset({Role.DRAFTER, Role.HANDLER, Role.COORDINATOR}),
        Action.SUBMIT_DRAFT: frozenset({Role.DRAFTER}),
        Action.APPROVE_DRAFT: frozenset({Role.QA_REVIEWER}),
        Action.REJECT_DRAFT: frozenset({Role.QA_REVIEWER}),
        Action.SEND_RESPONSE: frozenset({Role.DRAFTER, Role.COORDINATOR}),
        Action.SEND_HOLDING_RESPONSE: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
        Action.RECORD_OUTCOME: frozenset({Role.DRAFTER, Role.MANAGER}),
        EngineAction.CLOSE: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
        EngineAction.COMPLETE_STAGE: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
        EngineAction.ADD_NOTE: _ANYONE_ON_THE_CASE,
        EngineAction.EDIT_NOTE: _ANYONE_ON_THE_CASE,
        EngineAction.EXTEND_DEADLINE: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
        # A new type brings new deadlines: a triage decision.
        EngineAction.CHANGE_TYPE: frozenset({Role.COORDINATOR, Role.MANAGER}),
        # An email that may not have arrived: whoever answers for the case's correspondence.
        EngineAction.CONFIRM_DELIVERY: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
        EngineAction.RESEND_DELIVERY: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
        # Tasks on a case: whoever works it.
        **dict.fromkeys(TASK_ACTIONS, _ANYONE_ON_THE_CASE),
        Action.REFER_TO_MANAGER: frozenset({Role.HANDLER, Role.DRAFTER, Role.QA_REVIEWER, Role.COORDINATOR}),
        Action.RETURN_TO_TRIAGE: frozenset({Role.DRAFTER, Role.QA_REVIEWER, Role.COORDINATOR, Role.MANAGER}),
        Action.SEND_TO_DRAFTING: frozenset({Role.MANAGER}),
        # A representative's letter of authority arrives whenever it does.
        Action.RECORD_AUTHORITY: frozenset({Role.HANDLER, Role.DRAFTER, Role.COORDINATOR}),
    },
    leads={
        EngineAction.ALLOCATE: Leads(from_kinds=frozenset({StageKind.TRIAGE})),  # re-allocation stays put
        Action.ACKNOWLEDGE: Leads(),
        Action.SUBMIT_DRAFT: Leads(),
        Action.APPROVE_DRAFT: Leads(),
        Action.REJECT_DRAFT: Leads(to=StageKind.DRAFT),  # back to drafting, with the reviewer's reason
        Action.SEND_RESPONSE: Leads(),
        # To the closure stage, past the manager's (reached only by a referral).
        Action.RECORD_OUTCOME: Leads(to=StageKind.CLOSURE),
        Action.REFER_TO_MANAGER: Leads(to=StageKind.MANAGER),
        Action.RETURN_TO_TRIAGE: Leads(to=StageKind.TRIAGE),
        Action.SEND_TO_DRAFTING: Leads(to=StageKind.DRAFT),
    },
    # Closing before the closure stage is a triage decision, not a drafter's.
    early_close_roles=frozenset({Role.COORDINATOR, Role.MANAGER}),
    permissions={DRAFT_RESPONSE: KindPermission(
        DRAFT_RESPONSE_ROLES, "generate a complaint's draft response from the template and standard lines")},
    blocked=lambda plan, today, collections: blocked_stages(
        plan,
        waiting_for_reply=any(c.reply is None and c.reply_by >= today for c in collections["clarifications"]),
        open_contribution=any(c.status == "open" for c in collections["contributions"])),
    # A complaint about a partner's lead (api/partner_view.py): its stage, dates and outcome on the
    # case read, and that it was acknowledged.
    partner_events=frozenset({"acknowledged"}),
))

ACTION_ROLES = RULES.action_roles
REGISTER_ROLES = frozenset({Role.HANDLER, Role.COORDINATOR, Role.MANAGER})
ESCALATE_ROLES = frozenset({Role.HANDLER, Role.COORDINATOR, Role.MANAGER})
assert DRAFT_RESPONSE_ROLES <= ACTION_ROLES[EngineAction.ADD_DOCUMENT]
EARLY_CLOSE_ROLES = RULES.early_close_roles


STANDARD_COMPLAINT_PLAN = StagePlan(
    (
        StageSpec("triage", StageKind.TRIAGE, "Allocation"),
        StageSpec("acknowledgement", StageKind.ACKNOWLEDGEMENT, "Acknowledge"),
        StageSpec("clarification", StageKind.CLARIFICATION, "Clarification", optional=True),
        StageSpec("contributions", StageKind.CONTRIBUTIONS, "Contributions", optional=True),
        StageSpec("draft", StageKind.DRAFT, "Draft response"),
        StageSpec("qa", StageKind.QA, "Quality assurance"),
        StageSpec("send", StageKind.SEND, "Send response"),
        StageSpec("outcome", StageKind.OUTCOME, "Complaint outcome"),
        # Reached only when someone refers the case to a manager (refer_to_manager).
        StageSpec("manager", StageKind.MANAGER, "Workflow manager", optional=True),
        StageSpec("closure", StageKind.CLOSURE, "Close case"),
    )
)


def route_action(plan: StagePlan, current: str, action: str,
                 blocked: frozenset[str] = frozenset()) -> Route | Rejection:
    return _route_action(RULES, plan, current, action, blocked)


def allowed_actions(plan: StagePlan, current: str, blocked: frozenset[str] = frozenset()) -> list[str]:
    return _allowed_actions(RULES, plan, current, blocked)


def blocked_stages(plan: StagePlan, *, waiting_for_reply: bool, open_contribution: bool) -> frozenset[str]:
    """Optional stages that cannot be skipped: clarification while a reply is awaited (within its
    reply-by date), contributions while one is open."""
    return frozenset(
        s.key for s in plan.stages
        if (s.kind == StageKind.CLARIFICATION and waiting_for_reply)
        or (s.kind == StageKind.CONTRIBUTIONS and open_contribution)
    )
