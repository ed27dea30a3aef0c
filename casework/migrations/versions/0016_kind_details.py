"""cases: a kind's own fields in one jsonb column of the core row

The core row's channel, category, severity and description are complaint casework's; a new kind
keeps its own fields in `details` (CaseCore.kind_details), GIN-indexed so a list filters on them
with containment (`details @> '{"status": "disputed"}'`).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 04:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0016'
down_revision: Union[str, None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("ALTER TABLE case_record ADD COLUMN details jsonb NOT NULL DEFAULT '{}'")
    op.execute("CREATE INDEX ix_case_record_details ON case_record USING gin (details jsonb_path_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_case_record_details")
    op.execute("ALTER TABLE case_record DROP COLUMN details")
