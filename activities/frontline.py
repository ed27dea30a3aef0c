"""Frontline complaint handling's (F4) side effects beyond the engine's: none (tasks and their
emails are the engine's). Imported by the kinds registry's name."""

from __future__ import annotations


def activities() -> list:
    """The kind's own activities: none beyond the engine's."""
    return []
