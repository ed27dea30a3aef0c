"""Each kind of case's own rules and payloads, pure: one subpackage per kind, none importing another.

Importing this package registers every kind's rule table with the engine (`casework.cases.stages`).
A kind's state class registers itself when its `contracts` module is imported (and is imported by
kind name when a payload names a kind not loaded yet). `KINDS` is the registry: the worker runs
`workflows.<kind>.WORKFLOW` and `activities.<kind>`'s activities, and the API serves
`api.routes.<kind>.router`, for every kind named here. Adding a kind is a module or package in each
of those layers, its rules and payloads here, this line, and a migration.
"""

from casework.kinds.complaint import rules as _complaint_rules  # noqa: F401
from casework.kinds.customer_complaint import rules as _customer_complaint_rules  # noqa: F401
from casework.kinds.frontline import rules as _frontline_rules  # noqa: F401
from casework.kinds.lead_complaint import rules as _lead_complaint_rules  # noqa: F401
from casework.kinds.lead_return import rules as _lead_return_rules  # noqa: F401

KINDS = ("complaint", "customer_complaint", "lead_complaint", "lead_return", "frontline")
