"""cases: UK postcodes stored in one written form ("ZP499NA" -> "ZP49 9NA")

Postcodes were stored as typed (upper-cased), so "ZP499NA" and "ZP49 9NA" were different values and
a search for one missed the other. New ones are stored normalised (casework.cases.postcodes); this
rewrites those stored before. Not reversible, nor need it be: the old spellings carried nothing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 03:40:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# casework.cases.postcodes' rule, written out: a migration does not import code that may change.
_COMPACT = "upper(regexp_replace(postcode, '\\s', '', 'g'))"
_UK = "^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$"


def upgrade() -> None:
    op.execute(f"UPDATE case_correspondent SET postcode = regexp_replace({_COMPACT}, '{_UK}', '\\1 \\2') "
               f"WHERE {_COMPACT} ~ '{_UK}' AND postcode IS DISTINCT FROM regexp_replace({_COMPACT}, '{_UK}', '\\1 \\2')")


def downgrade() -> None:
    pass
