"""people: API tokens of their own, permissions granted to roles and users, an audit trail

Every user had one token, as app_user.token_hash; tokens now live in api_token (a name, when made,
an expiry, a revocation), several per user. Each existing digest moves there as a token named
'migrated' that never expires, so tokens in use keep working, and the column goes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 03:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0014'
down_revision: Union[str, None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'api_token',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('app_user.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_api_token_user_id', 'api_token', ['user_id'])
    op.execute("INSERT INTO api_token (id, user_id, name, token_hash) "
               "SELECT gen_random_uuid()::text, id, 'migrated', token_hash FROM app_user "
               "WHERE token_hash IS NOT NULL")
    op.drop_column('app_user', 'token_hash')
    op.create_table(
        'role_permission',
        sa.Column('role', sa.String(length=40), nullable=False),
        sa.Column('permission', sa.String(length=100), nullable=False),
        sa.Column('granted_by', sa.String(length=100), nullable=False),
        sa.Column('granted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('role', 'permission'),
    )
    op.create_table(
        'user_permission',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('app_user.id', ondelete='CASCADE'), nullable=False),
        sa.Column('permission', sa.String(length=100), nullable=False),
        sa.Column('granted_by', sa.String(length=100), nullable=False),
        sa.Column('granted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('user_id', 'permission'),
    )
    op.create_table(
        'audit_entry',
        sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('action', sa.String(length=60), nullable=False),
        sa.Column('subject_type', sa.String(length=20), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_entry_subject', 'audit_entry', ['subject_type', 'subject', 'occurred_at'])
    op.create_index('ix_audit_entry_occurred', 'audit_entry', ['occurred_at', 'id'])


def downgrade() -> None:
    op.drop_table('audit_entry')
    op.drop_table('user_permission')
    op.drop_table('role_permission')
    op.add_column('app_user', sa.Column('token_hash', sa.String(length=64), nullable=True))
    op.create_unique_constraint('app_user_token_hash_key', 'app_user', ['token_hash'])
    # One token per user again: each user's newest token still in force.
    op.execute("UPDATE app_user SET token_hash = t.token_hash FROM ("
               "SELECT DISTINCT ON (user_id) user_id, token_hash FROM api_token "
               "WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) "
               "ORDER BY user_id, created_at DESC) t WHERE t.user_id = app_user.id")
    op.drop_table('api_token')
