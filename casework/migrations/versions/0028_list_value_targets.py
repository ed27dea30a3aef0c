"""reference lists: a working-day target on a list value (a lead complaint type's resolution target)

A list declared with targets (lead complaint types) lets an administrator give each value a
number of working days; a case filed with that value is due within them instead of its case
type's response days. NULL: the case type's deadline policy applies, as before.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 06:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0028'
down_revision: Union[str, None] = '0027'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("reference_value", sa.Column("target_working_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("reference_value", "target_working_days")
