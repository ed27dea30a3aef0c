"""Frontline complaint handling's stage kinds, actions, roles and where each action leads: pure data.

The seed's process (docs/frontline.md): the agent who takes a complaint owns it; it is resolved at
first contact (the case closes at intake) or investigated with a same-day follow-up promise; the
follow-up records the date and whether the customer is satisfied. Repeat contacts are recorded on
the owner's case (`record_contact`).
"""

from __future__ import annotations

from enum import StrEnum

from casework.cases.roles import Role
from casework.cases.stages import (
    CLOSURE,
    OPEN_CASE_ACTIONS,
    TRIAGE,
    EngineAction,
    KindPermission,
    KindRules,
    Leads,
    StagePlan,
    StageSpec,
    register_rules,
)

KIND = "frontline"


class StageKind(StrEnum):
    TRIAGE = TRIAGE  # the first contact: resolve it there, or investigate
    INVESTIGATION = "investigation"
    CLOSURE = CLOSURE


class Action(StrEnum):
    RESOLVE = "resolve"
    INVESTIGATE = "investigate"
    RECORD_CONTACT = "record_contact"
    RECORD_FOLLOW_UP = "record_follow_up"
    CLAIM = "claim"


# The contact centre's agents are handlers; their team leads are managers.
_AGENTS = frozenset({Role.HANDLER, Role.COORDINATOR, Role.MANAGER})
TAKE_CONTACT = "take_contact"  # the intake route's own permission: frontline.take_contact
REGISTER_READ = "read_register"  # the register and its exports: frontline.read_register
PROPOSE_IMPROVEMENT = "propose_improvement"  # frontline.propose_improvement
REVIEW_IMPROVEMENTS = "review_improvements"  # the senior-management review: frontline.review_improvements

# A service improvement idea's way through the fortnightly review: where each status may go next.
IMPROVEMENT_STEPS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"discussed", "rejected"}),  # discussed at the review meeting
    "discussed": frozenset({"out_for_comment", "rejected"}),  # the proposed solution goes to the wider team
    "out_for_comment": frozenset({"agreed", "rejected"}),  # comments in, a final solution agreed
    "agreed": frozenset({"implemented", "rejected"}),
}
IMPROVEMENT_STATUSES = ("proposed", "discussed", "out_for_comment", "agreed", "implemented", "rejected")

RULES = register_rules(KindRules(
    kind=KIND,
    actions=(*Action, *EngineAction),
    stage_kinds=frozenset(StageKind),
    stage_actions={
        StageKind.TRIAGE: frozenset({Action.RESOLVE, Action.INVESTIGATE}),
        StageKind.INVESTIGATION: frozenset({Action.RECORD_FOLLOW_UP}),
        StageKind.CLOSURE: frozenset(),
    },
    any_open_stage=OPEN_CASE_ACTIONS | {Action.RECORD_CONTACT, Action.CLAIM},
    action_roles={
        **dict.fromkeys((*Action, *EngineAction), _AGENTS),
        EngineAction.CHANGE_TYPE: frozenset({Role.MANAGER}),
        EngineAction.EXTEND_DEADLINE: frozenset({Role.MANAGER}),
    },
    leads={
        Action.INVESTIGATE: Leads(to=StageKind.INVESTIGATION),
        Action.RESOLVE: Leads(to=StageKind.CLOSURE),
        Action.RECORD_FOLLOW_UP: Leads(to=StageKind.CLOSURE),
    },
    early_close_roles=frozenset({Role.HANDLER, Role.COORDINATOR, Role.MANAGER}),
    permissions={
        TAKE_CONTACT: KindPermission(_AGENTS, "take a frontline complaint (phone, live chat or email)"),
        REGISTER_READ: KindPermission(_AGENTS, "read and export the frontline complaint register"),
        PROPOSE_IMPROVEMENT: KindPermission(_AGENTS, "propose a service improvement idea and comment on one"),
        REVIEW_IMPROVEMENTS: KindPermission(frozenset({Role.MANAGER}),
                                            "record the service improvement review's outcomes and set up its schedule"),
    },
))

FRONTLINE_PLAN = StagePlan(
    (
        StageSpec("contact", StageKind.TRIAGE, "First contact"),
        StageSpec("investigation", StageKind.INVESTIGATION, "Investigation and follow-up"),
        StageSpec("closure", StageKind.CLOSURE, "Closed"),
    )
)
