"""reference lists: the values an administrator maintains for every list code declares

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 04:10:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0017'
down_revision: Union[str, None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE reference_value (
            list_name varchar(60) NOT NULL,
            code varchar(100) NOT NULL,
            label varchar(100) NOT NULL,
            parent_code varchar(100),
            active boolean NOT NULL DEFAULT true,
            position integer NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by varchar(200) NOT NULL,
            PRIMARY KEY (list_name, code)
        )""")
    op.execute("CREATE INDEX ix_reference_value_list_active ON reference_value (list_name, active, position)")


def downgrade() -> None:
    op.execute("DROP TABLE reference_value")
