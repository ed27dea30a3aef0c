"""Each kind of case's own rules and payloads, pure: one subpackage per kind, none importing another.

Importing this package registers every kind's rule table with the engine (`casework.cases.stages`).
A kind's state class registers itself when its `contracts` module is imported (and is imported by
kind name when a payload names a kind not loaded yet). Adding a kind adds a line here, one in
`workflows/__init__.py`, `activities/__init__.py` and `api/main.py`, and a migration.
"""

from casework.kinds.complaint import rules as _complaint_rules  # noqa: F401

KINDS = ("complaint",)
