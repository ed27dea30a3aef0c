"""people: single sign-on (OpenID Connect) links a user to their identity provider's subject

app_user.external_subject is the `sub` claim of the provider's tokens (unique: one person per
subject); first_sso_sign_in_at is when the user first signed in with such a token (the audit
trail records that moment once).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 06:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: Union[str, None] = '0025'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('app_user', sa.Column('external_subject', sa.String(255), nullable=True))
    op.add_column('app_user', sa.Column('first_sso_sign_in_at', sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint('uq_app_user_external_subject', 'app_user', ['external_subject'])


def downgrade() -> None:
    op.drop_constraint('uq_app_user_external_subject', 'app_user', type_='unique')
    op.drop_column('app_user', 'first_sso_sign_in_at')
    op.drop_column('app_user', 'external_subject')
