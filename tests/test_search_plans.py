"""Search is fast because of the schema: EXPLAIN every filter and sort on a seeded, analysed
table and check PostgreSQL chooses the index built for it (and never reads a whole table).

The seed, its statistics and everything else run in one transaction that is rolled back, so the
rows never reach other tests.
"""

from __future__ import annotations

import hashlib
import json
from itertools import product
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from casework.reporting.search import CaseSearch, Cursor, Sort, fetch_page, search_statement
from casework.cases.visibility import Viewer, visible_cases

CASES = 6000
TODAY = date.today()

SEED = [
    f"""
    INSERT INTO case_record (reference, case_type, version, status, stage, stage_label, team,
        assignee_id, assignee_name, channel, category, severity, description, date_received,
        complainant_name, registered_by, registered_at, updated_at, deadline, overdue)
    SELECT 'PLAN/' || lpad(i::text, 6, '0') || '/24',
           CASE WHEN i % 10 = 0 THEN 'COMP2' ELSE 'COMP' END, 1,
           CASE WHEN i % 4 = 0 THEN 'closed' ELSE 'open' END,
           (ARRAY['triage', 'draft', 'qa', 'send'])[1 + i % 4], 'Stage',
           (ARRAY['CENTRAL', 'BILLING', 'SERVICE', NULL, 'CENTRAL'])[1 + i % 5],
           CASE WHEN i % 3 = 0 THEN NULL ELSE 100000 + i % 40 END, 'Someone',
           'email', 'Billing', 'medium', 'seeded', DATE '2022-01-01' + i % 1000,
           'Name ' || substr(md5(i::text), 1, 12), 'Seed', now(), now(),
           CURRENT_DATE + (i % 700) - 10, i % 97 = 0
    FROM generate_series(1, {CASES}) AS i
    """,
    f"""
    INSERT INTO case_correspondent (id, case_reference, relationship, is_primary, name, email,
        phone, address_lines, postcode, external_reference)
    SELECT md5('p' || i::text), 'PLAN/' || lpad(i::text, 6, '0') || '/24', 'complainant', true,
           'Name ' || substr(md5(i::text), 1, 12), 'person' || i || '@example.net',
           '020 7946 ' || lpad(i::text, 4, '0'), '{{}}'::text[],
           'AB' || (10 + i % 400) || ' ' || (i / 400 % 10) || 'XY', 'EXT' || i
    FROM generate_series(1, {CASES}) AS i
    UNION ALL
    SELECT md5('r' || i::text), 'PLAN/' || lpad(i::text, 6, '0') || '/24', 'representative', false,
           'Rep ' || substr(md5('r' || i::text), 1, 12), NULL, NULL, '{{}}'::text[], NULL, NULL
    FROM generate_series(1, {CASES}) AS i
    """,
    f"""
    INSERT INTO case_contribution (id, case_reference, team, request, due_date, status,
        requested_by, requested_at)
    SELECT md5('c' || i::text), 'PLAN/' || lpad(i::text, 6, '0') || '/24', 'BILLING', 'seeded',
           CURRENT_DATE + (i % 60) - 2, CASE WHEN i % 200 = 0 THEN 'open' ELSE 'completed' END,
           'Seed', now()
    FROM generate_series(2, {CASES}, 2) AS i
    """,
    "ANALYZE case_record",
    "ANALYZE case_correspondent",
    "ANALYZE case_contribution",
]


def md5_name(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()[:12]


async def plan_of(conn, stmt) -> dict[str, Any]:
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    result = await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params)
    raw = result.scalar_one()
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def nodes(plan: dict[str, Any]):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


EVERYONE = Viewer(user_id=0, all_teams=True, teams=frozenset(), case_types=None)
DRAFTER = Viewer(user_id=100001, all_teams=False, teams=frozenset({"BILLING"}),
                 case_types=frozenset({"COMP"}))

