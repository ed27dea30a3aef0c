"""Every migration goes down and up again on a database with a case in it, keeping the case."""

from __future__ import annotations

import uuid

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from casework.platform.config import PROJECT_ROOT
from casework.cases.postcodes import normalise_postcode
from devtools.embedded import ensure_database


def alembic(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


def test_the_core_row_migration_goes_down_and_up_keeping_the_cases(database_url: str) -> None:
    name = f"casework_migrations_{uuid.uuid4().hex[:8]}"
    ensure_database(database_url, name)
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    config = alembic(url)
    command.upgrade(config, "0006")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO case_type (code, name, reference_prefix, stages, outcome_options, close_reasons, active)"
                     " VALUES ('T', 'T', 'T', '[]', '[]', '[]', true)")
        conn.execute("""INSERT INTO complaint_case (reference, case_type, version, status, stage, stage_label,
                        channel, category, severity, description, date_received, complainant_name,
                        registered_by, registered_at, updated_at)
                        VALUES ('T/1', 'T', 1, 'open', 'triage', 'Allocation', 'phone', 'Billing', 'low',
                                'd', '2026-01-02', 'Jo', 'me', now(), now())""")
    command.upgrade(config, "head")
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT kind, category FROM case_record").fetchall() == [("complaint", "Billing")]
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'case_record'")}
        assert "ix_case_record_received_ref" in indexes and not any("complaint_case" in i for i in indexes)
    command.downgrade(config, "0006")
    command.upgrade(config, "head")
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT reference, kind FROM case_record").fetchall() == [("T/1", "complaint")]


def test_postcodes_stored_before_normalisation_are_rewritten_in_one_form(database_url: str) -> None:
    name = f"casework_migrations_{uuid.uuid4().hex[:8]}"
    ensure_database(database_url, name)
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    config = alembic(url)
    command.upgrade(config, "0010")
    typed = ["ZP499NA", "zp49 9na", "ZP49  9NA", "EC1A1BB", "M11AE", "75008", "SW1A 1AA"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO case_type (code, name, reference_prefix, stages, outcome_options, close_reasons, active)"
                     " VALUES ('T', 'T', 'T', '[]', '[]', '[]', true)")
        conn.execute("""INSERT INTO case_record (reference, kind, case_type, version, status, stage, stage_label,
                        date_received, complainant_name, registered_by, registered_at, updated_at)
                        VALUES ('T/1', 'complaint', 'T', 1, 'open', 'triage', 'Allocation', '2026-01-02',
                                'Jo', 'me', now(), now())""")
        for i, postcode in enumerate(typed):
            conn.execute("INSERT INTO case_correspondent (id, case_reference, relationship, is_primary, name,"
                         " address_lines, postcode) VALUES (%s, 'T/1', 'complainant', false, 'P', '{}', %s)",
                         (f"c{i}", postcode))
    command.upgrade(config, "0011")
    with psycopg.connect(url, autocommit=True) as conn:
        stored = [r[0] for r in conn.execute("SELECT postcode FROM case_correspondent ORDER BY id")]
    assert stored == ["ZP49 9NA", "ZP49 9NA", "ZP49 9NA", "EC1A 1BB", "M1 1AE", "75008", "SW1A 1AA"]
    assert stored == [normalise_postcode(p) for p in typed]
