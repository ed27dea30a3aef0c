"""search: finer statistics for the columns name and reference searches match against

A search pages its results in date order (`ORDER BY date_received DESC, reference DESC LIMIT n`),
so for every filter PostgreSQL weighs two plans: find the matching rows through the filter's own
index and sort them, or walk the cases in date order and test each one until the page is full. The
second is right only when many rows match. For a name fragment (`ILIKE '%Eilidh Mac%'`) PostgreSQL
estimates the share of matches from the column's histogram: with the default 100 buckets one bucket
matching the fragment reads as 1% of the table, none as almost nothing. Which way a sample falls
decides the plan: at 1M cases `make bench` measured 4.3 s instead of 10 ms, and 1 ANALYZE in 30
chose the date-order walk (4 in 120). With 1,000 buckets on these columns it chose it in none of
240 (2026-11-24, the bench's million cases, a fresh ANALYZE before each plan).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 13:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The columns searched by fragment or prefix, and the statistics target each gets.
COLUMNS = (("case_correspondent", "name"), ("complaint_case", "complainant_name"),
           ("complaint_case", "reference"))
TARGET = 1000


def upgrade() -> None:
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS {TARGET}")
        op.execute(f"ANALYZE {table} ({column})")


def downgrade() -> None:
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS -1")
