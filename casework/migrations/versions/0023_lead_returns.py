"""lead returns: settings (global and per lead group), acceptances counted against a partner's
monthly cap, one open return per lead, and the lead return case type

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 04:30:00
"""
import json
from typing import Sequence, Union

from alembic import op

revision: str = '0023'
down_revision: Union[str, None] = '0022'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The decision is due within 5 working days of the request; a day before, a warning.
POLICY = {"name": "Lead return decision", "rule": "decide a lead return within 5 working days",
          "region": "england-and-wales", "unit": "working", "response_days": 5, "warning_days": 1,
          "pause_on_clarification": False}
STAGES = [{"key": "decision", "kind": "triage", "label": "Decide return", "optional": False},
          {"key": "closure", "kind": "closure", "label": "Decided", "optional": False}]


def upgrade() -> None:
    op.execute("""
        CREATE TABLE lead_return_settings (
            scope varchar(100) PRIMARY KEY,
            enabled boolean, partners_may_start boolean, reasons jsonb, allow_other boolean,
            notify_user varchar(200), email_introducer boolean, email_partner boolean,
            window_days integer CHECK (window_days >= 0),
            cap_count integer CHECK (cap_count >= 0),
            cap_percent numeric(5, 2) CHECK (cap_percent >= 0 AND cap_percent <= 100),
            auto_accept_reasons jsonb, auto_accept_hours integer CHECK (auto_accept_hours >= 0),
            updated_by varchar(200) NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("""
        CREATE TABLE lead_return_acceptance (
            reference varchar(40) PRIMARY KEY,
            partner varchar(100) NOT NULL,
            lead varchar(100) NOT NULL,
            month date NOT NULL,
            accepted_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX ix_lead_return_acceptance_partner ON lead_return_acceptance (partner, month)")
    # One open return per lead, whoever asks and however many at once: the registration's
    # projection meets this index, and the second is refused.
    op.execute("CREATE UNIQUE INDEX uq_lead_return_open ON case_record ((details->>'lead_id')) "
               "WHERE kind = 'lead_return' AND status = 'open'")
    op.execute("CREATE INDEX ix_case_record_lead_return ON case_record ((details->>'lead_id')) "
               "WHERE kind = 'lead_return'")
    stages, policy = json.dumps(STAGES).replace("'", "''"), json.dumps(POLICY).replace("'", "''")
    op.execute(f"""
        INSERT INTO case_type (code, kind, name, reference_prefix, stages, outcome_options, close_reasons,
                               escalation_type, active, deadline_policy)
        VALUES ('RETURN', 'lead_return', 'Lead return', 'RET', '{stages}', '[]',
                '["accepted", "declined", "withdrawn"]', NULL, true, '{policy}')
        ON CONFLICT (code) DO NOTHING""")


def downgrade() -> None:
    op.execute("DELETE FROM case_type WHERE code = 'RETURN' "
               "AND NOT EXISTS (SELECT 1 FROM case_record WHERE case_type = 'RETURN')")
    op.execute("DROP INDEX ix_case_record_lead_return")
    op.execute("DROP INDEX uq_lead_return_open")
    op.execute("DROP TABLE lead_return_acceptance")
    op.execute("DROP TABLE lead_return_settings")
