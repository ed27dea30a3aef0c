"""deadlines and SLA clocks: case type policies, calendar closures, clock columns on the projection

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('calendar_closure',
    sa.Column('region', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('region', 'day')
    )
    # NULL: the default preset (UK public sector); the demo loader sets it explicitly.
    op.add_column('case_type', sa.Column('deadline_policy', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    # Existing rows are cases registered before clocks: no deadline, never overdue.
    op.add_column('complaint_case', sa.Column('deadline', sa.Date(), nullable=True))
    op.add_column('complaint_case', sa.Column('deadline_warning_on', sa.Date(), nullable=True))
    op.add_column('complaint_case', sa.Column('acknowledgement_due', sa.Date(), nullable=True))
    op.add_column('complaint_case', sa.Column('deadline_policy', sa.String(length=200), nullable=True))
    op.add_column('complaint_case', sa.Column('calendar_region', sa.String(length=40), nullable=True))
    op.add_column('complaint_case', sa.Column('deadline_explanation', sa.Text(), nullable=True))
    op.add_column('complaint_case', sa.Column('deadline_warned', sa.Boolean(), server_default='false', nullable=False))
    op.add_column('complaint_case', sa.Column('overdue', sa.Boolean(), server_default='false', nullable=False))
    op.add_column('complaint_case', sa.Column('overdue_since', sa.DateTime(timezone=True), nullable=True))
    op.add_column('complaint_case', sa.Column('escalated_to_manager', sa.String(length=200), nullable=True))
    op.add_column('complaint_case', sa.Column('clock_paused', sa.Boolean(), server_default='false', nullable=False))
    op.add_column('complaint_case', sa.Column('deadline_met', sa.Boolean(), nullable=True))
    op.add_column('complaint_case', sa.Column('stage_deadlines', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False))
    op.add_column('complaint_case', sa.Column('clock_pauses', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.add_column('complaint_case', sa.Column('deadline_extensions', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.create_index('ix_complaint_case_status_overdue', 'complaint_case', ['status', 'overdue'], unique=False)
    op.create_index('ix_complaint_case_deadline', 'complaint_case', ['deadline'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_complaint_case_deadline', table_name='complaint_case')
    op.drop_index('ix_complaint_case_status_overdue', table_name='complaint_case')
    for column in ('deadline_extensions', 'clock_pauses', 'stage_deadlines', 'deadline_met', 'clock_paused',
                   'escalated_to_manager', 'overdue_since', 'overdue', 'deadline_warned',
                   'deadline_explanation', 'calendar_region', 'deadline_policy', 'acknowledgement_due',
                   'deadline_warning_on', 'deadline'):
        op.drop_column('complaint_case', column)
    op.drop_column('case_type', 'deadline_policy')
    op.drop_table('calendar_closure')
