"""The lists code declares, by name: what each holds and which list its values hang under."""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = re.compile(r"^[a-z][a-z0-9_]{1,59}$")


@dataclass(frozen=True)
class ListSpec:
    name: str
    description: str
    parent: str | None = None  # the list each value's parent code is on
    targets: bool = False  # its values may carry a working-day target (target_working_days)


_DECLARED: dict[str, ListSpec] = {}


def declare_list(name: str, description: str, parent: str | None = None, *, targets: bool = False) -> str:
    """Declare a list (once per process; the same declaration again is a no-op) and return its
    name. A parent list is declared before its children. `targets`: an administrator may give each
    value a working-day target, which the cases picking it are due within."""
    if not NAME.fullmatch(name):
        raise ValueError(f"list name {name!r} must be lowercase letters, digits and _ (2-60)")
    if parent is not None and parent not in _DECLARED:
        raise ValueError(f"list {name!r}: its parent list {parent!r} is not declared")
    spec = ListSpec(name, description, parent, targets)
    if _DECLARED.setdefault(name, spec) != spec:
        raise ValueError(f"list {name!r} is declared twice, differently")
    return name


def declared_lists() -> dict[str, ListSpec]:
    return dict(_DECLARED)


def list_spec(name: str) -> ListSpec | None:
    return _DECLARED.get(name)
