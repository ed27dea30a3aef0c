"""lead complaints: the case type complaints against leads are filed as

Lead complaints (F2) keep their own fields in case_record.details (0016) and pick their complaint
type, resolution type and resolution from reference lists (0017); this adds their case type: the
stage plan Open → Disputed → Resolved, resolve within 10 working days. An administrator routes it
to a team (PUT /admin/case-types/LEADCOMP, default_team).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 04:30:00
"""
import json
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: Union[str, None] = '0021'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STAGES = [
    {"key": "open", "kind": "triage", "label": "Open", "optional": False},
    {"key": "disputed", "kind": "disputed", "label": "Disputed", "optional": False},
    {"key": "resolved", "kind": "closure", "label": "Resolved", "optional": False},
]
POLICY = {
    "name": "Lead complaints (10 working days)",
    "rule": "Resolve a complaint against a lead within 10 working days of filing it.",
    "region": "england-and-wales", "unit": "working", "response_days": 10, "warning_days": 2,
    "max_extensions": 1, "pause_on_clarification": False,
}


def upgrade() -> None:
    op.get_bind().execute(sa.text(
        "INSERT INTO case_type (code, name, reference_prefix, stages, outcome_options, close_reasons, "
        "escalation_type, active, deadline_policy, kind) VALUES ('LEADCOMP', 'Lead complaint', 'LC', "
        "CAST(:stages AS jsonb), '[]', CAST(:close AS jsonb), NULL, true, CAST(:policy AS jsonb), "
        "'lead_complaint') ON CONFLICT (code) DO NOTHING"),
        {"stages": json.dumps(STAGES), "close": json.dumps(["resolved", "withdrawn", "duplicate"]),
         "policy": json.dumps(POLICY)})


def downgrade() -> None:
    op.execute("DELETE FROM case_type WHERE code = 'LEADCOMP' AND NOT EXISTS "
               "(SELECT 1 FROM case_record WHERE case_type = 'LEADCOMP')")
