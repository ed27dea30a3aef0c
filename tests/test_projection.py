"""The projection writer on its own: PostgreSQL holds exactly what the workflow's state says, a
stale or repeated write changes nothing, and events are written once."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import select

from activities.projection import write_projection
from casework.cases.contracts import Actor, CaseTypeConfig, Correspondent, DocumentRef, Note, TimelineEvent
from casework.cases.jobs import ProjectCaseInput
from casework.kinds.complaint.contracts import CaseDetails, CaseStart
from casework.platform.db import (CaseCorrespondent, CaseDocument, CaseNote, CaseRecord, TimelineEntry,
                         dispose_engine, driver_connection, make_engine)
from devtools.demo import CASE_TYPES
from casework.documents.store import store_blob
from workflows.complaint import initial_state

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
ACTOR = Actor(user_id=1, username="handler", display_name="Hana Handler", roles=["handler"])


def new_state(escalated_from: str | None = None):
    comp = next(t for t in CASE_TYPES if t["code"] == "COMP")
    case_type = CaseTypeConfig(**{k: comp[k] for k in ("code", "name", "reference_prefix", "stages",
                                                       "outcome_options", "close_reasons")})
    start = CaseStart(
        reference=f"PROJ/{uuid.uuid4().hex[:8]}", case_type=case_type, actor=ACTOR,
        details=CaseDetails(channel="email", category="Billing", severity="low",
                            description="It's 50% wrong; \"quoted\" and {braced}", date_received=date(2026, 3, 1)),
        correspondents=[Correspondent(id=str(uuid.uuid4()), is_primary=True, name="Zoë O'Brien",
                                      email="zoe@example.net", address_lines=["1 High St", "Town"],
                                      postcode="AB1 2CD")],
        escalated_from=escalated_from)
    return initial_state(start, NOW)


def event(state, kind: str) -> TimelineEvent:
    return TimelineEvent(id=str(uuid.uuid4()), at=NOW, actor_id=1, actor_name="Hana Handler", kind=kind,
                         summary=f"{kind} happened", data={"nested": {"list": [1, "two"]}})


async def test_a_projection_writes_the_state_and_a_stale_or_repeated_one_changes_nothing(engine, sessionmaker):
    state = new_state()
    state.version = 1
    first = ProjectCaseInput(state=state, events=[event(state, "registered")], collections=None)
    assert await write_projection(engine, first) is True

    # Version 3 arrives before version 2 (a retry that was overtaken): 2 must not overwrite 3.
    state.version, state.team, state.redress_amount = 3, "BILLING", Decimal("12.50")
    state.notes.append(Note(id=str(uuid.uuid4()), text="Called back", created_by="Hana Handler",
                            created_by_id=1, created_at=NOW))
    third = ProjectCaseInput(state=state.model_copy(deep=True), events=[event(state, "note_added")],
                             collections=["notes"])
    assert await write_projection(engine, third) is True
    stale = state.model_copy(deep=True)
    stale.version, stale.team = 2, "CENTRAL"
    assert await write_projection(engine, ProjectCaseInput(state=stale, events=[], collections=[])) is False
    assert await write_projection(engine, third) is False  # the same write again

    async with sessionmaker() as session:
        row = await session.get(CaseRecord, state.reference)
        assert (row.version, row.team, row.redress_amount) == (3, "BILLING", Decimal("12.50"))
        assert row.description == "It's 50% wrong; \"quoted\" and {braced}"
        assert row.date_received == date(2026, 3, 1) and row.registered_at == NOW
        assert row.deadline is None and row.escalated_to is None
        person = (await session.scalars(select(CaseCorrespondent).where(
            CaseCorrespondent.case_reference == state.reference))).one()
        assert (person.name, person.address_lines) == ("Zoë O'Brien", ["1 High St", "Town"])
        notes = (await session.scalars(select(CaseNote).where(CaseNote.case_reference == state.reference))).all()
        assert [n.text for n in notes] == ["Called back"]
        events = (await session.scalars(select(TimelineEntry).where(
            TimelineEntry.case_reference == state.reference).order_by(TimelineEntry.seq))).all()
        assert [e.kind for e in events] == ["registered", "note_added"]  # each once
        assert events[0].data == {"nested": {"list": [1, "two"]}}


async def test_only_the_collections_a_step_changed_are_written_and_edited_notes_replace_old_text(engine, sessionmaker):
    state = new_state()
    state.version = 1
    await write_projection(engine, ProjectCaseInput(state=state, events=[], collections=None))
    async with sessionmaker() as session, session.begin():
        digest = await store_blob(session, b"letter bytes")
    state.documents.append(DocumentRef(id=str(uuid.uuid4()), kind="letter", filename="ack.docx",
                                       content_type="application/pdf", size=12, sha256=digest,
                                       added_by="Hana Handler", added_at=NOW + timedelta(minutes=1)))
    note = Note(id=str(uuid.uuid4()), text="first", created_by="Hana", created_by_id=1, created_at=NOW)
    state.notes.append(note)
    state.version = 2
    await write_projection(engine, ProjectCaseInput(state=state.model_copy(deep=True), events=[],
                                                    collections=["documents", "notes"]))
    note.text, note.edited_by = "edited", "Hana"
    state.correspondents[0].name = "Not written: correspondents did not change"
    state.version = 3
    await write_projection(engine, ProjectCaseInput(state=state, events=[], collections=["notes"]))

    async with sessionmaker() as session:
        docs = (await session.scalars(select(CaseDocument).where(CaseDocument.case_reference == state.reference))).all()
        assert [(d.filename, d.sha256) for d in docs] == [("ack.docx", digest)]
        notes = (await session.scalars(select(CaseNote).where(CaseNote.case_reference == state.reference))).all()
        assert [(n.text, n.edited_by) for n in notes] == [("edited", "Hana")]
        person = (await session.scalars(select(CaseCorrespondent).where(
            CaseCorrespondent.case_reference == state.reference))).one()
        assert person.name == "Zoë O'Brien"


async def test_the_first_projection_of_a_stage_two_case_links_the_original(engine, sessionmaker):
    original = new_state()
    original.version = 1
    await write_projection(engine, ProjectCaseInput(state=original, events=[], collections=None))
    stage2 = new_state(escalated_from=original.reference)
    stage2.version = 1
    escalated = event(stage2, "escalated")
    escalated.case_reference = original.reference  # this event belongs on the original's timeline
    await write_projection(engine, ProjectCaseInput(state=stage2, events=[escalated], collections=None))
    async with sessionmaker() as session:
        assert (await session.get(CaseRecord, original.reference)).escalated_to == stage2.reference
        on_original = (await session.scalars(select(TimelineEntry.kind).where(
            TimelineEntry.case_reference == original.reference))).all()
        assert on_original == ["escalated"]


async def test_a_connection_lost_under_driver_connection_is_not_handed_out_again(database_url: str) -> None:
    """The worker's hot statements use psycopg's own pool, not SQLAlchemy's; a connection that
    PostgreSQL dropped (a restart, an administrator) fails the statement it was used for, and must
    then leave the pool rather than fail every later step."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    try:
        async with driver_connection(engine) as conn:
            backend = (await (await conn.execute("select pg_backend_pid()")).fetchone())[0]
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (backend,))

        # The pool may hold more than one connection and hands them out in turn: the dropped one
        # fails its statement once at most, and is never handed out after that.
        failures, used = 0, set()
        for _ in range(6):
            try:
                async with driver_connection(engine) as conn:
                    used.add((await (await conn.execute("select pg_backend_pid()")).fetchone())[0])
            except psycopg.OperationalError:
                failures += 1
        assert failures <= 1
        assert used and backend not in used
    finally:
        await dispose_engine(engine)
