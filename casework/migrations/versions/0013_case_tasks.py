"""tasks: a case's tasks for people, projected from its workflow

One row per task (open, done or cancelled), with the indexes "my tasks" and "my team's tasks"
walk: by assignee or team and status, overdue first, then soonest due.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 03:40:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE case_task (
            id varchar(36) PRIMARY KEY,
            case_reference varchar(40) NOT NULL REFERENCES case_record (reference),
            title varchar(200) NOT NULL,
            description text,
            team varchar(40),
            assignee_id integer,
            assignee_name varchar(200),
            due_on date NOT NULL,
            due_time time,
            due_at timestamptz NOT NULL,
            status varchar(20) NOT NULL,
            result text,
            cancel_reason text,
            overdue boolean NOT NULL DEFAULT false,
            overdue_since timestamptz,
            created_by varchar(200) NOT NULL,
            created_by_id integer,
            created_at timestamptz NOT NULL,
            closed_by varchar(200),
            closed_by_id integer,
            closed_at timestamptz,
            assignment integer NOT NULL DEFAULT 1,
            source varchar(100)
        )""")
    op.execute("CREATE INDEX ix_case_task_case_reference ON case_task (case_reference)")
    op.execute("CREATE INDEX ix_case_task_assignee_list ON case_task (assignee_id, status, overdue DESC, due_at)")
    op.execute("CREATE INDEX ix_case_task_team_list ON case_task (team, status, overdue DESC, due_at)")


def downgrade() -> None:
    op.execute("DROP TABLE case_task")
