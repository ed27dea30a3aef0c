"""Schemathesis against the app's own OpenAPI document: every operation, as an administrator and as
a handler, must answer without a 5xx and only with the status codes, headers and bodies it documents.

- Requests are generated from the document `/openapi.json` serves, so a new route is fuzzed without
  being named here. Generation is deterministic: a fixed seed (Hypothesis `derandomize`), a few
  examples per operation, schema-valid and schema-invalid, and no example database written.
- Requests go through the session's app and clients (the `api` fixture), on its event loop: real
  PostgreSQL, Temporal and SMTP. Schemathesis's own checks judge each answer.
- Random path values mostly meet a 404, so each operation is also sent with the references of real
  things: cases at several stages with their notes, clarifications, contributions and documents,
  digest subscriptions, a standard line, a template version. Likewise body and query fields named
  like real things (a team, a user, a case type, a date) are given real values as examples.
- It changes shared configuration (closures, deadline policies, templates), so it runs last in a
  session (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData
from schemathesis.transport.requests import REQUESTS_TRANSPORT
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.casefixtures import auth, register, step, uk_today, upload_draft, walk_to_draft, walk_to_qa

pytestmark = pytest.mark.runs_last

USERS = ("admin", "handler")
# Examples per operation, each mode: with the schema's own path values, and again per real target.
# OPENAPI_FUZZ_EXAMPLES=50 makes a longer exploration, outside `make test`.
EXAMPLES = int(os.environ.get("OPENAPI_FUZZ_EXAMPLES", 4))
EXAMPLES_PER_TARGET = max(1, EXAMPLES * 2 // 3)
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Operations not sent, each with its reason. Nothing else is left out.
SKIPPED: dict[str, str] = {}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


# Fields named like the demo's real things get them as schema examples, and dates a value within
# their bounds, so the coverage phase's valid requests are valid to the app too and reach the
# workflow. By name, so a new route's `team` or `case_type` gets them without being listed.
FIELD_EXAMPLES: dict[str, list[Any]] = {
    "team": ["SERVICE"], "assignee": ["handler"], "case_type": ["COMP"], "reason": ["duplicate"],
    "outcome": ["upheld"], "category": ["Billing"], "severity": ["medium"], "relationship": ["complainant"],
    "time_zone": ["Europe/London"],
}
PAST_DATES = {"date_received", "sent_on", "received_on"}  # when something happened; other dates are due


def with_real_examples(document: dict[str, Any], more: dict[str, list[Any]]) -> dict[str, Any]:
    today = uk_today()
    examples = {**FIELD_EXAMPLES, **more}

    def give(name: str, schema: dict[str, Any]) -> None:
        if "enum" in schema or "$ref" in schema:
            return
        if name in examples:
            schema["examples"] = examples[name]
        elif schema.get("format") == "date" or any(s.get("format") == "date" for s in schema.get("anyOf", [])):
            schema["examples"] = [(today - timedelta(days=1) if name in PAST_DATES else today + timedelta(days=7))
                                  .isoformat()]

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for name, schema in (node.get("properties") or {}).items():
                give(name, schema)
            if "in" in node and "name" in node and isinstance(node.get("schema"), dict):
                give(node["name"], node["schema"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(document)
    return document


def send_unknown_media_types_as_text(document: dict[str, Any]) -> set[str]:
    """A body of a media type Schemathesis has no serializer for (NDJSON: a string in the schema)
    is sent as its text. Returns those media types: sent as text (these, and text/csv or plain), a
    body of the wrong type (the number 0) reads as a valid one ("0"), so is not judged invalid."""
    as_text = set()
    for operations in document["paths"].values():
        for operation in operations.values():
            for media_type in operation.get("requestBody", {}).get("content", {}):
                if REQUESTS_TRANSPORT.get_first_matching_media_type(media_type) is None:
                    schemathesis.serializer.alias(media_type, "text/plain")
                    as_text.add(media_type)
    return as_text


def sent_as_text(case: schemathesis.Case, as_text: set[str]) -> bool:
    return case.media_type is not None and (case.media_type.startswith("text/") or case.media_type in as_text)


@dataclass
class Sent:
    user: str
    case: schemathesis.Case
    response: httpx.Response


def pinned(operation: schemathesis.APIOperation, targets: list[dict[str, str]]) -> list[dict[str, str]]:
    """The real values each target gives this operation's path parameters (none twice)."""
    names = {parameter.name for parameter in operation.path_parameters}
    found: list[dict[str, str]] = []
    for target in targets:
        values = {name: value for name, value in target.items() if name in names}
        if values and values not in found:
            found.append(values)
    return found


