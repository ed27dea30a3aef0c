"""What a registration must name: a complainant (never a representative promoted in their place) and
a case type (or the deployment's DEFAULT_CASE_TYPE)."""

from __future__ import annotations

import httpx

from api.main import create_app
from tests.casefixtures import auth, complaint, register

REPRESENTATIVE = {"name": "Sam Advocate", "relationship": "representative", "email": "sam@example.net"}
THIRD_PARTY = {"name": "Mo Neighbour", "relationship": "third_party"}


async def test_a_case_with_only_representatives_or_third_parties_is_refused_naming_the_complainant(api):
    for people in ([REPRESENTATIVE], [REPRESENTATIVE, THIRD_PARTY], [{**REPRESENTATIVE, "is_primary": True}]):
        answer = await api.post("/cases", json=complaint(correspondents=people), headers=auth("handler"))
        assert answer.status_code == 422, answer.text
        assert "complainant" in answer.text and "correspondents" in answer.text


async def test_the_complainant_is_primary_wherever_listed_and_the_representative_stays_one(api):
    case = await register(api, correspondents=[REPRESENTATIVE, {"name": "Jo Complainant", "email": "jo@example.net"}])
    primary = [c for c in case["correspondents"] if c["is_primary"]]
    assert [(c["name"], c["relationship"]) for c in primary] == [("Jo Complainant", "complainant")]


async def test_the_case_type_defaults_per_deployment_and_is_required_where_none_is_set(api, settings, temporal, engine):
    body = complaint()
    del body["case_type"]
    defaulted = await api.post("/cases", json=body, headers=auth("handler"))
    assert defaulted.status_code == 201, defaulted.text
    assert defaulted.json()["case_type"] == settings.default_case_type

    strict = create_app(settings.model_copy(update={"default_case_type": ""}), temporal=temporal, engine=engine)
    async with strict.router.lifespan_context(strict), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=strict), base_url="http://testserver") as client:
        refused = await client.post("/cases", json=body, headers=auth("handler"))
    assert refused.status_code == 422
    assert "case_type is required" in refused.text
