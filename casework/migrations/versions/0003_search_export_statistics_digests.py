"""search, export, statistics and digests

Indexes for the case search (trigram for partial names, btree for exact values and sort orders,
partial indexes for overdue), per-user case-type grants, digest subscriptions, and outbox rows
that belong to no single case (digests).

`deadline` and `overdue` come from 0002 (deadlines); (deadline, reference) here supersedes its
plain deadline index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Trusted since PostgreSQL 13: the database owner may create it without superuser rights.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.drop_index('ix_complaint_case_deadline', table_name='complaint_case')

    # (date_received, reference) serves everything (date_received) did, and keyset pages too.
    op.drop_index('ix_complaint_case_date_received', table_name='complaint_case')
    op.create_index('ix_complaint_case_received_ref', 'complaint_case',
                    ['date_received', 'reference'], unique=False)
    op.create_index('ix_complaint_case_deadline_ref', 'complaint_case', ['deadline', 'reference'],
                    unique=False)
    op.create_index('ix_complaint_case_complainant_ref', 'complaint_case',
                    ['complainant_name', 'reference'], unique=False)
    op.create_index('ix_complaint_case_type_status', 'complaint_case', ['case_type', 'status'],
                    unique=False)
    op.create_index('ix_complaint_case_reference_pattern', 'complaint_case', ['reference'],
                    unique=False, postgresql_ops={'reference': 'varchar_pattern_ops'})
    # fastupdate off: a new row is searchable through the index at once, instead of sitting in a
    # pending list that every search scans until the next vacuum.
    op.create_index('ix_complaint_case_complainant_trgm', 'complaint_case', ['complainant_name'],
                    unique=False, postgresql_using='gin',
                    postgresql_ops={'complainant_name': 'gin_trgm_ops'},
                    postgresql_with={'fastupdate': 'off'})
    op.create_index('ix_complaint_case_flagged_overdue', 'complaint_case', ['reference'],
                    unique=False, postgresql_where=sa.text('overdue'))
    op.create_index('ix_complaint_case_open_deadline', 'complaint_case', ['deadline'],
                    unique=False, postgresql_where=sa.text("status = 'open'"))

    op.create_index('ix_case_correspondent_name_trgm', 'case_correspondent', ['name'],
                    unique=False, postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'},
                    postgresql_with={'fastupdate': 'off'})
    op.create_index('ix_case_correspondent_email_lower', 'case_correspondent',
                    [sa.text('lower(email)')], unique=False)
    op.create_index('ix_case_correspondent_phone_digits', 'case_correspondent',
                    [sa.text("regexp_replace(phone, '[^0-9]', '', 'g')")], unique=False)
    op.create_index('ix_case_correspondent_postcode', 'case_correspondent', ['postcode'],
                    unique=False, postgresql_ops={'postcode': 'varchar_pattern_ops'})
    op.create_index('ix_case_correspondent_external_reference', 'case_correspondent',
                    ['external_reference'], unique=False)
    op.create_index('ix_case_contribution_status_due', 'case_contribution', ['status', 'due_date'],
                    unique=False)

    op.alter_column('outbox_message', 'case_reference', existing_type=sa.String(length=40),
                    nullable=True)

    op.create_table('user_case_type',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_type', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['case_type'], ['case_type.code'], ),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'case_type')
    )
    op.create_table('digest_subscription',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('team', sa.String(length=40), nullable=False),
    sa.Column('recipient', sa.String(length=10), nullable=False),
    sa.Column('case_type', sa.String(length=40), nullable=True),
    sa.Column('frequency', sa.String(length=10), nullable=False),
    sa.Column('time_of_day', sa.Time(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('day_of_week', sa.String(length=10), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['case_type'], ['case_type.code'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team'], ['team.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_digest_subscription_owner_id'), 'digest_subscription', ['owner_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_digest_subscription_owner_id'), table_name='digest_subscription')
    op.drop_table('digest_subscription')
    op.drop_table('user_case_type')
    # Digest rows have no case; they cannot survive the NOT NULL coming back.
    op.execute("DELETE FROM outbox_message WHERE case_reference IS NULL")
    op.alter_column('outbox_message', 'case_reference', existing_type=sa.String(length=40),
                    nullable=False)
    op.drop_index('ix_case_contribution_status_due', table_name='case_contribution')
    op.drop_index('ix_case_correspondent_external_reference', table_name='case_correspondent')
    op.drop_index('ix_case_correspondent_postcode', table_name='case_correspondent')
    op.drop_index('ix_case_correspondent_phone_digits', table_name='case_correspondent')
    op.drop_index('ix_case_correspondent_email_lower', table_name='case_correspondent')
    op.drop_index('ix_case_correspondent_name_trgm', table_name='case_correspondent')
    op.drop_index('ix_complaint_case_open_deadline', table_name='complaint_case')
    op.drop_index('ix_complaint_case_flagged_overdue', table_name='complaint_case')
    op.drop_index('ix_complaint_case_complainant_trgm', table_name='complaint_case')
    op.drop_index('ix_complaint_case_reference_pattern', table_name='complaint_case')
    op.drop_index('ix_complaint_case_type_status', table_name='complaint_case')
    op.drop_index('ix_complaint_case_complainant_ref', table_name='complaint_case')
    op.drop_index('ix_complaint_case_deadline_ref', table_name='complaint_case')
    op.drop_index('ix_complaint_case_received_ref', table_name='complaint_case')
    op.create_index('ix_complaint_case_date_received', 'complaint_case', ['date_received'],
                    unique=False)
    op.create_index('ix_complaint_case_deadline', 'complaint_case', ['deadline'], unique=False)
    # pg_trgm stays: other databases objects may use it, and it is harmless.