def examples(operation: schemathesis.APIOperation, mode: GenerationMode, count: int,
             path_parameters: dict[str, str] | None = None) -> list[schemathesis.Case]:
    cases: list[schemathesis.Case] = []

    # derandomize: the seed is fixed by this function, so every run sends the same requests.
    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    # The bearer token is the sender's (`send`): fixed here so no example goes without one, as an
    # invalid request, and is then answered for a user it did not name.
    @given(operation.as_strategy(generation_mode=mode, path_parameters=path_parameters,
                                 headers={"Authorization": "Bearer sent-as-each-user"}))
    def collect(case: schemathesis.Case) -> None:
        cases.append(case)

    try:
        collect()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
        assert mode is GenerationMode.NEGATIVE, operation.label
    return cases


def coverage(schema: schemathesis.BaseSchema, operation: schemathesis.APIOperation,
             targets: list[dict[str, str]]) -> list[schemathesis.Case]:
    """Schemathesis's coverage phase (no randomness): each parameter and body field at its bounds,
    missing, of the wrong type, and the methods the path does not take. A case that does not vary
    the path is addressed to the real targets in turn, so its body reaches the step."""
    cases = list(schema.iter_coverage_cases(operation, generation_modes=list(MODES),
                                            generation_config=schema.config.generation_for(operation=operation)))
    real = itertools.cycle(pinned(operation, targets) or [{}])
    for case in cases:
        data = case.meta.phase.data if case.meta else None
        if not (isinstance(data, CoveragePhaseData) and data.parameter_location is ParameterLocation.PATH):
            case.path_parameters = {**(case.path_parameters or {}), **next(real)}
    return cases


def ends_something(operation: schemathesis.APIOperation) -> bool:
    """Closing a case or deleting a thing: sent last, so the other operations meet them still open."""
    return operation.method.upper() == "DELETE" or operation.path.endswith("/close")


def generate(schema: schemathesis.BaseSchema, targets: list[dict[str, str]]) -> list[schemathesis.Case]:
    cases: list[schemathesis.Case] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in sorted(operations, key=ends_something):
        if operation.label in SKIPPED:
            continue
        cases += coverage(schema, operation, targets)
        for mode in MODES:
            cases += examples(operation, mode, EXAMPLES)
            for values in pinned(operation, targets):
                cases += examples(operation, mode, EXAMPLES_PER_TARGET, values)
    return cases


async def send(api: httpx.AsyncClient, case: schemathesis.Case, user: str) -> httpx.Response:
    # `requests` encodes the case as Schemathesis's own transport would (JSON, multipart, raw bytes);
    # the session's client sends it.
    prepared = requests.Request(**case.as_transport_kwargs(base_url=str(api.base_url))).prepare()
    data = case.meta.phase.data if case.meta else None
    # A case whose point is a missing or malformed token is sent as it is (an answer for nobody).
    tokenless = isinstance(data, CoveragePhaseData) and (data.parameter or "").lower() == "authorization"
    headers = {**prepared.headers, **({} if tokenless else auth(user))}
    return await api.request(prepared.method or case.method, prepared.url or "", headers=headers,
                             content=prepared.body)


def _sent_as_nothing(value: Any) -> bool:
    """A list or object holding nothing but lists and objects: a query string carries none of it."""
    if isinstance(value, dict):
        return all(_sent_as_nothing(v) for v in value.values())
    return isinstance(value, list) and all(_sent_as_nothing(v) for v in value)


def _a_list_of_one(value: str, parameter: Any) -> bool:
    """The parameter takes a list whose items may be `value`: a lone string is sent as a list of one."""
    schema = parameter.definition.get("schema", {})
    return any(s.get("type") == "array" and jsonschema_rs.validator_for(s.get("items", {})).is_valid(value)
               for s in [schema, *schema.get("anyOf", [])])


def invalid_only_before_it_is_sent(case: schemathesis.Case) -> bool:
    """A case made invalid only by query values a query string cannot carry: an empty (or nested
    empty) list or object goes as nothing, a lone string for a parameter taking strings as a list
    of one. The request sent is a valid one. (Schemathesis's own allowances cover either alone,
    not both in one case.)"""
    data = case.meta.phase.data if case.meta else None
    mutations = getattr(data, "mutations", None)
    parameters = {parameter.name: parameter for parameter in case.operation.query}
    if not mutations or any(m.parameter_location is not ParameterLocation.QUERY or m.parameter not in parameters
                            for m in mutations):
        return False
    values = [((case.query or {}).get(m.parameter), parameters[m.parameter]) for m in mutations]
    return all(_sent_as_nothing(value) or (isinstance(value, str) and _a_list_of_one(value, parameter))
               for value, parameter in values)


