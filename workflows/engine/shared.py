"""One copy of each case type and deadline policy for all the cases a worker holds.

A cached case would otherwise hold its own copy of its type's configuration, stage plan and deadline
policy (1.5 KiB a policy). Read-only: a type or policy change replaces a case's copy, never edits it.
"""

from __future__ import annotations

import json

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from casework.calendar.policies import DeadlinePolicy, policy_from_data
    from casework.cases.contracts import CaseTypeConfig
    from casework.cases.stages import StagePlan

_SHARED_TYPES: dict[str, tuple[CaseTypeConfig, StagePlan]] = {}
_SHARED_POLICIES: dict[str, DeadlinePolicy] = {}


def shared_type(config: CaseTypeConfig) -> tuple[CaseTypeConfig, StagePlan]:
    """The shared copy of `config` (equal by value) and its stage plan."""
    key = config.model_dump_json()
    shared = _SHARED_TYPES.get(key)
    if shared is None:
        shared = _SHARED_TYPES[key] = (config, StagePlan.from_data(config.stages))
    return shared


def shared_policy(data: dict | None) -> DeadlinePolicy:
    """The shared copy of the policy stored as `data` (the default one if there is none)."""
    key = json.dumps(data, sort_keys=True, default=str)
    shared = _SHARED_POLICIES.get(key)
    if shared is None:
        shared = _SHARED_POLICIES[key] = policy_from_data(data)
    return shared
