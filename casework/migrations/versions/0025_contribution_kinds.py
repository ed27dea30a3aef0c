"""contribution kinds: a complaint's contribution request names its kind, from a list

Contributions are asked of business areas, legal, finance or an outside organisation; what kind a
request is comes from the `complaint_contribution_kinds` list administrators keep. Old requests
have none.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 06:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0025'
down_revision: Union[str, None] = '0024'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KINDS = [("business_area", "Business area"), ("legal", "Legal"), ("finance", "Finance"),
         ("external", "Outside organisation")]


def upgrade() -> None:
    op.add_column("case_contribution", sa.Column("kind", sa.String(length=40), nullable=True))
    for position, (code, label) in enumerate(KINDS):
        op.execute(f"INSERT INTO reference_value (list_name, code, label, position, updated_by) "
                   f"VALUES ('complaint_contribution_kinds', '{code}', '{label}', {position}, 'migration 0025') "
                   f"ON CONFLICT DO NOTHING")


def downgrade() -> None:
    op.execute("DELETE FROM reference_value WHERE list_name = 'complaint_contribution_kinds'")
    op.drop_column("case_contribution", "kind")
