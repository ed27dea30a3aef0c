"""Lead complaints' (F2) side effects beyond the engine's: none (its resolutions and disputes are
kept in the case's `details`). Imported by the kinds registry's name."""

from __future__ import annotations


def activities() -> list:
    """The kind's own activities: none beyond the engine's."""
    return []
