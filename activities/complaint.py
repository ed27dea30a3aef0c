"""Complaint casework's (F1) side effects beyond the engine's: the tables its own collections
(clarifications, contributions) are projected to. Imported by the kinds registry's name."""

from __future__ import annotations

from activities.projection import register_collections
from casework.platform.db import CaseClarification, CaseContribution

register_collections("complaint", {"clarifications": CaseClarification.__table__,
                                   "contributions": CaseContribution.__table__})


def activities() -> list:
    """The kind's own activities: none beyond the engine's."""
    return []
