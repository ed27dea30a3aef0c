"""Who may read and change records, in one place. Each check names the permission it stands for;
until named permissions exist, a permission is granted to the roles listed here (admin may do
everything). And which leads a user of a partner organisation sees: the one rule every read of
leads, and of cases (casework.cases.visibility), applies to them."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_

from casework.cases.roles import Role
from casework.parties.models import Lead

RECORDS_READ = "records.read"
LEADS_READ = "leads.read"  # leads, their ledgers and activity histories: partners too, their own
RECORDS_SYNC = "records.sync"
LEDGER_POST = "ledger.post"
LEDGER_REVERSE = "ledger.reverse"

STAFF = frozenset({Role.HANDLER, Role.COORDINATOR, Role.DRAFTER, Role.QA_REVIEWER, Role.MANAGER, Role.ADMIN,
                   Role.OPERATIONS})

ROLES_GRANTED: dict[str, frozenset[str]] = {
    RECORDS_READ: STAFF | {Role.INTEGRATION},
    LEADS_READ: STAFF | {Role.INTEGRATION, Role.PARTNER},
    # The systems of record keep the records in sync, and post the fees they charge.
    RECORDS_SYNC: frozenset({Role.ADMIN, Role.INTEGRATION}),
    LEDGER_POST: frozenset({Role.ADMIN, Role.INTEGRATION, Role.MANAGER}),
    # Reversing a fee is a decision (a lead return accepted): managers, and the systems of record.
    LEDGER_REVERSE: frozenset({Role.ADMIN, Role.INTEGRATION, Role.MANAGER}),
}

# What each permission is called in a refusal ("syncing records needs one of the roles: ...").
DOING = {RECORDS_READ: "reading records", LEADS_READ: "reading leads", RECORDS_SYNC: "syncing records",
         LEDGER_POST: "posting to the ledger",
         LEDGER_REVERSE: "reversing a ledger transaction"}


def partner_leads(partners: frozenset[str]) -> ColumnElement[bool]:
    """The leads a member of these partners sees: those it introduced or was referred. Anything
    else is "not found" to them (404), like a lead that does not exist."""
    theirs = sorted(partners)
    return or_(Lead.introducer.in_(theirs), Lead.referral_partner.in_(theirs))
