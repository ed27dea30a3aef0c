"""cases: complaint_case becomes case_record, the core row of every kind of case, with its kind;
a case type belongs to a kind

Four more kinds of case (lead complaints, customer complaints, frontline handling, lead returns)
share one core row: reference, kind, type, status, stage, team, owner, parties, deadlines and dates,
which every list, search, statistic, digest and visibility rule reads. A kind's own details are its
columns here (nullable where another kind has none) or its own tables, registered with the
projection. Renaming keeps the data, the indexes (renamed to match) and their statistics.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 01:30:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Complaint casework's columns that another kind of case may not have.
KIND_COLUMNS = ("channel", "category", "severity", "description")


def _rename_indexes(old: str, new: str) -> None:
    op.execute(f"""
        DO $$
        DECLARE ix record;
        BEGIN
            FOR ix IN SELECT indexname FROM pg_indexes
                      WHERE schemaname = current_schema() AND indexname LIKE '%{old}%' LOOP
                EXECUTE format('ALTER INDEX %I RENAME TO %I', ix.indexname,
                               replace(ix.indexname, '{old}', '{new}'));
            END LOOP;
        END $$""")


def upgrade() -> None:
    op.execute("ALTER TABLE complaint_case RENAME TO case_record")
    _rename_indexes("complaint_case", "case_record")
    op.execute("ALTER TABLE case_record ADD COLUMN kind varchar(40) NOT NULL DEFAULT 'complaint'")
    op.execute("CREATE INDEX ix_case_record_kind_status ON case_record (kind, status)")
    op.execute("ALTER TABLE case_type ADD COLUMN kind varchar(40) NOT NULL DEFAULT 'complaint'")
    for column in KIND_COLUMNS:
        op.execute(f"ALTER TABLE case_record ALTER COLUMN {column} DROP NOT NULL")


def downgrade() -> None:
    for column in KIND_COLUMNS:
        op.execute(f"UPDATE case_record SET {column} = '' WHERE {column} IS NULL")
        op.execute(f"ALTER TABLE case_record ALTER COLUMN {column} SET NOT NULL")
    op.execute("ALTER TABLE case_type DROP COLUMN kind")
    op.execute("DROP INDEX ix_case_record_kind_status")
    op.execute("ALTER TABLE case_record DROP COLUMN kind")
    _rename_indexes("case_record", "complaint_case")
    op.execute("ALTER TABLE case_record RENAME TO complaint_case")
