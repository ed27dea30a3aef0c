"""search: a team's overdue cases in page order (newest received first), each way of being overdue

The case search finds overdue cases as a UNION ALL of the two ways a case is overdue
(casework.reporting.search.overdue_ways). Each half walks one of these indexes in the page's order
(team, then date received and reference) and the page stops once it is full; with the team alone
in the index, PostgreSQL read every overdue case of the team and sorted them (p95 1.4 s at 10M
cases). The second index holds the deadline too, so the walk tests "deadline passed" in the index
and touches the table only for the cases it returns.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05 09:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0030'
down_revision: Union[str, None] = '0029'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index('ix_case_record_team_flagged_overdue', table_name='case_record')
    op.create_index('ix_case_record_team_overdue_received', 'case_record',
                    ['team', 'date_received', 'reference'], unique=False,
                    postgresql_where=sa.text('overdue'))
    op.create_index('ix_case_record_team_late_received', 'case_record',
                    ['team', 'date_received', 'reference', 'deadline'], unique=False,
                    postgresql_where=sa.text("status = 'open' AND deadline_met IS NULL AND NOT overdue"))


def downgrade() -> None:
    op.drop_index('ix_case_record_team_late_received', table_name='case_record')
    op.drop_index('ix_case_record_team_overdue_received', table_name='case_record')
    op.create_index('ix_case_record_team_flagged_overdue', 'case_record', ['team'], unique=False,
                    postgresql_where=sa.text('overdue'))
