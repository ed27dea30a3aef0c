"""The case engine: what every kind of case shares (see base.py). A kind author reads base.py and
docs/adding-a-kind-of-case.md; versioning, activity options, shared caches and search attributes
are machinery behind it."""

from workflows.engine.base import CaseWorkflow
from workflows.engine.clock import deadlines_input
from workflows.engine.errors import CONFLICT, FORBIDDEN, INVALID, NOT_VISIBLE, WRONG_STAGE, conflict, forbidden, invalid
from workflows.engine.search_attributes import search_attributes
from workflows.engine.shared import shared_policy, shared_type
from workflows.engine.versioning import ALL_PATCHES, CLOCK_PATCH, PATCH_SETS

__all__ = ["CaseWorkflow", "deadlines_input", "search_attributes", "shared_policy", "shared_type",
           "ALL_PATCHES", "CLOCK_PATCH", "PATCH_SETS", "CONFLICT", "FORBIDDEN", "INVALID", "NOT_VISIBLE",
           "WRONG_STAGE", "conflict", "forbidden", "invalid"]
