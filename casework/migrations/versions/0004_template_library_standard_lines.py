"""template library, standard lines, outbox results, reply attachments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('template_version',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('purpose', sa.String(length=60), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('case_type', sa.String(length=40), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('text_body', sa.Text(), nullable=True),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('uploaded_by', sa.String(length=200), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_type'], ['case_type.code'], ),
    sa.ForeignKeyConstraint(['sha256'], ['document_blob.sha256'], ),
    sa.PrimaryKeyConstraint('id')
    )
    # One numbering per scope; a global version has no case type, hence the coalesce.
    op.create_index('uq_template_version_scope', 'template_version',
                    ['purpose', 'channel', sa.text("coalesce(case_type, '')"), 'version'],
                    unique=True)
    op.create_table('standard_line',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_by', sa.String(length=200), nullable=True),
    sa.Column('replaced_by', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    # At most one line per topic is not retired: adding a line retires the previous one.
    op.create_index('uq_standard_line_live_topic', 'standard_line',
                    [sa.text('lower(category)'), sa.text('lower(topic)')], unique=True,
                    postgresql_where=sa.text('retired_at IS NULL'))
    op.add_column('outbox_message',
                  sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('case_clarification',
                  sa.Column('reply_attachment_ids', postgresql.JSONB(astext_type=sa.Text()),
                            server_default='[]', nullable=False))
    op.add_column('case_contribution', sa.Column('channel', sa.String(length=20), nullable=True))
    op.add_column('case_contribution', sa.Column('recipient', sa.String(length=320), nullable=True))
    op.add_column('case_contribution',
                  sa.Column('attachment_ids', postgresql.JSONB(astext_type=sa.Text()),
                            server_default='[]', nullable=False))


def downgrade() -> None:
    op.drop_column('case_contribution', 'attachment_ids')
    op.drop_column('case_contribution', 'recipient')
    op.drop_column('case_contribution', 'channel')
    op.drop_column('case_clarification', 'reply_attachment_ids')
    op.drop_column('outbox_message', 'result')
    op.drop_index('uq_standard_line_live_topic', table_name='standard_line')
    op.drop_table('standard_line')
    op.drop_index('uq_template_version_scope', table_name='template_version')
    op.drop_table('template_version')
