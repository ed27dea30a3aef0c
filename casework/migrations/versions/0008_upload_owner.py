"""documents: an upload remembers who uploaded it

Until it is attached to a case, an upload is readable and attachable only by the user who
uploaded it (before, anyone who learnt its id could download it or attach it to their own case).
Uploads made before this migration have no uploader and are no longer readable or attachable.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 02:15:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("ALTER TABLE case_document ADD COLUMN uploaded_by_id integer")


def downgrade() -> None:
    op.execute("ALTER TABLE case_document DROP COLUMN uploaded_by_id")
