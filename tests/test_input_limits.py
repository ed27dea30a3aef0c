"""Poison pills from the outside: values the API used to accept and PostgreSQL refuses (a NUL byte,
a lone surrogate, a value longer than its column). Each is a 422 naming the field, nothing is
written, and the case takes its next step afterwards. What slips past the API (an Update sent to
the workflow directly) fails its step with a non-retryable error and leaves the case healthy."""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import String, Table, func, select, text
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError

import api.schemas
from activities.projection import write_projection
from api.errors import from_update_failure
from api.schemas import case_types as type_schemas
from api.schemas import cases as case_schemas
from api.schemas import complaint as complaint_schemas
from api.schemas import customer_complaint as cc_schemas
from api.schemas import digests as digest_schemas
from api.schemas import frontline as frontline_schemas
from api.schemas import parties as party_schemas
from api.schemas import people as people_schemas
from api.schemas import lead_return as return_schemas
from api.schemas import reference_lists as list_schemas
from api.schemas import standard_lines as line_schemas
from api.schemas import tasks as task_schemas
from api.schemas.admin import ClosureCreate
from api.schemas.base import Strict
from casework.cases import limits
from casework.cases.contracts import Actor, NoteInput
from casework.cases.jobs import ProjectCaseInput
from casework.parties.models import CaseParty, Contract, Customer, Invoice, Lead, LeadGroup, LeadTransaction, Partner
from casework.people.models import ApiToken, RolePermission
from casework.platform.db import (
    AppUser,
    CalendarClosure,
    CaseClarification,
    CaseContribution,
    CaseCorrespondent,
    CaseNote,
    CaseRecord,
    CaseRegistration,
    CaseTask,
    CaseType,
    DigestSubscription,
    StandardLine,
    Team,
    table_of,
)
from casework.reference_lists.models import ReferenceValue
from casework.tables.customer_complaint import ComplaintReview
from casework.tables.lead_return import LeadReturnSettings
from casework.tables.frontline import ServiceImprovement, ServiceImprovementStep
from tests.casefixtures import auth, case_path, complaint, register, step
from workflows.complaint import ComplaintCaseWorkflow
from workflows.engine.errors import DATA_REFUSED, INVALID

NUL = "Nul\u0000Byte"
SURROGATE = "Lone \ud800 surrogate"

# ---- the limits, written once ---------------------------------------------------------------

