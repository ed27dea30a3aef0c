"""Stage plans and the rules that route a step: pure data and functions, shared by every kind of case.

A case type owns an ordered *stage plan*. Every stage has a *kind*, and each kind of case declares
its own stage kinds and actions in a `KindRules` table (`casework/kinds/<kind>/rules.py`): which
actions each stage kind offers, which are allowed at any open stage, who may take each, and where
each leads (to the next stage, or to the first stage of a named kind: a branch or a return). The
plan decides order, labels and which stages may be skipped. One engine walks any plan with any
table, so a stage-2 case is the same flow with a different plan, and a new kind of case is a new
table, not an edit of this module.

Optional stages are skipped implicitly: an action that belongs to a later stage is allowed when every
stage in between is optional and has no outstanding work (the kind says what is outstanding). The
skip is recorded in the timeline like any other stage change. A refused action comes back as a
`Rejection` with its reason, never an exception.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

# Every plan starts with an intake stage where the case is allocated, and ends with its closure.
TRIAGE = "triage"
CLOSURE = "closure"


class EngineAction(StrEnum):
    """The steps the engine (workflows/engine/) gives every kind of case. A kind's rule table says
    where each is offered and who may take it; the kind's own `Action` enum names only its own."""

    ALLOCATE = "allocate"
    ADD_NOTE = "add_note"
    EDIT_NOTE = "edit_note"
    ADD_DOCUMENT = "add_document"
    CLOSE = "close"
    COMPLETE_STAGE = "complete_stage"  # finish an optional stage with nothing outstanding
    EXTEND_DEADLINE = "extend_deadline"
    CHANGE_TYPE = "change_type"
    CONFIRM_DELIVERY = "confirm_delivery"  # an email whose send was interrupted arrived after all
    RESEND_DELIVERY = "resend_delivery"
    ADD_TASK = "add_task"
    COMPLETE_TASK = "complete_task"
    CANCEL_TASK = "cancel_task"
    REASSIGN_TASK = "reassign_task"
    RESCHEDULE_TASK = "reschedule_task"


COMPLETE_STAGE = EngineAction.COMPLETE_STAGE
TASK_ACTIONS = (EngineAction.ADD_TASK, EngineAction.COMPLETE_TASK, EngineAction.CANCEL_TASK,
                EngineAction.REASSIGN_TASK, EngineAction.RESCHEDULE_TASK)
DELIVERY_ACTIONS = frozenset({EngineAction.CONFIRM_DELIVERY, EngineAction.RESEND_DELIVERY})
# The engine's steps a kind usually allows at every open stage (its `any_open_stage`, plus its own).
OPEN_CASE_ACTIONS = frozenset(EngineAction) - {EngineAction.COMPLETE_STAGE}
ADMIN = "admin"  # the role that may take every action
NEXT = "next"  # `Leads.to`: the stage after the one the action was taken in
CLOSE_EARLY = "close_early"  # the permission to close a case before its closure stage


@dataclass(frozen=True)
class KindPermission:
    """A named permission a kind declares besides its actions' (`<kind>.<name>`): who holds it by
    default, and what it lets them do (casework/people/permissions.py lists every permission)."""

    roles: frozenset[str]
    description: str


def missing_permission(name: str, what: str | None = None) -> str:
    """A refusal naming the missing permission (the API and the workflow say the same)."""
    return f"{what or 'this'} needs the permission '{name}'"