def failures_of(sent: Sent, judge_invalid: bool = True) -> list[str]:
    invalid = (judge_invalid and sent.case.meta is not None and sent.case.meta.generation.mode.is_negative
               and not invalid_only_before_it_is_sent(sent.case))
    checks = CHECKS + ([negative_data_rejection] if invalid else [])
    try:
        sent.case.validate_response(sent.response, checks=checks)
    except FailureGroup as group:
        request = sent.response.request
        body = (request.content or b"")[:300]
        return [f"{sent.user} {sent.case.operation.label} -> {sent.response.status_code}: {failure.title}\n"
                f"  {failure.message[:400]}\n  request: {request.method} {request.url} {body!r}\n"
                f"  answer: {sent.response.text[:300]}" for failure in group.exceptions]
    return []


async def real_targets(api: httpx.AsyncClient) -> list[dict[str, str]]:
    """Things that exist, by the names of the path parameters that address them."""

    def case_of(reference: str, **more: str) -> dict[str, str]:
        prefix, number, year = reference.split("/")
        return {"prefix": prefix, "number": number, "year": year, **more}

    triage = (await register(api))["reference"]
    # In the handler's team (SERVICE) with one of everything a case route can name.
    working = (await register(api))["reference"]
    await step(api, working, "allocate", "coordinator", {"team": "SERVICE", "assignee": "handler"})
    await step(api, working, "acknowledge", "handler", {"channel": "email"})
    case = await step(api, working, "notes", "handler", {"text": "Called the complainant."})
    note = case["notes"][-1]["id"]
    due = (uk_today() + timedelta(days=10)).isoformat()
    case = await step(api, working, "clarifications", "admin",
                      {"channel": "email", "questions": "Which account?", "reply_by": due})
    clarification = case["clarifications"][-1]["id"]
    await step(api, working, f"clarifications/{clarification}/reply", "handler", {"reply": "Account 12345"})
    case = await step(api, working, "contributions", "admin",
                      {"team": "BILLING", "request": "Was it charged twice?", "due_date": due})
    contribution = case["contributions"][-1]["id"]
    # CENTRAL's, so hidden from the handler: one at drafting with a draft, one awaiting review.
    drafting = (await walk_to_draft(api))["reference"]
    document = (await upload_draft(api, drafting))["documents"][-1]["id"]
    reviewing = (await walk_to_qa(api))["reference"]
    closed = (await register(api))["reference"]
    await step(api, closed, "close", "coordinator", {"reason": "duplicate", "note": "Registered twice."})

    subscriptions = []
    for user in USERS:
        created = await api.post("/digests", headers=auth(user), json={
            "team": "SERVICE", "schedule": {"frequency": "weekly", "time": "03:00", "day_of_week": "sunday"}})
        assert created.status_code == 201, created.text
        subscriptions.append(created.json()["id"])
    line = await api.post("/standard-lines", headers=auth("admin"), json={
        "category": "Billing", "topic": "Refunds", "text": "Refunds take 5 working days.",
        "expires_on": (uk_today() + timedelta(days=30)).isoformat()})
    assert line.status_code == 201, line.text
    # For stage-2 cases only, which these requests do not reach.
    version = await api.post("/admin/templates/acknowledgement/email", headers=auth("admin"), json={
        "subject": "We have your complaint", "text": "Thank you.", "html": "<p>Thank you.</p>",
        "case_type": "COMP2"})
    assert version.status_code == 201, version.text

    return [
        case_of(triage), case_of(drafting), case_of(reviewing), case_of(closed),
        case_of(working, note_id=note, clarification_id=clarification, contribution_id=contribution,
                document_id=document),
        *({"subscription_id": s} for s in subscriptions),
        {"line_id": line.json()["id"]},
        {"version_id": version.json()["id"]},
        {"code": "COMP"},
        {"purpose": "acknowledgement", "channel": "letter"},
        {"purpose": "response", "channel": "email"},
    ]


async def test_every_operation_answers_as_documented_and_never_with_a_server_error(api, monkeypatch):
    # Hypothesis also draws constants from every project module imported so far, which would make
    # the requests depend on which tests ran before (and write a cache under .hypothesis/).
    monkeypatch.setattr(providers, "_get_local_constants", Constants)
    targets = await real_targets(api)
    triage = next(t for t in targets if "prefix" in t)
    document = with_real_examples((await api.get("/openapi.json")).json(), {
        "case_reference": ["{prefix}/{number}/{year}".format(**triage)]})
    as_text = send_unknown_media_types_as_text(document)
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config())
    cases = await asyncio.to_thread(generate, schema, targets)
    operations = {case.operation.label for case in cases}
    assert len(operations) > 50, operations

    found: list[str] = []
    for case, user in itertools.product(cases, USERS):
        response = await send(api, case, user)
        found += failures_of(Sent(user, case, response), judge_invalid=not sent_as_text(case, as_text))
    assert not found, f"{len(found)} failures in {len(cases) * len(USERS)} requests:\n" + "\n".join(found)
