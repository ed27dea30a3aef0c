"""Case types administered through the API: a service runs several side by side, each with its
plan, policy and team; a new case of a type is routed to its team on its type's clock."""

from __future__ import annotations

import uuid
from datetime import date

from casework.calendar.workdays import Region, add_working_days, build_calendar
from tests.casefixtures import auth, complaint, register

PLAN = [{"key": "triage", "kind": "triage", "label": "Allocation"},
        {"key": "draft", "kind": "draft", "label": "Draft response"},
        {"key": "send", "kind": "send", "label": "Send response"},
        {"key": "outcome", "kind": "outcome", "label": "Outcome"},
        {"key": "closure", "kind": "closure", "label": "Close case"}]


def new_type(**overrides) -> dict:
    tag = uuid.uuid4().hex[:5].upper()
    return {"code": f"EXG{tag}", "name": f"Ex-gratia payment claim {tag}", "reference_prefix": f"X{tag}",
            "stages": PLAN, "outcome_options": ["paid", "refused"], "close_reasons": ["response sent"],
            "deadline_policy": {"preset": "uk-public-sector", "response_days": 60}, "team": "BILLING",
            **overrides}


async def test_an_admin_creates_a_type_whose_cases_go_to_its_team_on_its_clock(api):
    body = new_type()
    created = await api.post("/admin/case-types", json=body, headers=auth("admin"))
    assert created.status_code == 201, created.text
    assert (created.json()["team"], created.json()["deadline_policy"]["response_days"]) == ("BILLING", 60)

    case = await register(api, case_type=body["code"], date_received=date.today().isoformat())
    assert case["reference"].startswith(body["reference_prefix"] + "/")
    assert (case["case_type"], case["team"], case["stage"]) == (body["code"], "BILLING", "triage")
    year = date.today().year
    calendar = build_calendar(Region.ENGLAND_AND_WALES, range(year, year + 2))
    assert case["deadline"] == add_working_days(date.today(), 60, calendar).isoformat()
    timeline = (await api.get(f"/cases/{case['reference']}/timeline", headers=auth("admin"))).json()
    routed = [e for e in timeline if e["kind"] == "routed"]
    assert routed and routed[0]["data"] == {"team": "BILLING"}
    listed = {t["code"]: t for t in (await api.get("/admin/case-types", headers=auth("admin"))).json()}
    assert listed[body["code"]]["stages"] == [{**s, "optional": False} for s in PLAN]


async def test_editing_a_type_applies_to_new_cases_and_retiring_stops_registrations(api):
    body = new_type(team=None)
    assert (await api.post("/admin/case-types", json=body, headers=auth("admin"))).status_code == 201
    first = await register(api, case_type=body["code"])
    assert first["team"] is None  # the triage queue
    edited = await api.patch(f"/admin/case-types/{body['code']}", json={"team": "SERVICE", "name": "Renamed"},
                             headers=auth("admin"))
    assert edited.status_code == 200 and edited.json()["team"] == "SERVICE"
    assert (await register(api, case_type=body["code"]))["team"] == "SERVICE"
    moved = await api.patch(f"/admin/case-types/{body['code']}", json={"reference_prefix": "ZZNEW"},
                            headers=auth("admin"))
    assert moved.status_code == 409 and "has cases" in moved.text
    trail = (await api.get("/admin/audit", params={"subject": body["code"]}, headers=auth("admin"))).json()
    assert trail[0]["action"] == "case_type.changed"
    assert trail[0]["after"] == {"default_team": "SERVICE", "name": "Renamed"}

    assert (await api.patch(f"/admin/case-types/{body['code']}", json={"active": False},
                            headers=auth("admin"))).status_code == 200
    refused = await api.post("/cases", json=complaint(case_type=body["code"]), headers=auth("handler"))
    assert refused.status_code == 422 and "case_type" in refused.text


async def test_a_type_is_checked_before_anything_is_written(api):
    async def create(**overrides):
        return await api.post("/admin/case-types", json=new_type(**overrides), headers=auth("admin"))

    for overrides, field in (({"stages": PLAN[1:]}, "stages"),
                             ({"stages": [*PLAN[:-1], {"key": "x", "kind": "nonsense", "label": "X"}]}, "stages"),
                             ({"kind": "no_such_kind"}, "kind"),
                             ({"team": "NO_SUCH_TEAM"}, "team"),
                             ({"escalation_type": "NOPE"}, "escalation_type"),
                             ({"deadline_policy": {"preset": "no-such-preset"}}, "preset"),
                             ({"outcome_options": []}, "outcome_options"),
                             ({"reference_prefix": "bad prefix"}, "reference_prefix")):
        answer = await create(**overrides)
        assert answer.status_code == 422 and field in answer.text, (overrides, answer.text)
    assert (await create(code="COMP")).status_code == 409
    taken = await create(reference_prefix="COMP")
    assert taken.status_code == 409 and "COMP" in taken.text
    assert (await api.post("/admin/case-types", json=new_type(), headers=auth("manager"))).status_code == 403
    assert (await api.get("/admin/case-types/NOPE", headers=auth("admin"))).status_code == 404


async def test_a_field_that_must_have_a_value_cannot_be_set_to_null(api):
    for field in ("active", "name", "stages", "outcome_options"):
        answer = await api.patch("/admin/case-types/COMP", json={field: None}, headers=auth("admin"))
        assert answer.status_code == 422 and field in answer.text, answer.text