SEARCHES = [
    # (filters, sort, cursor value, viewer, the index the plan must use)
    ({}, "-date_received", None, EVERYONE, "ix_case_record_received_ref"),
    ({}, "-date_received", date(2022, 6, 1), EVERYONE, "ix_case_record_received_ref"),
    ({}, "-date_received", date(2022, 6, 1), DRAFTER, "ix_case_record_received_ref"),
    ({}, "deadline", TODAY + timedelta(days=300), EVERYONE, "ix_case_record_deadline_ref"),
    ({}, "complainant_name", "Name 8", EVERYONE, "ix_case_record_complainant_ref"),
    ({"complainant": md5_name(4321)[3:9]}, "-date_received", None, EVERYONE,
     "ix_case_record_complainant_trgm"),
    ({"correspondent": md5_name(1234)[2:8].upper()}, "-date_received", None, EVERYONE,
     "ix_correspondent_name_trgm"),
    ({"reference_prefix": "PLAN/0012"}, "-date_received", None, EVERYONE,
     {"case_record_pkey", "ix_case_record_reference_pattern"}),
    ({"postcode": "AB42 5XY"}, "-date_received", None, EVERYONE, "ix_case_correspondent_postcode"),
    ({"postcode": "AB42"}, "-date_received", None, EVERYONE, "ix_case_correspondent_postcode"),
    ({"email": "Person77@Example.NET"}, "-date_received", None, EVERYONE,
     "ix_case_correspondent_email_lower"),
    ({"phone": "0207946 0077"}, "-date_received", None, EVERYONE, "ix_case_correspondent_phone_digits"),
    ({"external_reference": "EXT77"}, "-date_received", None, EVERYONE,
     "ix_case_correspondent_external_reference"),
    ({"overdue": True}, "-date_received", None, EVERYONE,
     {"ix_case_record_overdue_received", "ix_case_record_late_received",
      "ix_case_record_flagged_overdue", "ix_case_record_open_deadline"}),
    ({"overdue": True}, "reference", None, EVERYONE,
     {"ix_case_record_flagged_overdue", "ix_case_record_open_deadline", "case_record_pkey"}),
    ({"teams": ["BILLING"], "overdue": True}, "-date_received", None, EVERYONE,
     {"ix_case_record_team_overdue_received", "ix_case_record_team_late_received",
      "ix_case_record_flagged_overdue", "ix_case_record_open_team_deadline"}),
    ({"deadline_from": TODAY, "deadline_to": TODAY + timedelta(days=5)}, "deadline", None, EVERYONE,
     "ix_case_record_deadline_ref"),
    ({"received_from": date(2022, 3, 1), "received_to": date(2022, 3, 2)}, "reference", None,
     EVERYONE, "ix_case_record_received_ref"),
    ({"assignee_ids": [100007], "status": "open"}, "reference", None, EVERYONE,
     "ix_case_record_assignee_status"),
    ({"contribution_status": "overdue"}, "-date_received", None, EVERYONE,
     "ix_case_contribution_status_due"),
]


async def test_every_search_filter_and_sort_is_served_by_an_index(engine):
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            for statement in SEED:
                await conn.execute(text(statement))
            for filters, sort_text, cursor_value, viewer, expected in SEARCHES:
                sort = Sort.parse(sort_text)
                after = Cursor(sort, cursor_value, "PLAN/003000/24") if cursor_value else None
                stmt = search_statement(CaseSearch(**filters), visible_cases(viewer), sort, TODAY,
                                        after=after, limit=51)
                plan = await plan_of(conn, stmt)
                used = {node.get("Index Name") for node in nodes(plan)} - {None}
                wanted = {expected} if isinstance(expected, str) else expected
                what = f"{filters} sorted {sort_text}: used {used}"
                assert used & wanted, what
                seq_scanned = {node.get("Relation Name") for node in nodes(plan)
                               if node["Node Type"] == "Seq Scan"}
                assert not seq_scanned & {"case_record", "case_correspondent"}, what
                if filters.get("overdue"):  # read along the overdue cases, never every case by date
                    assert "ix_case_record_received_ref" not in used, what
        finally:
            await transaction.rollback()


