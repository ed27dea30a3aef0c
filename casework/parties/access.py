"""Who may read and change records, in one place. Each check names the permission it stands for;
each is granted by default to the roles listed here (admin holds every permission), and an
administrator grants it to others (docs/people-and-permissions.md). And which leads a user of a
partner organisation sees: the one rule every read of leads, and of cases
(casework.cases.visibility), applies to them."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_

from casework.cases.roles import Role
from casework.parties.models import Lead
from casework.people.permissions import declare

STAFF = frozenset({Role.HANDLER, Role.COORDINATOR, Role.DRAFTER, Role.QA_REVIEWER, Role.MANAGER, Role.ADMIN,
                   Role.OPERATIONS, Role.AGENT, Role.COMPLIANCE})

RECORDS_READ = declare("records.read", "read customers, partners, lead groups, contracts, invoices and "
                       "their activity history", STAFF | {Role.INTEGRATION})
# Leads, their ledgers and activity histories: partners' users too, their own leads only.
LEADS_READ = declare("leads.read", "read leads, their ledgers and activity history (a partner's users: "
                     "their own leads only)", STAFF | {Role.INTEGRATION, Role.PARTNER})
# The systems of record keep the records in sync, and post the fees they charge.
RECORDS_SYNC = declare("records.sync", "create and update records (PUT by external id, bulk import)",
                       {Role.INTEGRATION})
LEDGER_POST = declare("ledger.post", "post a transaction (fee, commission) to a lead's ledger",
                      {Role.INTEGRATION, Role.MANAGER})
# Reversing a fee is a decision (a lead return accepted): managers, and the systems of record.
LEDGER_REVERSE = declare("ledger.reverse", "reverse a transaction on a lead's ledger (a new row)",
                         {Role.INTEGRATION, Role.MANAGER})

# What each permission is called in a refusal ("syncing records needs one of the roles: ...").
DOING = {RECORDS_READ: "reading records", LEADS_READ: "reading leads", RECORDS_SYNC: "syncing records",
         LEDGER_POST: "posting to the ledger",
         LEDGER_REVERSE: "reversing a ledger transaction"}


def partner_leads(partners: frozenset[str]) -> ColumnElement[bool]:
    """The leads a member of these partners sees: those it introduced or was referred. Anything
    else is "not found" to them (404), like a lead that does not exist."""
    theirs = sorted(partners)
    return or_(Lead.introducer.in_(theirs), Lead.referral_partner.in_(theirs))
