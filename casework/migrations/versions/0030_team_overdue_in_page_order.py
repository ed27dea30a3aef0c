"""search: a team's overdue cases in page order, each way of being overdue; correspondent names
found among the different names

The case search finds overdue cases in date-received order as a UNION ALL of the two ways a case
is overdue (casework.reporting.search.overdue_ways). Each half walks one of these indexes in the
page's order (a team's: team, date received, reference; everyone's: date received, reference) and
the page stops once it is full; with the team alone in the index, PostgreSQL read every overdue
case of the team and sorted them (p95 1.4 s at 10M cases). The second way's indexes hold the
deadline too, so the walk tests "deadline passed" in the index and touches the table only for
the cases it returns.

A search by part of a correspondent's name reads a trigram index whose posting lists grew with
the correspondents (at 10M cases, every person called Eilidh or MacDonald for "Eilidh Mac"),
though most share their name with many others. correspondent_name keeps each name once (a
trigger adds new ones), with the trigram index; the correspondents are then found by exact name.

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
    op.execute("CREATE TABLE correspondent_name (name varchar(200) PRIMARY KEY)")  # limits.NAME
    op.execute("INSERT INTO correspondent_name SELECT DISTINCT name FROM case_correspondent")
    op.create_index('ix_correspondent_name_trgm', 'correspondent_name', ['name'], unique=False,
                    postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'},
                    postgresql_with={'fastupdate': 'off'})
    op.execute("ALTER TABLE correspondent_name ALTER COLUMN name SET STATISTICS 1000")
    op.execute("ANALYZE correspondent_name")
    op.execute("""
        CREATE FUNCTION remember_correspondent_name() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO correspondent_name (name) VALUES (NEW.name) ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER case_correspondent_name AFTER INSERT OR UPDATE OF name ON case_correspondent"
               " FOR EACH ROW EXECUTE FUNCTION remember_correspondent_name()")
    op.create_index('ix_case_correspondent_name', 'case_correspondent', ['name', 'case_reference'],
                    unique=False)
    op.drop_index('ix_case_correspondent_name_trgm', table_name='case_correspondent')
    op.drop_index('ix_case_record_team_flagged_overdue', table_name='case_record')
    op.create_index('ix_case_record_team_overdue_received', 'case_record',
                    ['team', 'date_received', 'reference'], unique=False,
                    postgresql_where=sa.text('overdue'))
    op.create_index('ix_case_record_team_late_received', 'case_record',
                    ['team', 'date_received', 'reference', 'deadline'], unique=False,
                    postgresql_where=sa.text("status = 'open' AND deadline_met IS NULL AND NOT overdue"))
    op.create_index('ix_case_record_overdue_received', 'case_record', ['date_received', 'reference'],
                    unique=False, postgresql_where=sa.text('overdue'))
    op.create_index('ix_case_record_late_received', 'case_record',
                    ['date_received', 'reference', 'deadline'], unique=False,
                    postgresql_where=sa.text("status = 'open' AND deadline_met IS NULL AND NOT overdue"))


def downgrade() -> None:
    op.create_index('ix_case_correspondent_name_trgm', 'case_correspondent', ['name'], unique=False,
                    postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'},
                    postgresql_with={'fastupdate': 'off'})
    op.drop_index('ix_case_correspondent_name', table_name='case_correspondent')
    op.execute("DROP TRIGGER case_correspondent_name ON case_correspondent")
    op.execute("DROP FUNCTION remember_correspondent_name()")
    op.execute("DROP TABLE correspondent_name")
    op.drop_index('ix_case_record_late_received', table_name='case_record')
    op.drop_index('ix_case_record_overdue_received', table_name='case_record')
    op.drop_index('ix_case_record_team_late_received', table_name='case_record')
    op.drop_index('ix_case_record_team_overdue_received', table_name='case_record')
    op.create_index('ix_case_record_team_flagged_overdue', 'case_record', ['team'], unique=False,
                    postgresql_where=sa.text('overdue'))