async def test_a_teams_newest_overdue_cases_are_a_page_long_walk_whichever_way_they_are_overdue(engine):
    """A team with many overdue cases (10,000 here, as many as a team has at 10M cases in `make
    bench`): the page of its newest (or everyone's newest) merges two walks in the page's order,
    one per way of being overdue, and stops when full. Nothing is sorted, so the page does not read every overdue case
    of the team (which took 1.4 s at 10M cases as one OR)."""
    late = [
        """
        INSERT INTO team (code, name, email) VALUES ('LATEPLAN', 'Late', 'late@example.org')
        ON CONFLICT DO NOTHING
        """,
        """
        INSERT INTO case_record (reference, case_type, version, status, stage, stage_label, team,
            channel, category, severity, description, date_received, complainant_name,
            registered_by, registered_at, updated_at, deadline, overdue)
        SELECT 'LATE/' || lpad(i::text, 6, '0') || '/24', 'COMP', 1, 'open', 'draft', 'Stage',
               'LATEPLAN', 'email', 'Billing', 'medium', 'seeded', CURRENT_DATE - 30 - i % 900,
               'Late ' || i, 'Seed', now(), now(), CURRENT_DATE - 2 - i % 900, i % 3 <> 0
        FROM generate_series(1, 10000) AS i
        """,
        "ANALYZE case_record",
    ]
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            for statement in SEED + late:
                await conn.execute(text(statement))
            everyone = {"ix_case_record_overdue_received", "ix_case_record_late_received"}
            by_team = {"ix_case_record_team_overdue_received", "ix_case_record_team_late_received"}
            # A team's walks may go along everyone's indexes when its cases are most of them (as
            # in a test database): still one page-long walk per way.
            walks = {("LATEPLAN",): by_team | everyone, (): everyone}
            for (teams, indexes), after in product(walks.items(), (None, Cursor(
                    Sort.parse("-date_received"), TODAY - timedelta(days=300), "LATE/005000/24"))):
                stmt = search_statement(CaseSearch(teams=list(teams), overdue=True), visible_cases(EVERYONE),
                                        Sort.parse("-date_received"), TODAY, after=after, limit=51)
                plan = await plan_of(conn, stmt)
                kinds = {node["Node Type"] for node in nodes(plan)}
                used = {node.get("Index Name") for node in nodes(plan)} - {None}
                assert "Merge Append" in kinds and "Sort" not in kinds, (teams, kinds, used)
                assert used <= indexes and len(used) == 2, (teams, used)
        finally:
            await transaction.rollback()


async def test_a_search_run_again_and_again_keeps_being_planned_for_its_own_values(engine):
    """psycopg prepares a statement it has run five times on a connection; PostgreSQL may then
    plan it once for any values. Such a generic plan cannot tell that a name pattern is rare, so
    it may leave the trigram index unused (at 1M cases `make bench` measured 4.4 s where the
    custom plan takes 10 ms); `fetch_page` has every run planned with its values."""
    stmt = search_statement(CaseSearch(correspondent=md5_name(1234)[2:8].upper()), visible_cases(EVERYONE),
                            Sort.parse("-date_received"), TODAY, limit=51)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            for statement in SEED:
                await conn.execute(text(statement))
            # As if PostgreSQL had already settled on a generic plan for this statement.
            await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            found = [await fetch_page(conn, stmt) for _ in range(8)]
            assert all(len(rows) == 1 and rows[0].reference == "PLAN/001234/24" for rows in found)
            plans = (await conn.execute(text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE '%correspondent_name.name ILIKE%'"))).all()
            assert plans, "psycopg prepared the search (the case this guards)"
            assert all(generic_plans == 0 and custom_plans >= 3 for generic_plans, custom_plans in plans)
        finally:
            await transaction.rollback()


async def test_columns_searched_by_fragment_or_prefix_keep_fine_statistics(engine):
    """PostgreSQL judges how many rows a name fragment or reference prefix matches from the
    column's histogram. With the default 100 buckets a single bucket matching reads as 1% of the
    table, and a page of results is then fetched by walking every case in date order (4.3 s at 1M
    cases in `make bench`, where the name's trigram index takes 10 ms). Migration 0006 keeps 1,000
    buckets on these columns; this checks they are there, on the schema the application runs."""
    async with engine.connect() as conn:
        targets = dict((await conn.execute(text(
            "SELECT attrelid::regclass::text || '.' || attname, attstattarget FROM pg_attribute"
            " WHERE (attrelid, attname) IN (('case_correspondent'::regclass, 'name'),"
            " ('case_record'::regclass, 'complainant_name'), ('case_record'::regclass, 'reference'))"
        ))).all())
    assert targets == {"case_correspondent.name": 1000, "case_record.complainant_name": 1000,
                       "case_record.reference": 1000}
