"""Case references: counted per prefix and year in PostgreSQL, reserved once per Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import psycopg

from casework.cases import repository
from casework.platform.db import driver_connection, make_sessionmaker

TODAY = date(2026, 11, 24)


def new_prefix() -> str:
    return "R" + uuid.uuid4().hex[:6].upper()


async def reserve(engine, key: str, prefix: str, today: date = TODAY) -> str:
    """Keys are global, as the API's are (user id and Idempotency-Key): made unique per prefix here."""
    async with driver_connection(engine) as conn:
        return await repository.reserve_registration(conn, f"{prefix}:{key}", prefix, today)


async def test_registrations_are_numbered_in_turn_and_a_key_keeps_its_reference(engine) -> None:
    prefix = new_prefix()
    first = await reserve(engine, "key-1", prefix)
    again = await reserve(engine, "key-1", prefix)
    second = await reserve(engine, "key-2", prefix)
    assert (first, again, second) == (f"{prefix}/000001/26", f"{prefix}/000001/26", f"{prefix}/000002/26")


async def test_a_new_year_starts_at_one_and_numbers_past_six_digits_keep_every_digit(engine, database_url) -> None:
    prefix = new_prefix()
    assert await reserve(engine, "this-year", prefix) == f"{prefix}/000001/26"
    assert await reserve(engine, "next-year", prefix, date(2027, 1, 4)) == f"{prefix}/000001/27"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE reference_counter SET last_value = 999999 WHERE prefix = %s AND year = 2026",
                     (prefix,))
    assert await reserve(engine, "millionth", prefix) == f"{prefix}/1000000/26"


async def test_concurrent_registrations_get_one_reference_per_key(engine) -> None:
    prefix = new_prefix()
    same = await asyncio.gather(*(reserve(engine, "one-key", prefix) for _ in range(8)))
    assert set(same) == {f"{prefix}/000001/26"}
    distinct = await asyncio.gather(*(reserve(engine, f"key-{n}", prefix) for n in range(8)))
    # Racing duplicates of one key may each count a number before one of them reserves it, so
    # numbers can be skipped; never shared.
    assert len(set(distinct)) == 8
    assert all(reference.startswith(f"{prefix}/") and reference.endswith("/26") for reference in distinct)


async def test_an_escalation_counts_on_the_same_counter(engine) -> None:
    prefix = new_prefix()
    registered = await reserve(engine, "registered", prefix)
    async with make_sessionmaker(engine)() as session, session.begin():
        escalated, new = await repository.reserve_escalation(session, registered, prefix, TODAY)
    assert (registered, escalated, new) == (f"{prefix}/000001/26", f"{prefix}/000002/26", True)
