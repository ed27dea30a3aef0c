"""correspondents: a representative's letter of authority, required and received

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 04:25:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0019'
down_revision: Union[str, None] = '0018'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("ALTER TABLE case_correspondent ADD COLUMN authority_required boolean NOT NULL DEFAULT false, "
               "ADD COLUMN authority_received_on date, ADD COLUMN authority_document_id varchar(36)")


def downgrade() -> None:
    op.execute("ALTER TABLE case_correspondent DROP COLUMN authority_required, "
               "DROP COLUMN authority_received_on, DROP COLUMN authority_document_id")
