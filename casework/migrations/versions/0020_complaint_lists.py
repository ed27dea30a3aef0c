"""reference lists: complaint channels, categories and severities, seeded from what cases hold

Registration now takes a complaint's channel, category and severity from lists administrators
keep. Every value cases already hold is put on its list (so nothing a deployment uses is refused
after the upgrade), and the usual channels and severities are offered from the start.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 04:30:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0020'
down_revision: Union[str, None] = '0019'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

DEFAULTS = {
    "complaint_channels": [("email", "Email"), ("letter", "Letter"), ("phone", "Telephone"), ("web", "Web form"),
                           ("in_person", "In person")],
    "complaint_severities": [("low", "Low"), ("medium", "Medium"), ("high", "High")],
}
FROM_CASES = {"complaint_channels": "channel", "complaint_categories": "category",
              "complaint_severities": "severity"}


def upgrade() -> None:
    for name, values in DEFAULTS.items():
        for position, (code, label) in enumerate(values):
            op.execute(f"INSERT INTO reference_value (list_name, code, label, position, updated_by) "
                       f"VALUES ('{name}', '{code}', '{label}', {position}, 'migration 0020') ON CONFLICT DO NOTHING")
    for name, column in FROM_CASES.items():
        op.execute(f"INSERT INTO reference_value (list_name, code, label, position, updated_by) "
                   f"SELECT DISTINCT '{name}', {column}, {column}, 100, 'migration 0020' "
                   f"FROM case_record WHERE kind = 'complaint' AND {column} IS NOT NULL AND {column} <> '' "
                   f"ON CONFLICT DO NOTHING")


def downgrade() -> None:
    op.execute("DELETE FROM reference_value WHERE list_name IN "
               "('complaint_channels', 'complaint_categories', 'complaint_severities')")
