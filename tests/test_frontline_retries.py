"""A frontline intake repeated with its Idempotency-Key after its first attempt was cut short:
the reference it reserved is kept and started, never given to another complainant, and the
repeat is never mistaken for a repeat contact on its own case."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import select

from casework.calendar.deadlines import case_today
from casework.cases import repository
from casework.platform.db import AppUser, driver_connection
from tests.casefixtures import auth
from tests.test_frontline import contact, take


async def test_an_intake_reserved_but_never_started_is_started_by_its_retry(api, engine, sessionmaker):
    tag = uuid.uuid4().hex[:8]
    key = str(uuid.uuid4())
    async with sessionmaker() as session:
        handler = await session.scalar(select(AppUser).where(AppUser.username == "handler"))
    # The first attempt reserved its reference, then stopped before the workflow started.
    async with driver_connection(engine) as conn:
        reserved = await repository.reserve_registration(conn, f"frontline:{handler.id}:{key}", "FRONT",
                                                         case_today(datetime.now(timezone.utc)))
    retried = await take(api, contact(tag), **{"Idempotency-Key": key})
    assert (retried["outcome"], retried["reference"]) == ("new_case", reserved)
    again = await take(api, contact(tag), **{"Idempotency-Key": key})  # and once more: the same answer
    assert (again["outcome"], again["reference"]) == ("new_case", reserved)
    case = (await api.get(f"/cases/{reserved}", headers=auth("handler"))).json()
    assert case["details"]["repeat_contacts"] == 0 and case["correspondents"][0]["name"] == f"Alex Caller {tag}"
    other = await take(api, contact(uuid.uuid4().hex[:8]))  # the next complainant gets a number of their own
    assert other["reference"] != reserved
