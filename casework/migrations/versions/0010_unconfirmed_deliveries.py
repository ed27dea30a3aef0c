"""cases: emails whose delivery was not confirmed, on the case row, findable

An email whose send was interrupted (the worker stopped after handing it to the mail server, before
recording it) is never sent again on its own; the case keeps it as unconfirmed until someone
confirms it arrived or resends it. The row carries the list, and a partial index finds the cases
that have any.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 03:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("ALTER TABLE case_record ADD COLUMN unconfirmed_deliveries jsonb NOT NULL DEFAULT '[]'")
    op.execute("CREATE INDEX ix_case_record_unconfirmed_deliveries ON case_record (team) "
               "WHERE unconfirmed_deliveries <> '[]'::jsonb")


def downgrade() -> None:
    op.execute("DROP INDEX ix_case_record_unconfirmed_deliveries")
    op.execute("ALTER TABLE case_record DROP COLUMN unconfirmed_deliveries")
