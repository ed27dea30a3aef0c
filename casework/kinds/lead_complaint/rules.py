"""Lead complaints' stage kinds, actions, roles and where each action leads: pure data.

A lead complaint is Open until compliance resolves it (the plan's closure stage, "Resolved"); a
dispute takes it to Disputed, where a manager picks it up and upholds the resolution, changes it,
or sends it back to compliance (Open). A resolved complaint is read-only except for comments and a
dispute. The administrator's lists it picks from are named here.
"""

from __future__ import annotations

from enum import StrEnum

from casework.cases.roles import Role
from casework.cases.stages import (
    CLOSURE,
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

KIND = "lead_complaint"

# Who files, who works the queue: role names a deployment gives its users (Role lists the core ones).
AGENT = Role.AGENT
COMPLIANCE = Role.COMPLIANCE

# The administrator's lists it picks from (declared with casework.reference_lists by its API routes;
# resolutions hang under resolution types).
COMPLAINT_TYPES = "lead_complaint_types"
RESOLUTION_TYPES = "lead_resolution_types"
RESOLUTIONS = "lead_resolutions"


class StageKind(StrEnum):
    TRIAGE = TRIAGE  # Open: filed, being worked by compliance
    DISPUTED = "disputed"
    CLOSURE = CLOSURE  # Resolved


class Action(StrEnum):
    TAKE = "take"
    RESOLVE = "resolve"
    DISPUTE = "dispute"
    TAKE_DISPUTE = "take_dispute"
    UPHOLD_RESOLUTION = "uphold_resolution"
    CHANGE_RESOLUTION = "change_resolution"
    SEND_BACK = "send_back"


FILE = "file"  # the registration route's own permission
_WORKERS = frozenset({COMPLIANCE, Role.MANAGER})
_INVOLVED = frozenset({AGENT, COMPLIANCE, Role.HANDLER, Role.MANAGER})
_UNRESOLVED = frozenset({EngineAction.ADD_DOCUMENT, EngineAction.EXTEND_DEADLINE, EngineAction.CHANGE_TYPE,
                         EngineAction.CONFIRM_DELIVERY, EngineAction.RESEND_DELIVERY, *TASK_ACTIONS})

RULES = register_rules(KindRules(
    kind=KIND,
    actions=(*Action, *EngineAction),
    stage_kinds=frozenset(StageKind),
    stage_actions={
        StageKind.TRIAGE: frozenset({EngineAction.ALLOCATE, Action.TAKE, Action.RESOLVE, Action.DISPUTE}) | _UNRESOLVED,
        StageKind.DISPUTED: frozenset({Action.TAKE_DISPUTE, Action.UPHOLD_RESOLUTION, Action.CHANGE_RESOLUTION,
                                       Action.SEND_BACK}) | _UNRESOLVED,
        # Resolved: read-only, but for comments, a dispute, and closing the record.
        StageKind.CLOSURE: frozenset({Action.DISPUTE, EngineAction.CLOSE}),
    },
    # Comments from anyone involved, whatever the status.
    any_open_stage=frozenset({EngineAction.ADD_NOTE, EngineAction.EDIT_NOTE}),
    action_roles={
        EngineAction.ALLOCATE: _WORKERS,
        Action.TAKE: _WORKERS,
        Action.RESOLVE: _WORKERS,
        Action.DISPUTE: _INVOLVED,
        Action.TAKE_DISPUTE: frozenset({Role.MANAGER}),
        Action.UPHOLD_RESOLUTION: frozenset({Role.MANAGER}),
        Action.CHANGE_RESOLUTION: frozenset({Role.MANAGER}),
        Action.SEND_BACK: frozenset({Role.MANAGER}),
        EngineAction.ADD_NOTE: _INVOLVED,
        EngineAction.EDIT_NOTE: _INVOLVED,
        EngineAction.ADD_DOCUMENT: _INVOLVED,
        EngineAction.CLOSE: _WORKERS,
        EngineAction.EXTEND_DEADLINE: _WORKERS,
        EngineAction.CHANGE_TYPE: _WORKERS,
        EngineAction.CONFIRM_DELIVERY: _WORKERS,
        EngineAction.RESEND_DELIVERY: _WORKERS,
        **dict.fromkeys(TASK_ACTIONS, _WORKERS),
    },
    leads={
        Action.RESOLVE: Leads(to=StageKind.CLOSURE),
        Action.DISPUTE: Leads(to=StageKind.DISPUTED),
        Action.UPHOLD_RESOLUTION: Leads(to=StageKind.CLOSURE),
        Action.CHANGE_RESOLUTION: Leads(to=StageKind.CLOSURE),
        Action.SEND_BACK: Leads(to=StageKind.TRIAGE),
    },
    early_close_roles=frozenset({Role.MANAGER}),
    notes_edited_by_author_only=True,  # a comment is its writer's
    # A partner's users may file on their own leads (and follow them in the lead's activity history).
    permissions={FILE: KindPermission(frozenset({AGENT, Role.HANDLER, Role.MANAGER, Role.PARTNER}),
                                      "file a complaint against a lead")},
    # What a partner's user reads of a complaint against its lead (api/partner_view.py).
    partner_details=frozenset({"lead_id", "complaint_type", "complaint_type_label", "category", "description",
                               "status"}),
    partner_events=frozenset({"resolved"}),
))

FILE_PERMISSION = RULES.permission(FILE)

LEAD_COMPLAINT_PLAN = StagePlan((
    StageSpec("open", StageKind.TRIAGE, "Open"),
    StageSpec("disputed", StageKind.DISPUTED, "Disputed"),
    StageSpec("resolved", StageKind.CLOSURE, "Resolved"),
))

# The case type lead complaints are filed as (migration data; its deadline policy is the target).
CASE_TYPE = "LEADCOMP"
# Its deadline policy: resolve within 10 working days, warned 2 working days before.
LEAD_COMPLAINT_POLICY = {
    "name": "Lead complaints (10 working days)",
    "rule": "Resolve a complaint against a lead within 10 working days of filing it.",
    "region": "england-and-wales", "unit": "working", "response_days": 10, "warning_days": 2,
    "max_extensions": 1, "pause_on_clarification": False,
}
LEAD_COMPLAINT_CLOSE_REASONS = ["resolved", "withdrawn", "duplicate"]