# Where each request body's fields land: its table, and the columns named differently from fields.
LANDS_IN: dict[type[BaseModel], tuple[Table, dict[str, str]]] = {
    case_schemas.CaseCreate: (table_of(CaseRecord), {}),
    case_schemas.CorrespondentIn: (table_of(CaseCorrespondent), {}),
    case_schemas.AllocateRequest: (table_of(CaseRecord), {}),
    case_schemas.CloseRequest: (table_of(CaseRecord), {"reason": "close_reason", "note": "close_note"}),
    case_schemas.NoteBody: (table_of(CaseNote), {}),
    complaint_schemas.OutcomeRequest: (table_of(CaseRecord), {"detail": "outcome_detail"}),
    complaint_schemas.ClarificationRequest: (table_of(CaseClarification), {}),
    complaint_schemas.ClarificationReply: (table_of(CaseClarification), {}),
    complaint_schemas.ContributionRequest: (table_of(CaseContribution), {}),
    complaint_schemas.ContributionComplete: (table_of(CaseContribution), {}),
    line_schemas.StandardLineCreate: (table_of(StandardLine), {}),
    ClosureCreate: (table_of(CalendarClosure), {}),
    digest_schemas.DigestCreate: (table_of(DigestSubscription), {}),
    digest_schemas.DigestUpdate: (table_of(DigestSubscription), {}),
    digest_schemas.DigestScheduleIn: (table_of(DigestSubscription), {}),
    task_schemas.TaskCreate: (table_of(CaseTask), {"due_date": "due_on"}),
    task_schemas.TaskComplete: (table_of(CaseTask), {}),
    task_schemas.TaskReassign: (table_of(CaseTask), {}),
    task_schemas.TaskAssigneeIn: (table_of(CaseTask), {}),
    task_schemas.TaskReschedule: (table_of(CaseTask), {"due_date": "due_on"}),
    task_schemas.TaskDue: (table_of(CaseTask), {"due_date": "due_on"}),
    people_schemas.UserCreate: (table_of(AppUser), {}),
    people_schemas.UserUpdate: (table_of(AppUser), {}),
    people_schemas.TeamCreate: (table_of(Team), {}),
    people_schemas.TeamUpdate: (table_of(Team), {}),
    people_schemas.TokenCreate: (table_of(ApiToken), {}),
    people_schemas.GrantCreate: (table_of(RolePermission), {}),
    list_schemas.ListValueIn: (table_of(ReferenceValue), {"parent": "parent_code"}),
    return_schemas.ReturnSettingsWrite: (table_of(LeadReturnSettings), {}),
    party_schemas.CustomerSync: (table_of(Customer), {}),
    party_schemas.ContactIn: (table_of(Customer), {}),  # into its contacts (jsonb)
    party_schemas.AddressIn: (table_of(Customer), {}),  # into its addresses (jsonb)
    party_schemas.PartnerSync: (table_of(Partner), {}),
    party_schemas.LeadGroupSync: (table_of(LeadGroup), {}),
    party_schemas.LeadSync: (table_of(Lead), {}),
    party_schemas.ContractSync: (table_of(Contract), {}),
    party_schemas.InvoiceSync: (table_of(Invoice), {}),
    party_schemas.InvoiceLineIn: (table_of(Invoice), {}),  # into its lines (jsonb)
    party_schemas.TransactionPost: (table_of(LeadTransaction), {}),
    party_schemas.TransactionReverse: (table_of(LeadTransaction), {"reason": "note"}),
    type_schemas.CaseTypeCreate: (table_of(CaseType), {"team": "default_team"}),
    type_schemas.CaseTypeUpdate: (table_of(CaseType), {"team": "default_team"}),
    type_schemas.StageIn: (table_of(CaseType), {}),  # into its stages (jsonb)
    # Customer complaints: their fields land in the row's details (jsonb); a new reason in its list.
    cc_schemas.CustomerComplaintCreate: (table_of(ReferenceValue), {"reason": "code", "new_reason_label": "label"}),
    cc_schemas.FromInvoiceCreate: (table_of(ReferenceValue), {"reason": "code", "new_reason_label": "label"}),
    cc_schemas.ComplaintCommon: (table_of(ReferenceValue), {"reason": "code", "new_reason_label": "label"}),
    cc_schemas.PartyIn: (table_of(CaseParty), {"customer": "external_id"}),
    cc_schemas.PlanRequest: (table_of(CaseRecord), {}),
    cc_schemas.ReviewRequest: (table_of(ComplaintReview), {}),
    cc_schemas.DecideRequest: (table_of(CaseRecord), {}),
    cc_schemas.FulfilRequest: (table_of(CaseRecord), {}),
    # Frontline complaints: the case row (their own fields into its details, jsonb), the ideas' tables.
    frontline_schemas.ContactCreate: (table_of(CaseRecord), {"department": "team"}),
    frontline_schemas.Complainant: (table_of(CaseCorrespondent), {}),
    frontline_schemas.ContactRequest: (table_of(CaseRecord), {}),
    frontline_schemas.ResolveRequest: (table_of(CaseRecord), {}),
    frontline_schemas.InvestigateRequest: (table_of(CaseRecord), {}),
    frontline_schemas.FollowUpRequest: (table_of(CaseRecord), {}),
    frontline_schemas.ImprovementCreate: (table_of(ServiceImprovement), {}),
    frontline_schemas.ImprovementStatusChange: (table_of(ServiceImprovementStep), {"status": "to_status"}),
    frontline_schemas.ImprovementComment: (table_of(ServiceImprovementStep), {"text": "note"}),
}


def _max_lengths(schema: Any) -> list[int | None]:
    """The max_length of every string a pydantic core schema accepts (None: unbounded)."""
    if not isinstance(schema, dict):
        return []
    if schema.get("type") == "str":
        return [schema.get("max_length")]
    if schema.get("type") == "enum":  # a choice: its longest value
        return [max(len(str(getattr(m, "value", m))) for m in schema["members"])]
    if schema.get("type") == "literal":
        return [max(len(str(v)) for v in schema["expected"])]
    found: list[int | None] = []
    for key, value in schema.items():
        if key in ("serialization", "metadata", "ref"):
            continue
        if isinstance(value, dict):
            found += _max_lengths(value)
        elif isinstance(value, list):
            for item in value:
                found += _max_lengths(item)
    return found