@dataclass(frozen=True)
class Leads:
    """Where an action takes the case: `to` the next stage, or back or on to the first stage of a
    kind; only when taken at a stage of one of the `from_kinds` (every stage if None)."""

    to: str = NEXT
    from_kinds: frozenset[str] | None = None


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one table per kind
class KindRules:
    """One kind of case's rule table. Actions, stage kinds and roles are plain strings the kind
    names (its own enums, usually): nothing here lists them."""

    kind: str
    actions: tuple[str, ...]  # every action of the kind, in the order a case read lists them
    stage_kinds: frozenset[str]
    stage_actions: Mapping[str, frozenset[str]]  # actions a stage kind offers
    any_open_stage: frozenset[str]  # actions allowed at every open stage
    action_roles: Mapping[str, frozenset[str]]  # who may take each action (admin may take all)
    leads: Mapping[str, Leads] = field(default_factory=dict)  # where an action moves the case
    early_close_roles: frozenset[str] = frozenset()  # who may close a case before its closure stage
    # The kind's named permissions besides one per action (`<kind>.<action>`), e.g. a route's own rule.
    permissions: Mapping[str, KindPermission] = field(default_factory=dict)
    # Optional stages with outstanding work, which cannot be skipped, from the plan, today and the
    # case's collections by name (the workflow's state and a case read from PostgreSQL alike).
    blocked: Callable[[StagePlan, date, Mapping[str, Sequence[Any]]], frozenset[str]] | None = None
    # Whether only a note's author may edit it (a comment signed by its writer); else anyone who may.
    notes_edited_by_author_only: bool = False
    # What a partner's user sees of a case about its lead (api/partner_view.py): the keys of the
    # case's details, and the kinds of timeline event besides the engine's registered, stage
    # change and closure. Nothing else of the kind's.
    partner_details: frozenset[str] = frozenset()
    partner_events: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = (set(self.stage_actions) | {TRIAGE, CLOSURE}) - self.stage_kinds
        if unknown:
            raise ValueError(f"{self.kind}: stage kinds {sorted(unknown)} are not declared")
        named = set(self.any_open_stage).union(*self.stage_actions.values(), self.action_roles, self.leads)
        if named - set(self.actions):
            raise ValueError(f"{self.kind}: actions {sorted(named - set(self.actions))} are not declared")
        clash = set(self.permissions) & {*self.actions, CLOSE_EARLY}
        if clash:
            raise ValueError(f"{self.kind}: permissions {sorted(clash)} are named like an action's or closing early's")
        for action, lead in self.leads.items():
            if lead.to != NEXT and lead.to not in self.stage_kinds:
                raise ValueError(f"{self.kind}: '{action}' leads to an undeclared stage kind {lead.to}")

    def may(self, roles: Iterable[str], action: str) -> bool:
        return role_allows(roles, self.action_roles.get(action, frozenset()))

    def permission(self, action: str) -> str:
        """The named permission taking `action` (or CLOSE_EARLY, or one of `permissions`) needs."""
        return f"{self.kind}.{action}"

    def declared_permissions(self) -> dict[str, KindPermission]:
        """Every permission of this kind by name: one per action, granted by default to the roles
        that may take it, closing early, and the kind's own."""
        found = {self.permission(action): KindPermission(roles, f"take the '{action}' step on a {self.kind} case")
                 for action, roles in self.action_roles.items()}
        if self.early_close_roles:
            found[self.permission(CLOSE_EARLY)] = KindPermission(
                self.early_close_roles, f"close a {self.kind} case before its closure stage")
        found.update({self.permission(name): grant for name, grant in self.permissions.items()})
        return found

    def refusal_of(self, roles: Iterable[str], permissions: Collection[str] | None, action: str,
                   what: str | None = None) -> str | None:
        """Why a user may not take `action` (None: they may): by its permission, or, for an actor
        recorded before permissions existed (`permissions` None), by the role rule."""
        if permissions is None:
            return self.refusal(roles, action, what)
        name = self.permission(action)
        return None if name in permissions else missing_permission(name, what or repr(str(action)))

    def refusal(self, roles: Iterable[str], action: str, what: str | None = None) -> str | None:
        """Why a user with `roles` may not take `action` (None: they may)."""
        if self.may(roles, action):
            return None
        names = ", ".join(sorted(str(r) for r in self.action_roles.get(action, frozenset())))
        return (f"{what or repr(str(action))} needs one of the roles: {names} "
                f"(you have: {', '.join(roles) or 'none'})")

    def blocked_stages(self, plan: StagePlan, today: date, collections: Mapping[str, Sequence[Any]]) -> frozenset[str]:
        return self.blocked(plan, today, collections) if self.blocked else frozenset()

    def plan(self, data: list[dict]) -> StagePlan:
        """A case type's stored stages as a plan of this kind (ValueError naming what is wrong)."""
        plan = StagePlan.from_data(data)
        for stage in plan.stages:
            if stage.kind not in self.stage_kinds:
                raise ValueError(f"stage {stage.key}: '{stage.kind}' is not a stage kind of {self.kind} cases "
                                 f"(one of: {', '.join(sorted(self.stage_kinds))})")
        return plan


def role_allows(roles: Iterable[str], allowed: frozenset[str]) -> bool:
    roles = set(roles)
    return ADMIN in roles or not roles.isdisjoint(allowed)


# Every kind's rules, by kind name: filled by each kind's rules module as it is imported.
_KINDS: dict[str, KindRules] = {}


def register_rules(rules: KindRules) -> KindRules:
    _KINDS[rules.kind] = rules
    return rules


def every_kind_rules() -> list[KindRules]:
    """Every kind's rule table."""
    import casework.kinds  # noqa: F401  (registers every kind's rules)

    return list(_KINDS.values())


def rules_of(kind: str) -> KindRules:
    """The rule table of a kind of case."""
    import casework.kinds  # noqa: F401  (registers every kind's rules)

    return _KINDS[kind]


