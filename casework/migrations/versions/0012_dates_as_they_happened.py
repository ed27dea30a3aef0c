"""complaints: clarification requests and contributions carry the dates they really happened

A clarification request sent outside the system is recorded with the day it was sent (no channel),
and a contribution with the day it actually came in.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 03:50:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("ALTER TABLE case_clarification ALTER COLUMN channel DROP NOT NULL")
    op.execute("ALTER TABLE case_clarification ADD COLUMN sent_on date")
    op.execute("ALTER TABLE case_contribution ADD COLUMN received_on date")


def downgrade() -> None:
    op.execute("ALTER TABLE case_contribution DROP COLUMN received_on")
    op.execute("ALTER TABLE case_clarification DROP COLUMN sent_on")
    op.execute("UPDATE case_clarification SET channel = 'letter' WHERE channel IS NULL")
    op.execute("ALTER TABLE case_clarification ALTER COLUMN channel SET NOT NULL")
