"""The search attributes and current details a case shows in the Temporal Web UI."""

from __future__ import annotations

from datetime import datetime, time, timezone

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from casework.cases.contracts import CaseCore
    from casework.cases.search_attributes import (
        CASE_ASSIGNEE,
        CASE_CATEGORY,
        CASE_DEADLINE,
        CASE_KIND,
        CASE_OVERDUE,
        CASE_PARTIES,
        CASE_REFERENCE,
        CASE_STAGE,
        CASE_STATUS,
        CASE_TEAM,
        CASE_TYPE,
    )


def search_attributes(state: CaseCore, stage_label: str) -> TypedSearchAttributes:
    """What a case is found by. The kind is set once, when the case starts."""
    return TypedSearchAttributes([SearchAttributePair(CASE_KIND, state.kind),
                                  *_changing_attributes(state, stage_label, what_about=True)])


def _changing_attributes(state: CaseCore, stage_label: str, *, what_about: bool) -> list[SearchAttributePair]:
    pairs: list[SearchAttributePair] = [
        SearchAttributePair(CASE_REFERENCE, state.reference),
        SearchAttributePair(CASE_TYPE, state.case_type.code),
        SearchAttributePair(CASE_STAGE, stage_label),
        SearchAttributePair(CASE_TEAM, state.team or ""),
        SearchAttributePair(CASE_ASSIGNEE, state.assignee_name or ""),
        SearchAttributePair(CASE_STATUS, state.status.value),
    ]
    if state.clock is not None:
        pairs += [
            # The due date as midnight UTC; filter with `CaseDeadline < "2026-12-01T00:00:00Z"`.
            SearchAttributePair(CASE_DEADLINE, datetime.combine(state.clock.deadline, time.min, timezone.utc)),
            SearchAttributePair(CASE_OVERDUE, state.clock.overdue),
        ]
    if what_about:  # what the case is about (patch PARTY_AND_CATEGORY_ATTRIBUTES in a running case)
        pairs.append(SearchAttributePair(CASE_CATEGORY, state.category_code()))
        parties = state.party_keys()
        if parties:  # none: nothing to find it by (and nothing to write at every step)
            pairs.append(SearchAttributePair(CASE_PARTIES, parties))
    return pairs


def upsert_search_attributes(state: CaseCore, stage_label: str, *, only_changed: bool,
                             what_about: bool = False) -> None:
    """Show the case's attributes (only those it changed, with `only_changed`); `what_about`: its
    category and parties too, which a case started before they existed gets at its next step."""
    pairs = _changing_attributes(state, stage_label, what_about=what_about)
    if only_changed:
        indexed = workflow.info().typed_search_attributes
        pairs = [pair for pair in pairs if _indexed(indexed, pair) != pair.value]
    if pairs:
        workflow.upsert_search_attributes([pair.key.value_set(pair.value) for pair in pairs])


def _indexed(indexed: TypedSearchAttributes, pair: SearchAttributePair) -> object:
    value = indexed.get(pair.key)
    return list(value) if isinstance(value, (list, tuple)) else value
