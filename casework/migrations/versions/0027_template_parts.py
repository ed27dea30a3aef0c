"""template parts: a template made of named texts (the frontline call script)

A frontline call script version is the brand, the follow-up script and, per contact channel, what
the agent says (acknowledgement, apology, next steps): named texts kept together as one version of
the template library (channel 'script') in `parts`.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 06:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0027'
down_revision: Union[str, None] = '0026'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("template_version", sa.Column("parts", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("template_version", "parts")
