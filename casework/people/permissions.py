"""Named permissions: the registry, and what a user holds. Pure: no database, no HTTP.

A permission is `<area>.<what>` (`complaint.allocate`, `templates.manage`). Each kind of case's
actions are permissions `<kind>.<action>` held by default by the roles its rule table names
(`KindRules.action_roles`), with its own extra ones (`KindRules.permissions`); any other module
declares its own in one line, where it checks it:

    MANAGE_TEMPLATES = declare("templates.manage", "upload, list and preview templates", {Role.ADMIN})

What a user holds: the defaults of their roles, the permissions an administrator granted to one of
their roles or to them, and, for an administrator, every permission.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from casework.cases.stages import ADMIN, every_kind_rules

NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


@dataclass(frozen=True)
class Permission:
    name: str
    description: str
    default_roles: frozenset[str]  # who holds it without a grant (admin holds every permission)


_DECLARED: dict[str, Permission] = {}


def declare(name: str, description: str, default_roles: Iterable[str]) -> str:
    """Register a permission (once per process; the same declaration again is a no-op) and
    return its name, for the `require_permission` that checks it."""
    if not NAME.fullmatch(name):
        raise ValueError(f"permission {name!r} is not of the form <area>.<what> (lowercase, digits, _)")
    permission = Permission(name, description, frozenset(str(r) for r in default_roles))
    if _DECLARED.setdefault(name, permission) != permission:
        raise ValueError(f"permission {name!r} is declared twice, differently")
    return name


def registry() -> dict[str, Permission]:
    """Every permission by name: those declared and every kind of case's."""
    found = dict(_DECLARED)
    for rules in every_kind_rules():
        for name, grant in rules.declared_permissions().items():
            found[name] = Permission(name, grant.description, frozenset(str(r) for r in grant.roles))
    return dict(sorted(found.items()))


@functools.cache  # the kinds are all registered on first use (every_kind_rules imports them)
def kind_permission_names() -> frozenset[str]:
    """The permissions of case steps (what a step's actor carries to the workflow)."""
    return frozenset().union(*(rules.declared_permissions() for rules in every_kind_rules()))


def known_roles(extra: Iterable[str] = ()) -> frozenset[str]:
    """Roles a user may be given: the administrator, those some permission names by default, and
    `extra` (the roles an administrator granted a permission to)."""
    return frozenset({ADMIN, *extra}).union(*(p.default_roles for p in registry().values()))


def effective(roles: Iterable[str], granted: Iterable[str] = ()) -> frozenset[str]:
    """What a user with `roles` holds, given the permissions granted to those roles and to them."""
    roles = set(roles)
    every = registry()
    if ADMIN in roles:
        return frozenset(every)
    defaults = {name for name, p in every.items() if not roles.isdisjoint(p.default_roles)}
    return frozenset(defaults | (set(granted) & set(every)))


PEOPLE_ADMINISTER = declare(
    "people.administer",
    "create and edit users and teams, issue and revoke tokens, grant permissions, read the audit trail",
    {ADMIN})
