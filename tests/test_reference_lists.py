"""Reference lists through the API: an administrator adds, renames, orders and retires values; a
picker is offered the active ones; code checking a value gets the value or a 422-ready refusal."""

from __future__ import annotations

import uuid

import pytest

from casework.reference_lists import ListValueError, declare_list, require_value
from tests.casefixtures import auth

SUFFIX = uuid.uuid4().hex[:6]
KINDS_OF_THING = declare_list(f"test_types_{SUFFIX}", "test complaint types")
OUTCOMES = declare_list(f"test_outcomes_{SUFFIX}", "test outcome types")
DETAILS = declare_list(f"test_details_{SUFFIX}", "test resolutions", parent=OUTCOMES)


async def put(api, name: str, code: str, body: dict, user: str = "admin"):
    return await api.put(f"/admin/lists/{name}/{code}", json=body, headers=auth(user))


async def test_an_administrator_adds_renames_orders_and_retires_values(api):
    assert (await put(api, KINDS_OF_THING, "service", {"label": "Service Issue", "position": 2})).status_code == 201
    assert (await put(api, KINDS_OF_THING, "info", {"label": "Incorrect Information", "position": 1})).status_code == 201
    renamed = await put(api, KINDS_OF_THING, "service", {"label": "Service issue", "position": 2})
    assert renamed.status_code == 200 and renamed.json()["label"] == "Service issue"
    offered = (await api.get(f"/lists/{KINDS_OF_THING}", headers=auth("handler"))).json()
    assert [(v["code"], v["label"]) for v in offered] == [("info", "Incorrect Information"), ("service", "Service issue")]

    assert (await put(api, KINDS_OF_THING, "info", {"label": "Incorrect Information", "active": False})).status_code == 200
    offered = (await api.get(f"/lists/{KINDS_OF_THING}", headers=auth("handler"))).json()
    assert [v["code"] for v in offered] == ["service"]
    every = (await api.get(f"/admin/lists/{KINDS_OF_THING}", headers=auth("admin"))).json()
    assert {(v["code"], v["active"]) for v in every} == {("service", True), ("info", False)}
    listed = {l["name"]: l for l in (await api.get("/admin/lists", headers=auth("admin"))).json()}
    assert (listed[KINDS_OF_THING]["active_values"], listed[KINDS_OF_THING]["retired_values"]) == (1, 1)

    trail = (await api.get("/admin/audit", params={"subject": f"{KINDS_OF_THING}/service"},
                           headers=auth("admin"))).json()
    assert [e["action"] for e in trail] == ["list_value.changed", "list_value.added"]
    assert trail[0]["before"] == {"label": "Service Issue"} and trail[0]["after"] == {"label": "Service issue"}


async def test_a_value_under_a_parent_names_one_on_the_parent_list(api):
    assert (await put(api, OUTCOMES, "rejected", {"label": "Rejected"})).status_code == 201
    missing = await put(api, DETAILS, "incomplete", {"label": "Incomplete Profile"})
    assert missing.status_code == 422 and "parent" in missing.text
    unknown = await put(api, DETAILS, "incomplete", {"label": "Incomplete Profile", "parent": "upheld"})
    assert unknown.status_code == 422 and "'upheld' is not on the list" in unknown.text
    assert (await put(api, DETAILS, "incomplete", {"label": "Incomplete Profile", "parent": "rejected"})).status_code == 201
    under = (await api.get(f"/lists/{DETAILS}", params={"parent": "rejected"}, headers=auth("drafter"))).json()
    assert [v["code"] for v in under] == ["incomplete"] and under[0]["parent"] == "rejected"
    assert (await put(api, OUTCOMES, "x", {"label": "X", "parent": "rejected"})).status_code == 422


