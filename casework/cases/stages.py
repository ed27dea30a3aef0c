"""Stage plans and transition rules: pure data and functions, no Temporal/SQLAlchemy/HTTP imports.

A case type owns an ordered *stage plan*. Every stage has a *kind* that fixes which actions it offers;
the plan decides order, labels and which stages may be skipped. One workflow walks any plan, so a
stage-2 case is the same flow with a different plan, not a copy.

Optional stages are skipped implicitly: an action that belongs to a later stage is allowed when every
stage in between is optional and has no outstanding work (an unanswered clarification, an open
contribution). The skip is recorded in the timeline like any other stage change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum


class StageKind(StrEnum):
    TRIAGE = "triage"
    ACKNOWLEDGEMENT = "acknowledgement"
    CLARIFICATION = "clarification"
    CONTRIBUTIONS = "contributions"
    DRAFT = "draft"
    QA = "qa"
    SEND = "send"
    OUTCOME = "outcome"
    CLOSURE = "closure"


class Action(StrEnum):
    ALLOCATE = "allocate"
    ACKNOWLEDGE = "acknowledge"
    REQUEST_CLARIFICATION = "request_clarification"
    RECORD_CLARIFICATION_REPLY = "record_clarification_reply"
    REQUEST_CONTRIBUTION = "request_contribution"
    COMPLETE_CONTRIBUTION = "complete_contribution"
    CANCEL_CONTRIBUTION = "cancel_contribution"
    ADD_DOCUMENT = "add_document"
    SUBMIT_DRAFT = "submit_draft"
    APPROVE_DRAFT = "approve_draft"
    REJECT_DRAFT = "reject_draft"
    SEND_RESPONSE = "send_response"
    SEND_HOLDING_RESPONSE = "send_holding_response"
    RECORD_OUTCOME = "record_outcome"
    CLOSE = "close"
    COMPLETE_STAGE = "complete_stage"
    ADD_NOTE = "add_note"
    EDIT_NOTE = "edit_note"
    EXTEND_DEADLINE = "extend_deadline"
    CHANGE_TYPE = "change_type"


class Role(StrEnum):
    HANDLER = "handler"
    COORDINATOR = "coordinator"
    DRAFTER = "drafter"
    QA_REVIEWER = "qa_reviewer"
    MANAGER = "manager"
    ADMIN = "admin"
    OPERATIONS = "operations"


# Actions a stage kind offers. Actions not listed under any kind are allowed in every open stage.
# A holding response (why the final one is late, and when it will come) may go out from
# acknowledgement until the final response is sent.
_BEFORE_THE_RESPONSE = frozenset({Action.SEND_HOLDING_RESPONSE})
STAGE_ACTIONS: dict[StageKind, frozenset[Action]] = {
    StageKind.TRIAGE: frozenset(),
    StageKind.ACKNOWLEDGEMENT: frozenset({Action.ACKNOWLEDGE}) | _BEFORE_THE_RESPONSE,
    StageKind.CLARIFICATION: frozenset({Action.REQUEST_CLARIFICATION}) | _BEFORE_THE_RESPONSE,
    StageKind.CONTRIBUTIONS: frozenset(
        {Action.REQUEST_CONTRIBUTION, Action.COMPLETE_CONTRIBUTION, Action.CANCEL_CONTRIBUTION}
    ) | _BEFORE_THE_RESPONSE,
    StageKind.DRAFT: frozenset({Action.SUBMIT_DRAFT}) | _BEFORE_THE_RESPONSE,
    StageKind.QA: frozenset({Action.APPROVE_DRAFT, Action.REJECT_DRAFT}) | _BEFORE_THE_RESPONSE,
    StageKind.SEND: frozenset({Action.SEND_RESPONSE}) | _BEFORE_THE_RESPONSE,
    StageKind.OUTCOME: frozenset({Action.RECORD_OUTCOME}),
    StageKind.CLOSURE: frozenset(),
}

# A complainant's late reply is recorded wherever the case has got to; deadlines can be extended and
# a case re-typed at any open stage.
ANY_OPEN_STAGE: frozenset[Action] = frozenset(
    {Action.ALLOCATE, Action.ADD_DOCUMENT, Action.CLOSE, Action.ADD_NOTE, Action.EDIT_NOTE,
     Action.RECORD_CLARIFICATION_REPLY, Action.EXTEND_DEADLINE, Action.CHANGE_TYPE}
)

# Who may take each action. Admin may do everything.
ACTION_ROLES: dict[Action, frozenset[Role]] = {
    Action.ALLOCATE: frozenset({Role.COORDINATOR, Role.MANAGER}),
    Action.ACKNOWLEDGE: frozenset({Role.HANDLER, Role.COORDINATOR, Role.DRAFTER}),
    Action.REQUEST_CLARIFICATION: frozenset({Role.DRAFTER}),
    Action.RECORD_CLARIFICATION_REPLY: frozenset({Role.DRAFTER, Role.HANDLER}),
    Action.REQUEST_CONTRIBUTION: frozenset({Role.DRAFTER}),
    Action.COMPLETE_CONTRIBUTION: frozenset({Role.DRAFTER, Role.HANDLER, Role.MANAGER}),
    Action.CANCEL_CONTRIBUTION: frozenset({Role.DRAFTER, Role.MANAGER}),
    Action.ADD_DOCUMENT: frozenset({Role.DRAFTER, Role.HANDLER, Role.COORDINATOR}),
    Action.SUBMIT_DRAFT: frozenset({Role.DRAFTER}),
    Action.APPROVE_DRAFT: frozenset({Role.QA_REVIEWER}),
    Action.REJECT_DRAFT: frozenset({Role.QA_REVIEWER}),
    Action.SEND_RESPONSE: frozenset({Role.DRAFTER, Role.COORDINATOR}),
    Action.SEND_HOLDING_RESPONSE: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
    Action.RECORD_OUTCOME: frozenset({Role.DRAFTER, Role.MANAGER}),
    Action.CLOSE: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
    Action.COMPLETE_STAGE: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
    Action.ADD_NOTE: frozenset(
        {Role.HANDLER, Role.COORDINATOR, Role.DRAFTER, Role.QA_REVIEWER, Role.MANAGER}
    ),
    Action.EDIT_NOTE: frozenset(
        {Role.HANDLER, Role.COORDINATOR, Role.DRAFTER, Role.QA_REVIEWER, Role.MANAGER}
    ),
    Action.EXTEND_DEADLINE: frozenset({Role.DRAFTER, Role.COORDINATOR, Role.MANAGER}),
    # A new type brings new deadlines: a triage decision.
    Action.CHANGE_TYPE: frozenset({Role.COORDINATOR, Role.MANAGER}),
}
REGISTER_ROLES = frozenset({Role.HANDLER, Role.COORDINATOR, Role.MANAGER})
ESCALATE_ROLES = frozenset({Role.HANDLER, Role.COORDINATOR, Role.MANAGER})
# Closing before the closure stage is a triage decision, not a drafter's.
EARLY_CLOSE_ROLES = frozenset({Role.COORDINATOR, Role.MANAGER})


def role_allows(roles: frozenset[str] | set[str], allowed: frozenset[Role]) -> bool:
    return Role.ADMIN in roles or any(role in roles for role in allowed)


@dataclass(frozen=True)
class StageSpec:
    key: str
    kind: StageKind
    label: str
    optional: bool = False


@dataclass(frozen=True)
class StagePlan:
    stages: tuple[StageSpec, ...]

    def __post_init__(self) -> None:
        keys = [s.key for s in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError("stage keys must be unique")
        if not self.stages or self.stages[-1].kind is not StageKind.CLOSURE:
            raise ValueError("a stage plan must end with a closure stage")
        if self.stages[0].kind is not StageKind.TRIAGE:
            raise ValueError("a stage plan must start with a triage (allocation) stage")

    @property
    def first(self) -> StageSpec:
        return self.stages[0]

    def index(self, key: str) -> int:
        for i, stage in enumerate(self.stages):
            if stage.key == key:
                return i
        raise KeyError(key)

    def get(self, key: str) -> StageSpec:
        return self.stages[self.index(key)]

    def next_after(self, key: str) -> StageSpec:
        i = self.index(key)
        return self.stages[min(i + 1, len(self.stages) - 1)]

    def previous_of_kind(self, key: str, kind: StageKind) -> StageSpec | None:
        for stage in reversed(self.stages[: self.index(key)]):
            if stage.kind is kind:
                return stage
        return None

    def has_kind(self, kind: StageKind) -> bool:
        return any(s.kind is kind for s in self.stages)

    def to_data(self) -> list[dict]:
        return [
            {"key": s.key, "kind": s.kind.value, "label": s.label, "optional": s.optional}
            for s in self.stages
        ]

    @classmethod
    def from_data(cls, data: list[dict]) -> "StagePlan":
        """The plan of a case type's stored stages. Plans are immutable, so one is built per
        distinct list and shared: every step's projection and API answer asks for its case's."""
        key = tuple((item["key"], item["kind"], item["label"], bool(item.get("optional", False)))
                    for item in data)
        plan = _PLANS.get(key)
        if plan is None:
            plan = cls(tuple(StageSpec(key=k, kind=StageKind(kind), label=label, optional=optional)
                             for k, kind, label, optional in key))
            if len(_PLANS) >= 1024:  # case types are few; a bound all the same
                _PLANS.clear()
            _PLANS[key] = plan
        return plan


_PLANS: dict[tuple, StagePlan] = {}


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
        StageSpec("closure", StageKind.CLOSURE, "Close case"),
    )
)


@dataclass(frozen=True)
class Rejection:
    """Why an action is not allowed now. `code` maps to an HTTP status at the API edge."""

    code: str  # "wrong_stage" | "conflict" | "invalid"
    message: str
    stage: str | None = None


@dataclass(frozen=True)
class Route:
    """Where an allowed action takes place: the stage it acts in and the optional stages skipped."""

    stage: StageSpec
    skipped: tuple[StageSpec, ...] = field(default_factory=tuple)


def route_action(
    plan: StagePlan, current: str, action: Action, blocked: frozenset[str] = frozenset()
) -> Route | Rejection:
    """Decide whether `action` may be taken with the case in stage `current`.

    `blocked` names optional stages with outstanding work, which therefore cannot be skipped.
    """
    here = plan.get(current)
    if action is Action.COMPLETE_STAGE:
        if not here.optional:
            return _wrong_stage(here, action)
        if here.key in blocked:
            return Rejection(
                "conflict", f"stage '{here.label}' ({here.key}) still has outstanding work", here.key
            )
        return Route(here)
    if action in ANY_OPEN_STAGE or action in STAGE_ACTIONS[here.kind]:
        return Route(here)
    # Walk forward over optional stages that have nothing outstanding.
    skipped: list[StageSpec] = []
    stage = here
    while stage.optional and stage.key not in blocked and stage is not plan.stages[-1]:
        skipped.append(stage)
        stage = plan.next_after(stage.key)
        if action in STAGE_ACTIONS[stage.kind]:
            return Route(stage, tuple(skipped))
    return _wrong_stage(here, action)


def _wrong_stage(here: StageSpec, action: Action) -> Rejection:
    return Rejection(
        "wrong_stage",
        f"'{action.value}' is not allowed while the case is at stage '{here.label}' ({here.key})",
        stage=here.key,
    )


def blocked_stages(plan: StagePlan, *, waiting_for_reply: bool, open_contribution: bool) -> frozenset[str]:
    """Optional stages that cannot be skipped: clarification while a reply is awaited (within its
    reply-by date), contributions while one is open."""
    return frozenset(
        s.key for s in plan.stages
        if (s.kind is StageKind.CLARIFICATION and waiting_for_reply)
        or (s.kind is StageKind.CONTRIBUTIONS and open_contribution)
    )


def allowed_actions(plan: StagePlan, current: str, blocked: frozenset[str] = frozenset()) -> list[str]:
    return list(_allowed_actions(plan, current, blocked))


@functools.lru_cache(maxsize=4096)
def _allowed_actions(plan: StagePlan, current: str, blocked: frozenset[str]) -> tuple[str, ...]:
    # Routing every action is pure in its arguments, and each case read and step answer asks.
    return tuple(a.value for a in Action if isinstance(route_action(plan, current, a, blocked), Route))
