"""People administration through the API: users, teams, tokens, permissions and the audit trail.

Each test makes its own users and roles (a tag in their names), so it never changes what the
demo users, which every other test signs in as, may do."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update
from temporalio.client import WorkflowUpdateFailedError

from api.errors import from_update_failure
from casework.cases.contracts import Actor, AllocateInput

from casework.people.models import ApiToken
from casework.people import permissions
from casework.people.permissions import declare, effective, registry
from casework.cases.stages import KindPermission, rules_of
from tests.casefixtures import auth, register
from workflows.complaint import ComplaintCaseWorkflow

ADMIN = auth("admin")


def tag() -> str:
    return uuid.uuid4().hex[:8]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_user(api, roles: list[str], teams: list[str] = (), name: str = "user") -> tuple[str, str]:
    """A new user with one token: (username, token)."""
    username = f"{name}-{tag()}"
    created = await api.post("/admin/users", headers=ADMIN, json={
        "username": username, "display_name": f"Test {username}", "email": f"{username}@example.org",
        "roles": roles, "teams": list(teams)})
    assert created.status_code == 201, created.text
    issued = await api.post(f"/admin/users/{username}/tokens", headers=ADMIN, json={"name": "tests"})
    assert issued.status_code == 201, issued.text
    return username, issued.json()["token"]


async def audit_of(api, subject: str, **filters: str) -> list[dict]:
    response = await api.get("/admin/audit", headers=ADMIN, params={"subject": subject, **filters})
    assert response.status_code == 200, response.text
    return response.json()


# ---- tokens -------------------------------------------------------------------------------------


async def test_a_token_is_shown_once_listed_without_its_secret_and_refused_once_revoked(api):
    username, first = await make_user(api, ["handler"], ["SERVICE"])
    me = await api.get("/me", headers=bearer(first))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == username and me.json()["teams"] == ["SERVICE"]

    second = (await api.post(f"/admin/users/{username}/tokens", headers=ADMIN,
                             json={"name": "CRM sync", "expires_at": "2027-06-30T17:00:00Z"})).json()
    listed = (await api.get(f"/admin/users/{username}/tokens", headers=ADMIN)).json()
    assert [t["name"] for t in listed] == ["CRM sync", "tests"]
    assert all(set(t) == {"id", "name", "created_at", "expires_at", "revoked_at"} for t in listed)
    assert first not in str(listed) and second["token"] not in str(listed)

    revoked = await api.delete(f"/admin/users/{username}/tokens/{second['id']}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = await api.get("/me", headers=bearer(second["token"]))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert (await api.get("/me", headers=bearer(first))).status_code == 200  # the other still works
    again = await api.delete(f"/admin/users/{username}/tokens/{second['id']}", headers=ADMIN)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]

    trail = await audit_of(api, second["id"])
    assert [e["action"] for e in trail] == ["token.revoked", "token.issued"]  # once each, newest first
    assert trail[0]["actor"] == "admin" and trail[0]["before"] == {"user": username, "revoked_at": None}
    assert second["token"] not in str(trail)


async def test_an_expired_token_is_refused_and_an_expiry_must_be_ahead(api, sessionmaker):
    username, _ = await make_user(api, ["handler"])
    issued = (await api.post(f"/admin/users/{username}/tokens", headers=ADMIN, json={"name": "short"})).json()
    ninety_days = datetime.fromisoformat(issued["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(days=89) < ninety_days <= timedelta(days=90)
    # Time passes: the token's expiry is behind us.
    async with sessionmaker() as session, session.begin():
        await session.execute(update(ApiToken).where(ApiToken.id == issued["id"])
                              .values(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    assert (await api.get("/me", headers=bearer(issued["token"]))).status_code == 401

    for expires_at, why in (("2020-01-01T00:00:00Z", "in the future"), ("2099-01-01T00:00:00Z", "two years"),
                            ("2027-01-01T00:00:00", "time zone")):
        refused = await api.post(f"/admin/users/{username}/tokens", headers=ADMIN,
                                 json={"name": "bad", "expires_at": expires_at})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "expires_at"] and why in refused.text


async def test_a_deactivated_users_tokens_stop_working_at_once(api):
    username, token = await make_user(api, ["drafter"], ["CENTRAL"])
    assert (await api.get("/me", headers=bearer(token))).status_code == 200  # now in the cache
    changed = await api.patch(f"/admin/users/{username}", headers=ADMIN, json={"active": False})
    assert changed.status_code == 200 and changed.json()["active"] is False
    assert (await api.get("/me", headers=bearer(token))).status_code == 401
    assert (await audit_of(api, username, action="user.deactivated"))[0]["after"] == {"active": False}

    await api.patch(f"/admin/users/{username}", headers=ADMIN, json={"active": True})
    assert (await api.get("/me", headers=bearer(token))).status_code == 200


# ---- permissions ------------------------------------------------------------------------------


async def test_a_permission_granted_to_one_user_lets_that_user_and_no_other_of_the_role_act(api):
    granted, granted_token = await make_user(api, ["handler"], ["SERVICE"], "granted")
    other, other_token = await make_user(api, ["handler"], ["SERVICE"], "other")
    ref = (await register(api))["reference"]

    refused = await api.post(f"/cases/{ref}/allocate", headers=bearer(granted_token), json={"team": "SERVICE"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "'allocate' needs the permission 'complaint.allocate'"

    answer = await api.post(f"/admin/users/{granted}/permissions", headers=ADMIN,
                            json={"permission": "complaint.allocate"})
    assert answer.status_code == 201 and answer.json()["granted_permissions"] == ["complaint.allocate"]
    me = (await api.get("/me", headers=bearer(granted_token))).json()
    assert "complaint.allocate" in me["permissions"] and me["roles"] == ["handler"]

    # The workflow checks the permission again, and lets the step through.
    allocated = await api.post(f"/cases/{ref}/allocate", headers=bearer(granted_token), json={"team": "SERVICE"})
    assert allocated.status_code == 200, allocated.text
    assert allocated.json()["team"] == "SERVICE"
    assert (await api.post(f"/cases/{ref}/allocate", headers=bearer(other_token),
                           json={"team": "SERVICE"})).status_code == 403

    listed = {p["name"]: p for p in (await api.get("/admin/permissions", headers=ADMIN)).json()}
    assert granted in listed["complaint.allocate"]["granted_users"]
    assert listed["complaint.allocate"]["default_roles"] == ["coordinator", "manager"]

    revoked = await api.delete(f"/admin/users/{granted}/permissions/complaint.allocate", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["granted_permissions"] == []
    assert (await api.post(f"/cases/{ref}/allocate", headers=bearer(granted_token),
                           json={"team": "SERVICE"})).status_code == 403
    trail = await audit_of(api, granted, subject_type="user")
    assert [e["action"] for e in trail[:2]] == ["permission.revoked", "permission.granted"]
    assert trail[1]["after"] == {"permission": "complaint.allocate"}


async def test_a_role_grant_gives_every_holder_the_permission_and_its_revocation_takes_it_away(api):
    role = f"auditor_{tag()}"
    unknown = await api.post("/admin/users", headers=ADMIN, json={
        "username": f"a-{tag()}", "display_name": "A", "roles": [role]})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "roles"]

    granted = await api.post(f"/admin/roles/{role}/permissions", headers=ADMIN,
                             json={"permission": "operations.view"})
    assert granted.status_code == 201, granted.text
    _, token = await make_user(api, [role])
    assert (await api.get("/operations/stuck-cases", headers=bearer(token))).status_code == 200

    revoked = await api.delete(f"/admin/roles/{role}/permissions/operations.view", headers=ADMIN)
    assert revoked.status_code == 200
    refused = await api.get("/operations/stuck-cases", headers=bearer(token))
    assert refused.status_code == 403 and "'operations.view'" in refused.json()["detail"]
    assert [e["action"] for e in await audit_of(api, role)] == ["permission.revoked", "permission.granted"]

    again = await api.delete(f"/admin/roles/{role}/permissions/operations.view", headers=ADMIN)
    assert again.status_code == 404
    default = await api.delete("/admin/roles/operations/permissions/operations.view", headers=ADMIN)
    assert default.status_code == 409 and "by default" in default.text


async def test_an_unknown_permission_is_refused_naming_it(api):
    username, _ = await make_user(api, ["handler"])
    for url in (f"/admin/users/{username}/permissions", "/admin/roles/handler/permissions"):
        refused = await api.post(url, headers=ADMIN, json={"permission": "complaint.fly"})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "permission"]
        assert "'complaint.fly'" in refused.json()["detail"][0]["msg"]
    refused = await api.delete(f"/admin/users/{username}/permissions/nothing.here", headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["path", "permission"]


async def test_me_shows_roles_teams_and_effective_permissions(api):
    me = (await api.get("/me", headers=auth("drafter"))).json()
    assert me["roles"] == ["drafter"] and me["teams"] == ["BILLING", "CENTRAL"]
    assert {"complaint.submit_draft", "complaint.draft_response"} <= set(me["permissions"])
    assert "complaint.allocate" not in me["permissions"] and "people.administer" not in me["permissions"]
    admin = (await api.get("/me", headers=ADMIN)).json()
    assert set(admin["permissions"]) == set(registry())


async def test_people_administration_needs_its_permission(api):
    for username in ("coordinator", "manager", "ops", "handler"):
        refused = await api.get("/admin/users", headers=auth(username))
        assert refused.status_code == 403
        assert refused.json()["detail"] == "administering people needs the permission 'people.administer'"


# ---- users and teams ----------------------------------------------------------------------------


async def test_users_are_created_edited_and_refused_by_the_usual_rules(api):
    username, _ = await make_user(api, ["handler"], ["SERVICE"])
    duplicate = await api.post("/admin/users", headers=ADMIN, json={"username": username, "display_name": "X"})
    assert duplicate.status_code == 409 and username in duplicate.text
    for body, field in (({"username": "x y", "display_name": "X"}, "username"),
                        ({"username": f"u-{tag()}", "display_name": "X", "email": "nope"}, "email"),
                        ({"username": f"u-{tag()}", "display_name": "X", "teams": ["NOWHERE"]}, "teams"),
                        ({"username": f"u-{tag()}", "display_name": "X\u0000"}, "display_name")):
        refused = await api.post("/admin/users", headers=ADMIN, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"][:2] == ["body", field]
    assert (await api.get("/admin/users/nobody-here", headers=ADMIN)).status_code == 404

    changed = await api.patch(f"/admin/users/{username}", headers=ADMIN, json={
        "display_name": "Renamed", "roles": ["handler", "drafter"], "teams": ["CENTRAL"], "email": None})
    assert changed.status_code == 200, changed.text
    assert changed.json() | {"id": 0} == {
        "id": 0, "username": username, "display_name": "Renamed", "email": None, "roles": ["drafter", "handler"],
        "teams": ["CENTRAL"], "active": True, "granted_permissions": [], "external_subject": None,
        "first_sso_sign_in_at": None}
    entry = (await audit_of(api, username, action="user.updated"))[0]
    assert entry["before"] == {"display_name": f"Test {username}", "email": f"{username}@example.org",
                               "roles": ["handler"], "teams": ["SERVICE"]}
    assert entry["after"] == {"display_name": "Renamed", "email": None, "roles": ["drafter", "handler"],
                              "teams": ["CENTRAL"]}
    assert entry["actor"] == "admin" and entry["occurred_at"]
    listed = (await api.get("/admin/users", headers=ADMIN, params={"team": "CENTRAL", "role": "drafter"})).json()
    assert username in [u["username"] for u in listed] and "handler" not in [u["username"] for u in listed]
    assert (await api.patch("/admin/users/admin", headers=ADMIN, json={"active": False})).status_code == 409


async def test_teams_are_created_and_edited_with_manager_and_members(api):
    member, member_token = await make_user(api, ["drafter"])
    code = f"T{tag().upper()}"
    created = await api.post("/admin/teams", headers=ADMIN, json={
        "code": code, "name": "Escalations", "email": "escalations@example.org", "manager": "manager",
        "members": [member]})
    assert created.status_code == 201, created.text
    assert created.json() == {"code": code, "name": "Escalations", "email": "escalations@example.org",
                              "manager": "manager", "members": [member]}
    assert (await api.get("/me", headers=bearer(member_token))).json()["teams"] == [code]
    assert (await api.post("/admin/teams", headers=ADMIN, json={"code": code, "name": "Again"})).status_code == 409
    for body, field in (({"code": f"X{tag().upper()}", "name": "N", "members": ["ghost-user"]}, "members"),
                        ({"code": f"X{tag().upper()}", "name": "N", "manager": "ghost-user"}, "manager"),
                        ({"code": "lower", "name": "N"}, "code")):
        refused = await api.post("/admin/teams", headers=ADMIN, json=body)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][:2] == ["body", field], refused.text

    changed = await api.patch(f"/admin/teams/{code}", headers=ADMIN, json={"members": [], "manager": None})
    assert changed.json()["members"] == [] and changed.json()["manager"] is None
    assert (await api.get("/me", headers=bearer(member_token))).json()["teams"] == []
    trail = await audit_of(api, code, subject_type="team")
    assert [e["action"] for e in trail] == ["team.updated", "team.created"]
    assert trail[0]["before"] == {"manager": "manager", "members": [member]}
    assert trail[0]["after"] == {"manager": None, "members": []}
    assert code in [t["code"] for t in (await api.get("/admin/teams", headers=ADMIN)).json()]
    assert (await api.get("/admin/teams/NOPE-NONE", headers=ADMIN)).status_code == 404


# ---- the registry -------------------------------------------------------------------------------


def test_each_kind_action_is_a_permission_held_by_default_by_its_roles():
    rules = rules_of("complaint")
    every = registry()
    for action, roles in rules.action_roles.items():
        assert every[f"complaint.{action}"].default_roles == roles
    assert every["complaint.close_early"].default_roles == rules.early_close_roles
    assert every["complaint.draft_response"].default_roles == {"drafter"}
    # Effective permissions reproduce the role rule, action by action.
    for role in ("handler", "coordinator", "drafter", "qa_reviewer", "manager", "operations"):
        held = effective([role])
        for action in rules.action_roles:
            assert (f"complaint.{action}" in held) == rules.may([role], action), (role, action)
    assert effective(["admin"]) == frozenset(every)


def test_a_module_declares_a_permission_in_one_line(monkeypatch):
    monkeypatch.setattr(permissions, "_DECLARED", dict(permissions._DECLARED))  # this test's own
    name = declare("lead_returns.decide", "accept or decline a lead return", {"returns_decider"})
    assert name in registry() and name in effective(["returns_decider"]) and name not in effective(["handler"])
    assert declare("lead_returns.decide", "accept or decline a lead return", {"returns_decider"}) == name
    with pytest.raises(ValueError, match="declared twice"):
        declare("lead_returns.decide", "something else", {"handler"})
    with pytest.raises(ValueError, match="<area>.<what>"):
        declare("Decide", "no area", set())


def test_a_step_recorded_before_permissions_is_checked_by_its_roles():
    rules = rules_of("complaint")
    assert rules.refusal_of(["coordinator"], None, "allocate") is None
    assert "needs one of the roles" in rules.refusal_of(["handler"], None, "allocate")
    assert rules.refusal_of(["handler"], ["complaint.allocate"], "allocate") is None
    assert rules.refusal_of(["coordinator"], [], "allocate") == "'allocate' needs the permission 'complaint.allocate'"
    assert isinstance(next(iter(rules.permissions.values())), KindPermission)


def test_the_manual_lists_every_permission_with_its_default_roles():
    import api.main  # noqa: F401  (the routes declare theirs)
    from casework.platform.config import PROJECT_ROOT

    manual = (PROJECT_ROOT / "docs" / "people-and-permissions.md").read_text()
    rows = {}
    for line in manual.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            rows[cells[0].strip("`")] = cells[2]
    assert rows == {p.name: ", ".join(sorted(p.default_roles)) for p in registry().values()}


async def test_the_workflow_checks_the_permission_the_step_carries_and_the_role_rule_for_none(api, temporal):
    """An allocation sent to the workflow directly, past the API: refused when the actor's
    permissions lack `complaint.allocate`, whatever their roles; an actor with no permissions at
    all (as every step recorded before permissions) is checked by the role rule."""
    ref = (await register(api))["reference"]
    me = (await api.get("/me", headers=auth("coordinator"))).json()
    coordinator = Actor(user_id=me["id"], username=me["username"], display_name=me["display_name"],
                        roles=me["roles"])
    handle = temporal.get_workflow_handle(ref)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await asyncio.wait_for(handle.execute_update(
            ComplaintCaseWorkflow.allocate,
            AllocateInput(actor=coordinator.model_copy(update={"permissions": ["complaint.add_note"]}),
                          team="CENTRAL")), 30)
    answer = from_update_failure(failed.value)
    assert answer.status_code == 403 and answer.detail == "'allocate' needs the permission 'complaint.allocate'"

    assert coordinator.permissions is None
    state = await asyncio.wait_for(handle.execute_update(
        ComplaintCaseWorkflow.allocate, AllocateInput(actor=coordinator, team="CENTRAL")), 30)
    assert state.team == "CENTRAL"