def _field_schema(model: type[BaseModel], field: str) -> Any:
    schema = model.__pydantic_core_schema__
    while schema.get("type") != "model-fields":  # model (in definitions) -> its fields
        schema = schema["schema"]
    return schema["fields"][field]["schema"]


def _request_bodies() -> set[type[BaseModel]]:
    bodies: set[type[BaseModel]] = set()
    for info in pkgutil.iter_modules(api.schemas.__path__):
        module = importlib.import_module(f"api.schemas.{info.name}")
        bodies |= {v for v in vars(module).values()
                   if isinstance(v, type) and issubclass(v, Strict) and v is not Strict}
    return bodies


def test_every_request_field_that_lands_in_a_column_fits_it() -> None:
    checked = 0
    for model, (table, renamed) in LANDS_IN.items():
        assert set(renamed) <= set(model.model_fields), (model, renamed)
        for field in model.model_fields:
            column = table.columns.get(renamed.get(field, field))
            if column is None or not isinstance(column.type, String) or column.type.length is None:
                continue
            lengths = _max_lengths(_field_schema(model, field))
            assert lengths, f"{model.__name__}.{field} takes no text, yet lands in {table.name}.{column.name}"
            assert all(n is not None and n <= column.type.length for n in lengths), (
                f"{model.__name__}.{field} allows {lengths}, {table.name}.{column.name} holds "
                f"{column.type.length}")
            checked += 1
    assert checked >= 20
    # The columns the fuzzing found too short for what the API allowed, now from one place.
    assert CaseRecord.__table__.c.channel.type.length == limits.CODE  # type: ignore[attr-defined]
    assert CaseRecord.__table__.c.category.type.length == limits.CATEGORY  # type: ignore[attr-defined]


def test_every_request_body_refuses_nul_and_surrogates_and_is_mapped_or_stores_nothing() -> None:
    # Every body is a Strict model (their shared validator refuses NUL and lone surrogates);
    # those that land in columns are in LANDS_IN, the rest only name things looked up.
    not_stored = {b.__name__ for b in _request_bodies()} - {m.__name__ for m in LANDS_IN}
    assert not_stored <= {
        "ReasonBody", "OptionalNote", "DeliveryConfirmation", "EscalateRequest", "ExtendRequest", "ChangeTypeRequest",
        "AcknowledgeRequest", "DraftResponseRequest", "SendRequest", "HoldingResponseRequest",
        "SendBackRequest", "AuthorityRequest",
        "ReviewScheduleIn",  # the review's reviewers live in its Temporal Schedule
        "StandardLineUpdate", "EmailTemplateUpload", "TemplatePreviewRequest",
        "CallScriptUpload", "ScriptChannelTexts",  # a call script's texts land in template_version.parts (jsonb)
        # A lead complaint's fields land in case_record.details (jsonb), its codes name list values.
        "LeadComplaintCreate", "ResolveRequest", "ChangeResolutionRequest", "DisputeRequest",
        # A lead return's reason and decision land in the case's details (jsonb) and timeline.
        "ReturnRequest", "DecideRequest", "UnreferRequest", "ReplacementRequest",
    }, not_stored
    for bad in (NUL, SURROGATE):
        with pytest.raises(ValueError) as refused:
            case_schemas.NoteBody(text=bad)
        assert refused.value.errors()[0]["loc"] == ("text",)  # type: ignore[attr-defined]
        with pytest.raises(ValueError):
            case_schemas.CorrespondentIn(name="Jane", address_lines=["1 High St", bad])


# ---- through the API -------------------------------------------------------------------------


async def _counts(sessionmaker) -> tuple[int, int]:
    async with sessionmaker() as session:
        cases = await session.scalar(select(func.count()).select_from(CaseRecord))
        reserved = await session.scalar(select(func.count()).select_from(CaseRegistration))
    return cases or 0, reserved or 0


def _post_json(api, url: str, body: Any, user: str):
    # json.dumps writes a lone surrogate as its \ud800 escape, as any client would send it.
    return api.post(url, content=json.dumps(body), headers=auth(user, **{"Content-Type": "application/json"}))


