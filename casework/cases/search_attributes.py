"""The search attributes every case carries in Temporal, written once.

Every kind of case shares this one set: the Temporal server (dev server, compose, a real cluster)
registers it, the workflow engine upserts it, and operations filter cases by it in the Web UI. A
cluster on PostgreSQL visibility allows a namespace at most 10 Keyword, 3 Datetime, 3 Bool, 3 Int,
3 Double, 3 Text and 3 KeywordList attributes (tests/test_search_attribute_budget.py keeps us under).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_REFERENCE = SearchAttributeKey.for_keyword("CaseReference")
CASE_KIND = SearchAttributeKey.for_keyword("CaseKind")  # complaint, lead_complaint, ... (set at start)
CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")  # the stage's label, or Closed
CASE_TEAM = SearchAttributeKey.for_keyword("CaseTeam")
CASE_ASSIGNEE = SearchAttributeKey.for_keyword("CaseAssignee")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
CASE_DEADLINE = SearchAttributeKey.for_datetime("CaseDeadline")  # the response due date, midnight UTC
CASE_OVERDUE = SearchAttributeKey.for_bool("CaseOverdue")
# What the case is about in its kind's own terms, as a code: a complaint's category, a lead
# complaint's type, a customer complaint's or a lead return's reason, a frontline contact's issue.
CASE_CATEGORY = SearchAttributeKey.for_keyword("CaseCategory")
# The records the case is about, as "<party type>:<external id>" (`lead:L-5001`, `customer:C-1`).
CASE_PARTIES = SearchAttributeKey.for_keyword_list("CaseParties")

ALL_KEYS: tuple[SearchAttributeKey, ...] = (
    CASE_REFERENCE, CASE_KIND, CASE_TYPE, CASE_STAGE, CASE_TEAM, CASE_ASSIGNEE, CASE_STATUS,
    CASE_DEADLINE, CASE_OVERDUE, CASE_CATEGORY, CASE_PARTIES,
)

_TYPE_NAMES = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "BOOL": "Bool", "INT": "Int",
               "FLOAT": "Double", "TEXT": "Text", "KEYWORD_LIST": "KeywordList"}

# Name -> Temporal type name, as `temporal operator search-attribute create --type` takes it.
SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: _TYPE_NAMES[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")]
    for key in ALL_KEYS
}

# Visibility queries: a case's workflow still running; one of them whose workflow task keeps
# failing (the server sets TemporalReportedProblems after 3 failures in a row).
OPEN_CASES = "ExecutionStatus = 'Running' AND CaseReference IS NOT NULL"
STUCK_CASES = f"{OPEN_CASES} AND TemporalReportedProblems IS NOT NULL"
