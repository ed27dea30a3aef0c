"""The OpenAPI document lists the error answers each operation can give (issue: most operations
documented only 200 and 422): built from what each route depends on, so new routes get them too."""

from __future__ import annotations

import json
import re

import pytest

from api.main import create_app

CASE = "/cases/{prefix}/{number}/{year}"


@pytest.fixture(scope="module")
def schema() -> dict:
    return create_app().openapi()


def answers(schema: dict, path: str, method: str) -> set[str]:
    return set(schema["paths"][path][method]["responses"])


def test_a_case_step_documents_every_answer_it_can_give(schema: dict) -> None:
    assert answers(schema, CASE + "/acknowledge", "post") >= {"200", "401", "403", "404", "409", "422", "503", "504"}
    retry = schema["paths"][CASE + "/acknowledge"]["post"]["responses"]["503"]
    assert "Retry-After" in retry["headers"]


def test_reads_document_not_found_and_unavailable_but_no_conflict(schema: dict) -> None:
    read = answers(schema, CASE, "get")
    assert {"401", "403", "404", "503"} <= read and "409" not in read


def test_every_authenticated_operation_documents_401_and_403(schema: dict) -> None:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path in ("/health", "/health/live", "/digests/unsubscribe"):
                continue
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_every_authenticated_operation_declares_the_bearer_scheme_and_no_other_does(schema: dict) -> None:
    assert schema["components"]["securitySchemes"] == {"bearer": {
        "type": "http", "scheme": "bearer", "bearerFormat": "API token or OpenID Connect JWT",
        "description": schema["components"]["securitySchemes"]["bearer"]["description"]}}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            authenticated = "401" in operation["responses"]
            assert operation.get("security") == ([{"bearer": []}] if authenticated else None), (method, path)


def test_an_operation_with_a_body_documents_that_an_unreadable_one_is_a_400(schema: dict) -> None:
    assert "400" in answers(schema, CASE + "/notes", "post")
    assert "400" in answers(schema, "/uploads", "post")
    assert "400" not in answers(schema, CASE, "get")


def test_readiness_documents_its_503(schema: dict) -> None:
    not_ready = schema["paths"]["/health"]["get"]["responses"]["503"]
    assert "Retry-After" in not_ready["headers"]


def test_a_time_of_day_is_documented_as_it_is_written(schema: dict) -> None:
    assert '"format": "time"' not in json.dumps(schema)
    time = schema["components"]["schemas"]["DigestScheduleIn"]["properties"]["time"]
    assert re.fullmatch(time["pattern"], "07:30") and not re.fullmatch(time["pattern"], "7.30pm")


def test_no_two_routes_share_a_method_and_path():
    """Each kind's steps live under /cases/{ref}/: two kinds naming a step alike would leave one
    of them unreachable (the first router included answers), so names must differ."""
    from collections import Counter

    from fastapi.routing import APIRoute

    from api.main import create_app

    seen = Counter((method, route.path) for route in create_app().routes if isinstance(route, APIRoute)
                   for method in route.methods)
    assert [key for key, count in seen.items() if count > 1] == []
