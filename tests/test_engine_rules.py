"""The engine's rule tables, for any kind of case: branches, returns, declared names, the state
registry. A made-up kind (returns of goods, with an accept/decline branch) stands for the next ones."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from casework.cases.contracts import CaseCore, CaseTypeConfig, Correspondent
from casework.cases.jobs import ProjectCaseInput
from casework.cases.stages import (
    CLOSURE,
    TRIAGE,
    KindRules,
    Leads,
    Rejection,
    Route,
    StagePlan,
    StageSpec,
    allowed_actions,
    destination,
    role_allows,
    route_action,
    stage_kind_names,
)
from casework.kinds.complaint.contracts import ComplaintState

RULES = KindRules(
    kind="goods_return",
    actions=("allocate", "inspect", "accept", "decline", "refund", "close", "complete_stage"),
    stage_kinds=frozenset({TRIAGE, "inspection", "decision", "refund", CLOSURE}),
    stage_actions={"inspection": frozenset({"inspect"}), "decision": frozenset({"accept", "decline"}),
                   "refund": frozenset({"refund"})},
    any_open_stage=frozenset({"allocate", "close"}),
    action_roles={"inspect": frozenset({"warehouse"}), "accept": frozenset({"returns_decider"}),
                  "decline": frozenset({"returns_decider"})},
    leads={"allocate": Leads(from_kinds=frozenset({TRIAGE})), "inspect": Leads(),
           "accept": Leads(to="refund"), "decline": Leads(to=CLOSURE), "refund": Leads()},
)
PLAN = StagePlan((
    StageSpec("new", TRIAGE, "New"),
    StageSpec("inspect", "inspection", "Inspection", optional=True),
    StageSpec("decide", "decision", "Decision"),
    StageSpec("refund", "refund", "Refund"),
    StageSpec("done", CLOSURE, "Closed"),
))


def test_a_branch_leads_each_way_by_the_decision() -> None:
    assert destination(RULES, PLAN, "decide", "accept").key == "refund"
    assert destination(RULES, PLAN, "decide", "decline").key == "done"
    assert destination(RULES, PLAN, "refund", "refund").key == "done"


def test_an_action_that_moves_on_only_from_some_stages_stays_put_elsewhere() -> None:
    assert destination(RULES, PLAN, "new", "allocate").key == "inspect"
    assert destination(RULES, PLAN, "decide", "allocate") is None
    assert destination(RULES, PLAN, "decide", "close") is None  # closing is the step's own doing


def test_an_optional_stage_is_skipped_to_reach_the_action_and_reported() -> None:
    route = route_action(RULES, PLAN, "inspect", "accept")
    assert isinstance(route, Route) and route.stage.key == "decide"
    assert [s.key for s in route.skipped] == ["inspect"]
    blocked = route_action(RULES, PLAN, "inspect", "accept", frozenset({"inspect"}))
    assert isinstance(blocked, Rejection) and blocked.code == "wrong_stage" and blocked.stage == "inspect"


def test_offered_actions_follow_the_kinds_own_order() -> None:
    assert allowed_actions(RULES, PLAN, "decide") == ["allocate", "accept", "decline", "close"]


def test_roles_are_names_the_kind_chooses_and_admin_may_do_everything() -> None:
    assert RULES.may({"returns_decider"}, "accept")
    assert not RULES.may({"warehouse"}, "accept")
    assert role_allows({"admin"}, frozenset())


@pytest.mark.parametrize("broken, message", [
    ({"stage_actions": {"approval": frozenset({"accept"})}}, "stage kinds ['approval'] are not declared"),
    ({"any_open_stage": frozenset({"escalate"})}, "actions ['escalate'] are not declared"),
    ({"leads": {"accept": Leads(to="payout")}}, "leads to an undeclared stage kind payout"),
])
def test_a_rule_table_naming_what_it_does_not_declare_is_refused(broken, message) -> None:
    fields = {name: getattr(RULES, name) for name in
              ("kind", "actions", "stage_kinds", "stage_actions", "any_open_stage", "action_roles", "leads")}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        KindRules(**{**fields, **broken})


def test_a_type_whose_plan_uses_a_stage_kind_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'draft' is not a stage kind of goods_return cases"):
        RULES.plan([{"key": "new", "kind": TRIAGE, "label": "New"}, {"key": "d", "kind": "draft", "label": "D"},
                    {"key": "done", "kind": CLOSURE, "label": "Closed"}])


def test_policies_may_name_the_stage_kinds_every_registered_kind_declares() -> None:
    assert {"triage", "draft", "qa", "send", "closure"} <= stage_kind_names()


def complaint_state(**extra) -> ComplaintState:
    return ComplaintState(
        reference="COMP/000001/26", stage="triage", registered_by="Ann", registered_at=datetime.now(timezone.utc),
        case_type=CaseTypeConfig(code="COMP", name="Complaint", reference_prefix="COMP", stages=PLAN.to_data(),
                                 outcome_options=[], close_reasons=[]),
        correspondents=[Correspondent(id="c1", name="Jo", is_primary=True)],
        details={"channel": "phone", "category": "Billing", "severity": "low", "description": "d",
                 "date_received": date(2026, 1, 2)}, **extra)


def test_a_payload_carries_the_whole_state_of_its_kind_and_reads_it_back_as_that_kind() -> None:
    sent = ProjectCaseInput(state=complaint_state(outcome="Upheld"), events=[])
    read = ProjectCaseInput.model_validate_json(sent.model_dump_json())
    assert type(read.state) is ComplaintState and read.state.outcome == "Upheld"
    assert read.state.date_received == date(2026, 1, 2)


def test_a_state_recorded_before_kinds_existed_reads_as_a_complaint() -> None:
    data = complaint_state().model_dump(mode="json")
    del data["kind"]
    assert type(CaseCore.model_validate(data)) is ComplaintState


def test_every_kinds_updates_are_named_after_their_methods_and_actions() -> None:
    """The API names a step by its Update method and authorises the action of the same name
    (api.casesteps.update_name); an Update renamed with `name=` would break that."""
    from temporalio.workflow import _Definition

    from casework.cases.stages import rules_of
    from workflows.registry import KIND_WORKFLOWS

    for kind, workflow_class in KIND_WORKFLOWS.items():
        definition = _Definition.must_from_class(workflow_class)
        for name, update in definition.updates.items():
            assert name == update.fn.__name__, (kind, name)
        steps = set(definition.updates) - {"wait_registered", "apply_calendar_change"}  # the engine's own
        assert steps <= set(rules_of(kind).actions), (kind, steps - set(rules_of(kind).actions))
