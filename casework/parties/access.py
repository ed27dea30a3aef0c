"""Who may read and change records, in one place. Each check names the permission it stands for;
until named permissions exist, a permission is granted to the roles listed here (admin may do
everything)."""

from __future__ import annotations

from casework.cases.roles import Role

RECORDS_READ = "records.read"
RECORDS_SYNC = "records.sync"
LEDGER_POST = "ledger.post"
LEDGER_REVERSE = "ledger.reverse"

STAFF = frozenset({Role.HANDLER, Role.COORDINATOR, Role.DRAFTER, Role.QA_REVIEWER, Role.MANAGER, Role.ADMIN,
                   Role.OPERATIONS})

ROLES_GRANTED: dict[str, frozenset[str]] = {
    RECORDS_READ: STAFF | {Role.INTEGRATION},
    # The systems of record keep the records in sync, and post the fees they charge.
    RECORDS_SYNC: frozenset({Role.ADMIN, Role.INTEGRATION}),
    LEDGER_POST: frozenset({Role.ADMIN, Role.INTEGRATION, Role.MANAGER}),
    # Reversing a fee is a decision (a lead return accepted): managers, and the systems of record.
    LEDGER_REVERSE: frozenset({Role.ADMIN, Role.INTEGRATION, Role.MANAGER}),
}

# What each permission is called in a refusal ("syncing records needs one of the roles: ...").
DOING = {RECORDS_READ: "reading records", RECORDS_SYNC: "syncing records", LEDGER_POST: "posting to the ledger",
         LEDGER_REVERSE: "reversing a ledger transaction"}