def _named(response, *loc: str) -> None:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(tuple(d["loc"][-len(loc):]) == loc for d in detail), detail
    assert len(response.content) < 4000, len(response.content)


REGISTRATION_POISON = [
    ({"correspondents": [{"name": NUL}]}, ("correspondents", 0, "name")),
    ({"correspondents": [{"name": "Jane", "address_lines": [SURROGATE]}]}, ("correspondents", 0, "address_lines")),
    ({"correspondents": [{"name": "Jane", "relationship": "r" * 41}]}, ("correspondents", 0, "relationship")),
    ({"correspondents": [{"name": "Jane", "email": "a" * 310 + "@example.net"}]}, ("correspondents", 0, "email")),
    ({"channel": "c" * 41}, ("channel",)),
    ({"severity": "s" * 41}, ("severity",)),
    ({"category": "c" * 101}, ("category",)),
    ({"description": SURROGATE}, ("description",)),
    ({"description": NUL}, ("description",)),
    ({"description": "d" * (limits.TEXT + 1)}, ("description",)),
]


@pytest.mark.parametrize(("poison", "loc"), REGISTRATION_POISON,
                         ids=[f"{'.'.join(map(str, loc))}-{n}" for n, (_, loc) in enumerate(REGISTRATION_POISON)])
async def test_a_poisoned_registration_is_a_422_naming_the_field_and_writes_nothing(
        api, sessionmaker, poison, loc) -> None:
    before = await _counts(sessionmaker)
    answer = await asyncio.wait_for(_post_json(api, "/cases", complaint(**poison), "handler"), 30)
    assert answer.status_code == 422, answer.text
    assert any(d["loc"][1:1 + len(loc)] == list(loc) for d in answer.json()["detail"]), answer.text
    assert await _counts(sessionmaker) == before
    # Registration works afterwards.
    await register(api)


async def test_a_poisoned_step_is_a_422_naming_the_field_and_the_case_takes_its_next_step(api) -> None:
    case = await register(api)
    ref = case["reference"]
    path = case_path(ref)
    for bad in (NUL, SURROGATE, "n" * (limits.TEXT + 1)):
        _named(await _post_json(api, f"{path}/notes", {"text": bad}, "coordinator"), "text")
        _named(await _post_json(api, f"{path}/allocate", {"team": "CENTRAL", "reason": bad}, "coordinator"),
               "reason")
        _named(await _post_json(api, f"{path}/close", {"reason": "withdrawn", "note": bad}, "coordinator"),
               "note")
    _named(await _post_json(api, f"{path}/allocate", {"team": "T" * 41}, "coordinator"), "team")
    _named(await _post_json(api, f"{path}/close", {"reason": "r" * 101}, "coordinator"), "reason")

    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL", "assignee": "drafter"})
    await step(api, ref, "acknowledge", "drafter", {"channel": "email"})
    for bad in (NUL, SURROGATE):
        _named(await _post_json(api, f"{path}/clarifications",
                                {"channel": "email", "questions": bad, "reply_by": "2099-01-01"}, "drafter"),
               "questions")
    noted = await step(api, ref, "notes", "drafter", {"text": "still healthy"})
    assert [n["text"] for n in noted["notes"]] == ["still healthy"]
    timeline = (await api.get(f"{path}/timeline", headers=auth("coordinator"))).json()
    assert not any("\x00" in json.dumps(e) or "\\u0000" in json.dumps(e) for e in timeline)


async def test_nul_and_surrogates_in_parameters_and_big_offsets_are_4xx(api) -> None:
    for url, loc in [("/cases?q=%00", ("query", "q")), ("/cases?team=A%00", ("query", "team")),
                     ("/cases/A%00/1/2", ("path", "prefix")),
                     ("/search/cases?complainant=ab%00", ("query", "complainant")),
                     ("/cases/COMP/1/2/timeline?x%00=1", ("query", "x\x00"))]:
        answer = await api.get(url, headers=auth("coordinator"))
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["detail"][0]["loc"] == list(loc), (url, answer.text)
    # A case the user may see: for a missing one, 404 comes before anything else.
    ref = (await register(api))["reference"]
    for url in ("/cases?offset=9223372036854775808", "/cases?offset=99999999999999999999999",
                f"{case_path(ref)}/timeline?offset=9223372036854775808"):
        answer = await api.get(url, headers=auth("coordinator"))
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "offset"], answer.text
    # A lone surrogate in a field name: the 422 is still valid JSON, naming it escaped.
    answer = await _post_json(api, "/cases", {**complaint(), "odd\udc00": 1}, "handler")
    assert answer.status_code == 422 and "\\udc00" in answer.text and answer.json()["detail"]


