"""frontline: the frontline complaint case type (F4)

Frontline complaints keep their own fields in case_record.details (no table of their own); this
ships the default case type intake registers (FRONTLINE_CASE_TYPE=FRONT): first contact,
investigation and follow-up, closed. Repeat matching reads details @> {"issue_key": ...} and
details->'identities' under an advisory lock per identity.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 04:30:00
"""
import json
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0024'
down_revision: Union[str, None] = '0023'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STAGES = [
    {"key": "contact", "kind": "triage", "label": "First contact", "optional": False},
    {"key": "investigation", "kind": "investigation", "label": "Investigation and follow-up", "optional": False},
    {"key": "closure", "kind": "closure", "label": "Closed", "optional": False},
]
CLOSE_REASONS = ["resolved", "withdrawn", "duplicate", "not a complaint", "escalated to a full complaint"]


def upgrade() -> None:
    op.get_bind().execute(sa.text(
        "INSERT INTO case_type (code, kind, name, reference_prefix, stages, outcome_options, close_reasons, active)"
        " VALUES ('FRONT', 'frontline', 'Frontline complaint', 'FRONT', CAST(:stages AS jsonb), '[]',"
        " CAST(:reasons AS jsonb), true) ON CONFLICT (code) DO NOTHING"),
        {"stages": json.dumps(STAGES), "reasons": json.dumps(CLOSE_REASONS)})
    # Repeat matching: open or recently closed frontline cases of a complainant.
    op.execute("CREATE INDEX ix_case_record_frontline_identities ON case_record USING gin ((details->'identities'))"
               " WHERE kind = 'frontline'")
    op.create_table(
        "service_improvement",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_reference", sa.String(40), nullable=True, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "service_improvement_step",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("improvement_id", sa.String(36), sa.ForeignKey("service_improvement.id"), nullable=False,
                  index=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    # The review's history is a ledger: rows are added, never changed.
    op.execute("CREATE FUNCTION service_improvement_step_append_only() RETURNS trigger LANGUAGE plpgsql AS"
               " $$ BEGIN RAISE EXCEPTION 'service_improvement_step is append-only'; END $$")
    op.execute("CREATE TRIGGER service_improvement_step_append_only BEFORE UPDATE OR DELETE ON"
               " service_improvement_step FOR EACH ROW EXECUTE FUNCTION service_improvement_step_append_only()")


def downgrade() -> None:
    op.drop_table("service_improvement_step")
    op.execute("DROP FUNCTION service_improvement_step_append_only()")
    op.drop_table("service_improvement")
    op.execute("DROP INDEX ix_case_record_frontline_identities")
    op.execute("DELETE FROM case_type WHERE code = 'FRONT' AND NOT EXISTS"
               " (SELECT FROM case_record WHERE case_type = 'FRONT')")
