"""documents: the id of the user who added one (case_document.added_by_id)

A draft's review is refused to anyone who wrote a version of it (four eyes), compared by user id:
the display name documents kept so far is not unique. Nullable: documents added before, and those
the system makes (letters, emails), have none.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 02:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('case_document', sa.Column('added_by_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('case_document', 'added_by_id')
