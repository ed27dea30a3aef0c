"""Complaint casework's own collections (clarifications, contributions) and their tables."""

from casework.cases.collections import Collection, register_collections
from casework.platform.db import CaseClarification, CaseContribution, table_of

register_collections("complaint", {
    "clarifications": Collection(table_of(CaseClarification), "requested_at"),
    "contributions": Collection(table_of(CaseContribution), "requested_at"),
})
