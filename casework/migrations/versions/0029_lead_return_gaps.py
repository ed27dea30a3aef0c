"""lead returns: the lead search's return filters read each lead's latest return along an index;
replacement leads (offered per lead group; each lead replaces at most one returned lead)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 06:30:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0029'
down_revision: Union[str, None] = '0028'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A lead's latest return (its return status in the lead search): DISTINCT ON the lead, newest first.
    op.execute("CREATE INDEX ix_case_record_lead_return_latest ON case_record "
               "((details->>'lead_id'), registered_at DESC, reference DESC) WHERE kind = 'lead_return'")
    op.execute("ALTER TABLE lead_return_settings ADD COLUMN replacements boolean")
    # A replacement lead sent for an accepted return: one per return, and a lead replaces one return only.
    op.execute("""
        CREATE TABLE lead_return_replacement (
            reference varchar(40) PRIMARY KEY,
            lead varchar(100) NOT NULL UNIQUE,
            returned_lead varchar(100) NOT NULL,
            partner varchar(100) NOT NULL,
            linked_by varchar(200) NOT NULL,
            linked_at timestamptz NOT NULL DEFAULT now()
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE lead_return_replacement")
    op.execute("ALTER TABLE lead_return_settings DROP COLUMN replacements")
    op.execute("DROP INDEX ix_case_record_lead_return_latest")