async def test_a_422_echoes_only_a_short_prefix_of_the_input(api) -> None:
    case = await register(api)
    huge = "x" * 5_000_000
    answer = await api.post(f"{case_path(case['reference'])}/notes", json={"text": huge},
                            headers=auth("coordinator"))
    _named(answer, "text")
    echoed = answer.json()["detail"][0]["input"]
    assert echoed.startswith("xxx") and len(echoed) <= 101
    # A missing field echoes the body it was missing from: that is cut short too.
    answer = await api.post("/cases", json={"description": huge}, headers=auth("handler"))
    assert answer.status_code == 422 and len(answer.content) < 4000


async def test_an_upload_whose_name_its_column_cannot_hold_is_a_422(api) -> None:
    for name in ("n" * 252 + ".txt", "m" * 300 + ".txt"):
        answer = await api.post("/uploads", files={"file": (name, b"hello", "text/plain")},
                                headers=auth("handler"))
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "file"], answer.text


async def test_patching_a_digest_while_it_is_deleted_is_a_404(api, engine) -> None:
    body = {"team": "CENTRAL", "schedule": {"frequency": "daily", "time": "03:17", "time_zone": "UTC"}}
    created = await api.post("/digests", json=body, headers=auth("coordinator"))
    assert created.status_code == 201, created.text
    sub = created.json()
    # Another request's DELETE holds the row; the PATCH waits for it, then finds nothing.
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(text("DELETE FROM digest_subscription WHERE id = :id"), {"id": sub["id"]})
        patch = asyncio.create_task(api.patch(f"/digests/{sub['id']}", json={"active": False},
                                              headers=auth("coordinator")))
        await asyncio.sleep(0.5)
        await transaction.commit()
    answer = await asyncio.wait_for(patch, 30)
    assert answer.status_code == 404, answer.text
    gone = await api.delete(f"/digests/{sub['id']}", headers=auth("coordinator"))
    assert gone.status_code == 404


# ---- what slips past the API ------------------------------------------------------------------


async def test_the_projection_raises_data_postgresql_refuses_non_retryable(api, temporal, engine) -> None:
    case = await register(api)
    state = await temporal.get_workflow_handle(case["reference"]).query(ComplaintCaseWorkflow.current_state)
    for change, field in [({"channel": "c" * 41}, "channel"), ({"description": NUL}, "description")]:
        poisoned = state.model_copy(deep=True, update={"version": state.version + 1})
        poisoned.details = poisoned.details.model_copy(update=change)
        with pytest.raises(ApplicationError) as refused:
            await write_projection(engine, ProjectCaseInput(state=poisoned, events=[]))
        assert refused.value.non_retryable and refused.value.type == DATA_REFUSED
        assert refused.value.details[0]["field"] == field
    named = state.model_copy(deep=True, update={"version": state.version + 1})
    named.correspondents[0].name = NUL
    with pytest.raises(ApplicationError) as refused:
        await write_projection(engine, ProjectCaseInput(state=named, events=[]))
    # The primary correspondent is also the case row's complainant_name, found first.
    assert refused.value.details[0]["field"] in ("complainant_name", "correspondents.name")


async def test_a_step_postgresql_refuses_fails_at_once_and_the_case_stays_healthy(api, temporal) -> None:
    case = await register(api)
    ref = case["reference"]
    me = (await api.get("/me", headers=auth("coordinator"))).json()
    actor = Actor(user_id=me["id"], username=me["username"], display_name=me["display_name"], roles=me["roles"])
    handle = temporal.get_workflow_handle(ref)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await asyncio.wait_for(handle.execute_update(ComplaintCaseWorkflow.add_note,
                                                     NoteInput(actor=actor, text=NUL)), 30)
    # A local activity's failure arrives as itself; a regular one's inside an ActivityError.
    assert isinstance(failed.value.cause, (ActivityError, ApplicationError))
    answer = from_update_failure(failed.value)
    assert answer.status_code == 422 and answer.detail[0]["loc"] == ["body", "notes.text"]
    # The case was put back as it was: its next step goes through and nothing poisoned is kept.
    noted = await step(api, ref, "notes", "coordinator", {"text": "after the refusal"})
    assert [n["text"] for n in noted["notes"]] == ["after the refusal"]
    state = await handle.query(ComplaintCaseWorkflow.current_state)
    assert all("\x00" not in n.text for n in state.notes)


