"""Complaint casework's (F1) side effects beyond the engine's: the tables its own collections
(clarifications, contributions) are projected to. Imported by the kinds registry's name."""

from __future__ import annotations

from activities.projection import register_collections
from casework.platform.db import CaseClarification, CaseContribution, table_of

register_collections("complaint", {"clarifications": table_of(CaseClarification),
                                   "contributions": table_of(CaseContribution)})


def activities() -> list:
    """The kind's own activities: none beyond the engine's."""
    return []