def stage_kind_names() -> frozenset[str]:
    """Every stage kind some kind of case declares (what a deadline policy may name)."""
    import casework.kinds  # noqa: F401  (registers every kind's rules)

    return frozenset().union(*(rules.stage_kinds for rules in _KINDS.values()))


@dataclass(frozen=True)
class StageSpec:
    key: str
    kind: str
    label: str
    optional: bool = False


@dataclass(frozen=True)
class StagePlan:
    stages: tuple[StageSpec, ...]

    def __post_init__(self) -> None:
        keys = [s.key for s in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError("stage keys must be unique")
        if not self.stages or self.stages[-1].kind != CLOSURE:
            raise ValueError("a stage plan must end with a closure stage")
        if self.stages[0].kind != TRIAGE:
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

    def first_of_kind(self, kind: str) -> StageSpec | None:
        return next((stage for stage in self.stages if stage.kind == kind), None)

    def previous_of_kind(self, key: str, kind: str) -> StageSpec | None:
        for stage in reversed(self.stages[: self.index(key)]):
            if stage.kind == kind:
                return stage
        return None

    def has_kind(self, kind: str) -> bool:
        return any(s.kind == kind for s in self.stages)

    def to_data(self) -> list[dict]:
        return [{"key": s.key, "kind": str(s.kind), "label": s.label, "optional": s.optional}
                for s in self.stages]

    @classmethod
    def from_data(cls, data: list[dict]) -> StagePlan:
        """The plan of a case type's stored stages. Plans are immutable, so one is built per
        distinct list and shared: every step's projection and API answer asks for its case's."""
        key = tuple((item["key"], str(item["kind"]), item["label"], bool(item.get("optional", False)))
                    for item in data)
        plan = _PLANS.get(key)
        if plan is None:
            plan = cls(tuple(StageSpec(key=k, kind=kind, label=label, optional=optional)
                             for k, kind, label, optional in key))
            if len(_PLANS) >= 1024:  # case types are few; a bound all the same
                _PLANS.clear()
            _PLANS[key] = plan
        return plan


_PLANS: dict[tuple, StagePlan] = {}


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


def route_action(rules: KindRules, plan: StagePlan, current: str, action: str,
                 blocked: frozenset[str] = frozenset()) -> Route | Rejection:
    """Decide whether `action` may be taken with the case in stage `current`.

    `blocked` names optional stages with outstanding work, which therefore cannot be skipped.
    """
    here = plan.get(current)
    if action == COMPLETE_STAGE:
        if not here.optional:
            return _wrong_stage(here, action)
        if here.key in blocked:
            return Rejection(
                "conflict", f"stage '{here.label}' ({here.key}) still has outstanding work", here.key
            )
        return Route(here)
    if action in rules.any_open_stage or action in rules.stage_actions.get(here.kind, ()):
        return Route(here)
    # Walk forward over optional stages that have nothing outstanding.
    skipped: list[StageSpec] = []
    stage = here
    while stage.optional and stage.key not in blocked and stage is not plan.stages[-1]:
        skipped.append(stage)
        stage = plan.next_after(stage.key)
        if action in rules.stage_actions.get(stage.kind, ()):
            return Route(stage, tuple(skipped))
    return _wrong_stage(here, action)


def destination(rules: KindRules, plan: StagePlan, current: str, action: str) -> StageSpec | None:
    """Where `action`, taken at stage `current`, leads the case (None: it stays where it is)."""
    if action == COMPLETE_STAGE:
        return plan.next_after(current)
    lead = rules.leads.get(action)
    here = plan.get(current)
    if lead is None or (lead.from_kinds is not None and here.kind not in lead.from_kinds):
        return None
    if lead.to == NEXT:
        return plan.next_after(current)
    target = plan.first_of_kind(lead.to)
    if target is None:
        raise LookupError(f"the stage plan has no {lead.to} stage for '{action}' to lead to")
    return target


def _wrong_stage(here: StageSpec, action: str) -> Rejection:
    return Rejection(
        "wrong_stage",
        f"'{action}' is not allowed while the case is at stage '{here.label}' ({here.key})",
        stage=here.key,
    )


def allowed_actions(rules: KindRules, plan: StagePlan, current: str,
                    blocked: frozenset[str] = frozenset()) -> list[str]:
    return list(_allowed_actions(rules, plan, current, blocked))


@functools.lru_cache(maxsize=4096)
def _allowed_actions(rules: KindRules, plan: StagePlan, current: str,
                     blocked: frozenset[str]) -> tuple[str, ...]:
    # Routing every action is pure in its arguments, and each case read and step answer asks.
    return tuple(a for a in rules.actions if isinstance(route_action(rules, plan, current, a, blocked), Route))
