"""Complaint casework's (F1) side effects beyond the engine's: none (its collections' tables are
declared in casework/tables/complaint.py). Imported by the kinds registry's name."""

from __future__ import annotations


def activities() -> list:
    """The kind's own activities: none beyond the engine's."""
    return []