async def test_checking_a_value_refuses_what_is_not_offered_naming_the_field(api, sessionmaker):
    empty = declare_list(f"test_empty_{SUFFIX}", "lead complaint types")
    async with sessionmaker() as session:
        with pytest.raises(ListValueError) as refused:
            await require_value(session, empty, "anything", field="type")
        assert refused.value.field == "type"
        assert "no lead complaint types is set up" in refused.value.message and "administrator" in refused.value.message
    await put(api, OUTCOMES, "upheld", {"label": "Upheld"})
    await put(api, DETAILS, "refund", {"label": "Refund", "parent": "upheld"})
    await put(api, DETAILS, "old", {"label": "Old", "parent": "upheld", "active": False})
    async with sessionmaker() as session:
        assert (await require_value(session, DETAILS, "refund", field="resolution", parent="upheld")).label == "Refund"
        for code, parent, why in (("old", "upheld", "is retired"), ("nope", "upheld", "is not on the list"),
                                  ("refund", "rejected", "does not belong to rejected")):
            with pytest.raises(ListValueError) as refused:
                await require_value(session, DETAILS, code, field="resolution", parent=parent)
            assert why in refused.value.message, refused.value.message


async def test_only_who_manages_lists_changes_them_and_an_unknown_list_is_404(api):
    refused = await put(api, KINDS_OF_THING, "x", {"label": "X"}, user="manager")
    assert refused.status_code == 403 and "'reference_lists.manage'" in refused.text
    assert (await api.get("/admin/lists", headers=auth("handler"))).status_code == 403
    assert (await api.get("/lists/no_such_list", headers=auth("handler"))).status_code == 404
    assert (await put(api, "no_such_list", "x", {"label": "X"})).status_code == 404


async def test_a_complaint_is_registered_with_a_channel_category_and_severity_from_their_lists(api):
    from tests.casefixtures import complaint, register

    unknown = await api.post("/cases", json=complaint(category="Parking"), headers=auth("handler"))
    assert unknown.status_code == 422
    [error] = unknown.json()["detail"]
    assert error["loc"] == ["body", "category"] and "'Parking' is not on the list" in error["msg"]
    assert "Billing" in error["msg"]  # what it offers
    assert (await api.post("/cases", json=complaint(channel="pigeon"), headers=auth("handler"))).status_code == 422

    category = f"Parking {SUFFIX}"
    assert (await put(api, "complaint_categories", category, {"label": category})).status_code == 201
    case = await register(api, category=category)  # offered at once
    assert case["category"] == category
    await put(api, "complaint_categories", category, {"label": category, "active": False})
    retired = await api.post("/cases", json=complaint(category=category), headers=auth("handler"))
    assert retired.status_code == 422 and "is retired" in retired.text
    kept = await api.get(f"/cases/{case['reference']}", headers=auth("coordinator"))
    assert kept.json()["category"] == category  # an old case keeps its value
    offered = (await api.get("/lists/complaint_severities", headers=auth("handler"))).json()
    assert [v["code"] for v in offered] == ["low", "medium", "high"]


async def test_a_contribution_request_names_its_kind_from_the_list(api):
    from tests.casefixtures import case_path, step, walk_to_draft

    offered = (await api.get("/lists/complaint_contribution_kinds", headers=auth("drafter"))).json()
    assert [v["code"] for v in offered] == ["business_area", "legal", "finance", "external"]
    case = await walk_to_draft(api)
    ref = case["reference"]
    ask = {"team": "CENTRAL", "request": "Was the meter read?", "channel": None, "due_date": case["date_received"]}
    unknown = await api.post(f"{case_path(ref)}/contributions", json={**ask, "kind": "astrology"},
                             headers=auth("drafter"))
    assert unknown.status_code == 422
    [error] = unknown.json()["detail"]
    assert error["loc"] == ["body", "kind"] and "'astrology' is not on the list" in error["msg"]
    case = await step(api, ref, "contributions", "drafter", {**ask, "kind": "legal"})
    [asked] = case["contributions"]
    assert asked["kind"] == "legal"
    timeline = (await api.get(f"{case_path(ref)}/timeline", headers=auth("drafter"))).json()
    requested = next(e for e in timeline if e["kind"] == "contribution_requested")
    assert requested["data"]["kind"] == "legal" and "(legal)" in requested["summary"]
    kept = (await api.get(case_path(ref), headers=auth("drafter"))).json()  # read back from PostgreSQL
    assert kept["contributions"][0]["kind"] == "legal"