async def test_a_registration_postgresql_refuses_answers_422_and_ends_the_run(api, temporal, engine, settings) -> None:
    from api.routes.cases import start_case

    case = await register(api)
    start_state = await temporal.get_workflow_handle(case["reference"]).query(ComplaintCaseWorkflow.current_state)
    from casework.kinds.complaint.contracts import CaseDetails, CaseStart

    reference = case["reference"].replace("/", "-") + "-refused"
    start = CaseStart(reference=reference, case_type=start_state.case_type,
                      details=CaseDetails(channel="c" * 41, category="Billing", severity="medium",
                                          description="poison", date_received=start_state.date_received),
                      correspondents=start_state.correspondents, attachments=[],
                      actor=Actor(user_id=1, username="handler", display_name="Handler"))
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await asyncio.wait_for(start_case(temporal, engine, settings.task_queue, start), 30)
    assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == INVALID
    answer = from_update_failure(failed.value)
    assert answer.status_code == 422 and answer.detail[0]["loc"] == ["body", "channel"]
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(temporal.get_workflow_handle(reference).result(), 30)
    assert (await api.get(case_path(case["reference"]), headers=auth("coordinator"))).status_code == 200


async def test_a_registration_the_workflow_refuses_releases_its_reservation(api, sessionmaker, monkeypatch) -> None:
    # What the API's validation lets through but PostgreSQL refuses, staged by poisoning the start.
    from api.routes import cases as case_routes

    real_start = case_routes.start_case

    async def poisoned(client, engine, task_queue, start, *workflow_class):
        start.details.channel = "c" * 41
        return await real_start(client, engine, task_queue, start, *workflow_class)

    monkeypatch.setattr(case_routes, "start_case", poisoned)
    before = await _counts(sessionmaker)
    answer = await asyncio.wait_for(
        api.post("/cases", json=complaint(), headers=auth("handler", **{"Idempotency-Key": "x" * 200})), 30)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "channel"]
    assert await _counts(sessionmaker) == before  # no case row, no reservation left behind
    monkeypatch.setattr(case_routes, "start_case", real_start)
    await register(api)


async def test_admin_bodies_taken_as_json_refuse_nul_and_surrogates(api) -> None:
    # Nothing is recalculated or changed: the 422 comes before any case or policy is touched.
    answer = await _post_json(api, "/admin/calendars/england-and-wales/recalculate", {"reason": NUL}, "admin")
    _named(answer, "reason")
    answer = await api.put("/admin/case-types/COMP/deadline-policy",
                           headers=auth("admin", **{"Content-Type": "application/json"}),
                           content=json.dumps({"preset": "uk-public-sector", "name": SURROGATE}))
    _named(answer, "name")


async def test_a_number_is_neither_a_date_nor_a_flag(api) -> None:
    # Pydantic would read received_from=20260101 as seconds since 1970, and is_primary: 0 as false.
    for name in ("received_from", "deadline_to"):
        response = await api.get("/search/cases", params={name: "20260101"}, headers=auth("admin"))
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["query", name]
    assert (await api.get("/search/cases", params={"received_from": "2026-01-01"},
                          headers=auth("admin"))).status_code == 200
    body = complaint(correspondents=[{"name": "Jane Citizen", "is_primary": 0}])
    response = await api.post("/cases", json=body, headers=auth("handler"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "correspondents", 0, "is_primary"]
    # Every body model is held to it (api.schemas.base.Strict), so a new one cannot forget it.
    line = {"category": "Billing", "topic": "Refunds", "text": "Five days.", "expires_on": 20270101}
    response = await api.post("/standard-lines", json=line, headers=auth("admin"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "expires_on"]
    for flag in ("yes", 1):
        response = await api.post("/digests", headers=auth("admin"), json={
            "team": "SERVICE", "active": flag, "schedule": {"frequency": "daily", "time": "03:00"}})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "active"]
