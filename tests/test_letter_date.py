"""The date a letter or email bears is the case's date in UK time, never the server's zone
(activities.correspondence.letter_date)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from activities.correspondence import letter_date
from casework.cases.contracts import CaseCore


def test_a_letter_made_after_midnight_uk_time_bears_the_uk_date_whatever_the_servers_zone():
    state = CaseCore.model_construct(clock=None)  # a case from before deadline clocks: England and Wales
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST); on 1 December, UTC is London time.
    assert letter_date(state, datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc)) == date(2026, 7, 2)
    assert letter_date(state, datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc)) == date(2026, 12, 1)
