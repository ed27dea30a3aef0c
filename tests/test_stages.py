"""Transition rules of stage plans: pure functions, no services."""

from __future__ import annotations

import pytest

from casework.kinds.complaint.rules import (
    STANDARD_COMPLAINT_PLAN as PLAN,
    Action,
    StageKind,
    allowed_actions,
    route_action,
)
from casework.cases.stages import EngineAction, Rejection, Route, StagePlan, StageSpec, role_allows
from casework.cases.roles import Role

OWN_ACTIONS = {
    "acknowledgement": Action.ACKNOWLEDGE,
    "clarification": Action.REQUEST_CLARIFICATION,
    "contributions": Action.REQUEST_CONTRIBUTION,
    "draft": Action.SUBMIT_DRAFT,
    "qa": Action.APPROVE_DRAFT,
    "send": Action.SEND_RESPONSE,
    "outcome": Action.RECORD_OUTCOME,
}


@pytest.mark.parametrize("stage,action", OWN_ACTIONS.items())
def test_each_stage_allows_its_own_action(stage, action):
    route = route_action(PLAN, stage, action)
    assert isinstance(route, Route) and route.stage.key == stage and route.skipped == ()


@pytest.mark.parametrize("stage", [s.key for s in PLAN.stages])
@pytest.mark.parametrize("action", [EngineAction.ALLOCATE, EngineAction.CLOSE, EngineAction.ADD_NOTE, EngineAction.ADD_DOCUMENT,
                                    Action.RECORD_CLARIFICATION_REPLY, EngineAction.EXTEND_DEADLINE,
                                    EngineAction.CHANGE_TYPE])
def test_any_open_stage_actions(stage, action):
    assert isinstance(route_action(PLAN, stage, action), Route)


@pytest.mark.parametrize("stage,action", [
    ("triage", Action.ACKNOWLEDGE), ("acknowledgement", Action.SUBMIT_DRAFT),
    ("draft", Action.APPROVE_DRAFT), ("qa", Action.SEND_RESPONSE), ("send", Action.RECORD_OUTCOME),
    ("outcome", Action.SUBMIT_DRAFT), ("contributions", Action.REQUEST_CLARIFICATION),
    ("draft", EngineAction.COMPLETE_STAGE), ("qa", Action.SUBMIT_DRAFT),
])
def test_wrong_stage_is_rejected_naming_the_stage(stage, action):
    result = route_action(PLAN, stage, action)
    assert isinstance(result, Rejection) and result.code == "wrong_stage" and result.stage == stage
    assert PLAN.get(stage).label in result.message


def test_optional_stages_are_skipped_and_reported():
    route = route_action(PLAN, "clarification", Action.SUBMIT_DRAFT)
    assert route.stage.key == "draft"
    assert [s.key for s in route.skipped] == ["clarification", "contributions"]
    route = route_action(PLAN, "clarification", Action.REQUEST_CONTRIBUTION)
    assert route.stage.key == "contributions" and [s.key for s in route.skipped] == ["clarification"]


def test_outstanding_work_blocks_skipping_and_completing():
    blocked = frozenset({"contributions"})
    assert isinstance(route_action(PLAN, "contributions", Action.SUBMIT_DRAFT, blocked), Rejection)
    assert isinstance(route_action(PLAN, "clarification", Action.SUBMIT_DRAFT, blocked), Rejection)
    result = route_action(PLAN, "contributions", EngineAction.COMPLETE_STAGE, blocked)
    assert isinstance(result, Rejection) and result.code == "conflict"
    assert isinstance(route_action(PLAN, "contributions", EngineAction.COMPLETE_STAGE), Route)


def test_allowed_actions_lists_what_the_api_offers():
    # Routing allows the delivery and task steps at any open stage; a case read offers them only while
    # an email awaits confirmation, or a task is open (api.casesteps.assemble_case_read).
    assert set(allowed_actions(PLAN, "triage")) == {"allocate", "add_document", "close", "add_note",
                                                    "edit_note", "record_clarification_reply",
                                                    "extend_deadline", "change_type",
                                                    "confirm_delivery", "resend_delivery", "add_task",
                                                    "complete_task", "cancel_task", "reassign_task",
                                                    "reschedule_task", "refer_to_manager", "record_authority"}
    assert "return_to_triage" in allowed_actions(PLAN, "qa")
    assert "approve_draft" in allowed_actions(PLAN, "qa")
    assert "submit_draft" not in allowed_actions(PLAN, "clarification", frozenset({"clarification"}))


def test_plans_round_trip_and_are_validated():
    assert StagePlan.from_data(PLAN.to_data()) == PLAN
    with pytest.raises(ValueError, match="closure"):
        StagePlan((StageSpec("triage", StageKind.TRIAGE, "Allocation"),))
    with pytest.raises(ValueError, match="unique"):
        StagePlan((StageSpec("a", StageKind.TRIAGE, "A"), StageSpec("a", StageKind.CLOSURE, "B")))
    with pytest.raises(ValueError, match="triage"):
        StagePlan((StageSpec("c", StageKind.CLOSURE, "C"),))


def test_a_plan_without_qa_goes_from_draft_to_send():
    plan = StagePlan((StageSpec("t", StageKind.TRIAGE, "Triage"), StageSpec("d", StageKind.DRAFT, "Draft"),
                      StageSpec("s", StageKind.SEND, "Send"), StageSpec("c", StageKind.CLOSURE, "Close")))
    assert plan.next_after("d").key == "s" and not plan.has_kind(StageKind.QA)
    assert plan.previous_of_kind("s", StageKind.DRAFT).key == "d"


def test_roles():
    assert role_allows({"coordinator"}, frozenset({Role.COORDINATOR}))
    assert not role_allows({"drafter"}, frozenset({Role.COORDINATOR}))
    assert role_allows({"admin"}, frozenset({Role.QA_REVIEWER}))


def test_equal_stage_lists_share_one_plan_and_different_ones_do_not() -> None:
    data = PLAN.to_data()

    first, again = StagePlan.from_data(data), StagePlan.from_data([dict(item) for item in data])
    relabelled = StagePlan.from_data([{**item, "label": item["label"].upper()} for item in data])

    assert first is again and first == PLAN
    assert relabelled is not first and relabelled.first.label == "ALLOCATION"
