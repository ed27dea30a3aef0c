"""The roles a deployment starts with. Not a closed list: a kind of case may grant its actions to
any role name, and an administrator may give a user any role; these are the names the default
rules, the demo data and the core checks (who sees every team, who administers) use."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    HANDLER = "handler"
    COORDINATOR = "coordinator"
    DRAFTER = "drafter"
    QA_REVIEWER = "qa_reviewer"
    MANAGER = "manager"
    ADMIN = "admin"  # may take every action (casework.cases.stages.ADMIN)
    OPERATIONS = "operations"
    INTEGRATION = "integration"  # a CRM or ERP keeping records in sync (casework.parties.access)
    AGENT = "agent"  # raises complaints against leads (casework/kinds/lead_complaint)
    COMPLIANCE = "compliance"  # works the lead complaints queue (casework/kinds/lead_complaint)
    PARTNER = "partner"  # a user of a partner organisation: its own leads only (casework.parties.access)
