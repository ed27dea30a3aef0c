"""case types: the team a new case of the type is routed to

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 04:15:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0018'
down_revision: Union[str, None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("ALTER TABLE case_type ADD COLUMN default_team varchar(40) REFERENCES team (code)")


def downgrade() -> None:
    op.execute("ALTER TABLE case_type DROP COLUMN default_team")
