"""The authorisation matrix, built from the route table: every route that takes a case reference
x every demo user x a case they may see, one they may not, and a missing one.

Expected, before anything else a route does: 404 for a case the user may not see and for a missing
one, whatever their role; then 403 for a visible case their role may not act on; otherwise an
answer that is neither an authorisation refusal nor an error (a 409 or 422 is fine: bodies are
left empty, only who may get past the check is tested). A route that takes a case reference and
has no row in EXPECTED fails the test, so a new route is added here with its rule.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from api.casesteps import AuthorisedCase, authorised_case
from api.deps import CASE_PATH, case_reference
from api.main import create_app, refuse_unauthorised_case_routes
from api.routes.lead_return import REQUEST as RETURN_REQUEST
from casework.cases.roles import Role
from casework.cases.stages import EngineAction, role_allows
from casework.cases.visibility import ALL_TEAMS_ROLES
from casework.kinds.complaint.rules import ACTION_ROLES, DRAFT_RESPONSE_ROLES, ESCALATE_ROLES, Action
from casework.kinds.customer_complaint.rules import KIND as CC_KIND
from casework.kinds.customer_complaint.rules import RULES as CC_RULES
from casework.kinds.customer_complaint.rules import Action as CC
from casework.kinds.frontline.rules import KIND as FRONT_KIND
from casework.kinds.frontline.rules import RULES as FRONTLINE
from casework.kinds.frontline.rules import Action as Frontline
from casework.parties.access import LEADS_READ, LEDGER_POST, LEDGER_REVERSE, RECORDS_READ, RECORDS_SYNC
from casework.people.permissions import registry
from devtools import demo
from tests.casefixtures import auth, register, step

READ = None  # anyone who may see the case
CC_ROLES = CC_RULES.action_roles


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str] | None  # who may, on a case they see (READ: anyone)
    kind: str = "complaint"  # the kind of case the route's step is for (tried on a case of that kind)
    other_kind: bool = False  # another kind's step: nobody may take it on these (complaint) cases


# (method, path after /cases/{ref}) -> who may. Every case route must have a row.
EXPECTED: dict[tuple[str, str], Rule] = {
    ("GET", ""): Rule(READ),
    ("GET", "/timeline"): Rule(READ),
    ("POST", "/allocate"): Rule(ACTION_ROLES[EngineAction.ALLOCATE]),
    ("POST", "/documents"): Rule(ACTION_ROLES[EngineAction.ADD_DOCUMENT]),
    ("POST", "/close"): Rule(ACTION_ROLES[EngineAction.CLOSE]),
    ("POST", "/complete-stage"): Rule(ACTION_ROLES[EngineAction.COMPLETE_STAGE]),
    ("POST", "/notes"): Rule(ACTION_ROLES[EngineAction.ADD_NOTE]),
    ("PATCH", "/notes/{note_id}"): Rule(ACTION_ROLES[EngineAction.EDIT_NOTE]),
    ("POST", "/extend"): Rule(ACTION_ROLES[EngineAction.EXTEND_DEADLINE]),
    ("POST", "/change-type"): Rule(ACTION_ROLES[EngineAction.CHANGE_TYPE]),
    ("POST", "/deliveries/{delivery_id}/confirm"): Rule(ACTION_ROLES[EngineAction.CONFIRM_DELIVERY]),
    ("POST", "/deliveries/{delivery_id}/resend"): Rule(ACTION_ROLES[EngineAction.RESEND_DELIVERY]),
    ("POST", "/escalate"): Rule(ESCALATE_ROLES),
    ("POST", "/tasks"): Rule(ACTION_ROLES[EngineAction.ADD_TASK]),
    ("POST", "/tasks/{task_id}/complete"): Rule(ACTION_ROLES[EngineAction.COMPLETE_TASK]),
    ("POST", "/tasks/{task_id}/cancel"): Rule(ACTION_ROLES[EngineAction.CANCEL_TASK]),
    ("POST", "/tasks/{task_id}/reassign"): Rule(ACTION_ROLES[EngineAction.REASSIGN_TASK]),
    ("POST", "/tasks/{task_id}/reschedule"): Rule(ACTION_ROLES[EngineAction.RESCHEDULE_TASK]),
    ("POST", "/acknowledge"): Rule(ACTION_ROLES[Action.ACKNOWLEDGE]),
    ("POST", "/clarifications"): Rule(ACTION_ROLES[Action.REQUEST_CLARIFICATION]),
    ("POST", "/clarifications/{clarification_id}/reply"): Rule(ACTION_ROLES[Action.RECORD_CLARIFICATION_REPLY]),
    ("POST", "/contributions"): Rule(ACTION_ROLES[Action.REQUEST_CONTRIBUTION]),
    ("POST", "/contributions/{contribution_id}/complete"): Rule(ACTION_ROLES[Action.COMPLETE_CONTRIBUTION]),
    ("POST", "/contributions/{contribution_id}/cancel"): Rule(ACTION_ROLES[Action.CANCEL_CONTRIBUTION]),
    ("POST", "/draft-response"): Rule(DRAFT_RESPONSE_ROLES),
    ("POST", "/submit-draft"): Rule(ACTION_ROLES[Action.SUBMIT_DRAFT]),
    ("POST", "/qa/approve"): Rule(ACTION_ROLES[Action.APPROVE_DRAFT]),
    ("POST", "/qa/reject"): Rule(ACTION_ROLES[Action.REJECT_DRAFT]),
    ("POST", "/send"): Rule(ACTION_ROLES[Action.SEND_RESPONSE]),
    ("POST", "/holding-response"): Rule(ACTION_ROLES[Action.SEND_HOLDING_RESPONSE]),
    ("POST", "/outcome"): Rule(ACTION_ROLES[Action.RECORD_OUTCOME]),
    ("POST", "/refer-to-manager"): Rule(ACTION_ROLES[Action.REFER_TO_MANAGER]),
    ("POST", "/return-to-triage"): Rule(ACTION_ROLES[Action.RETURN_TO_TRIAGE]),
    ("POST", "/manager/send-to-drafting"): Rule(ACTION_ROLES[Action.SEND_TO_DRAFTING]),
    ("POST", "/correspondents/{correspondent_id}/authority"): Rule(ACTION_ROLES[Action.RECORD_AUTHORITY]),
    # Customer complaints (F3), tried on a customer complaint.
    ("POST", "/plan"): Rule(CC_ROLES[CC.PLAN], CC_KIND),
    ("POST", "/review-results"): Rule(CC_ROLES[CC.RECORD_REVIEW], CC_KIND),
    ("POST", "/decide-claim"): Rule(CC_ROLES[CC.DECIDE], CC_KIND),
    ("POST", "/fulfil"): Rule(CC_ROLES[CC.FULFIL], CC_KIND),
    ("POST", "/post"): Rule(CC_ROLES[CC.POST], CC_KIND),
    # A lead complaint's steps (tests/test_lead_complaints.py checks who may take them): on the
    # complaint cases this matrix walks, nobody's, admin included (no such complaint.* permission).
    **{("POST", path): Rule(frozenset(), other_kind=True) for path in (
        "/take", "/resolve", "/dispute", "/dispute/take", "/dispute/uphold", "/dispute/change", "/dispute/send-back")},
    # A lead return's decision (tests/test_lead_returns.py), tried on a complaint case: nobody gets
    # past the check, as a complaint has no 'decide' step (complaint.decide is no one's permission).
    ("POST", "/decide"): Rule(frozenset(), other_kind=True),
    ("POST", "/replacement"): Rule(frozenset(), other_kind=True),  # lead_return.send_replacement
    # Frontline complaints' own steps (api/routes/frontline/), tried on frontline cases.
    ("POST", "/resolve-contact"): Rule(FRONTLINE.action_roles[Frontline.RESOLVE], FRONT_KIND),
    ("POST", "/investigate"): Rule(FRONTLINE.action_roles[Frontline.INVESTIGATE], FRONT_KIND),
    ("POST", "/follow-up"): Rule(FRONTLINE.action_roles[Frontline.RECORD_FOLLOW_UP], FRONT_KIND),
    ("POST", "/contacts"): Rule(FRONTLINE.action_roles[Frontline.RECORD_CONTACT], FRONT_KIND),
    ("POST", "/claim"): Rule(FRONTLINE.action_roles[Frontline.CLAIM], FRONT_KIND),
}
# Routes of other routers that reach a case: a document of a case, a template previewed against one.
DOWNLOAD = ("GET", "/documents/{document_id}")
PREVIEW = ("POST", "/admin/templates/{purpose}/{channel}/preview")
# An improvement idea may name the frontline complaint it came from: one the proposer may see
# (api/routes/frontline/improvements.py checks it; a case they may not see is 422 like a missing one).
IMPROVEMENT = ("POST", "/frontline/improvements")
OTHER_CASE_ROUTES = {DOWNLOAD, PREVIEW, IMPROVEMENT}

ALLOWED = {200, 201, 409, 422}  # got past authorisation; the empty body may be refused
MISSING = "COMP/999999/99"
CASE_PREFIX = "/cases" + CASE_PATH


def app_routes() -> list[tuple[str, str, APIRoute]]:
    """(method, full path, route) for every API route of the app, routers included."""
    found = []
    for context in iter_route_contexts(create_app().routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found.extend((method, context.path or route.path, route) for method in sorted(route.methods))
    return found


def reaches_a_case(path: str, route: APIRoute) -> bool:
    """Whether a route takes a case reference: in its path, a document's id, or its body."""
    body = route.body_field.field_info.annotation if route.body_field else None
    fields = getattr(body, "model_fields", {})
    return CASE_PATH in path or "{document_id}" in path or "case_reference" in fields or "reference" in fields


def test_every_route_that_reaches_a_case_has_an_expectation():
    case_routes, others = set(), set()
    for method, path, route in app_routes():
        if path.startswith(CASE_PREFIX):
            case_routes.add((method, path.removeprefix(CASE_PREFIX)))
        elif reaches_a_case(path, route):
            others.add((method, path))
    assert case_routes == set(EXPECTED), "a case route without a row in EXPECTED (or a row without its route)"
    assert others == OTHER_CASE_ROUTES


def test_an_app_with_a_case_route_without_the_check_is_not_built():
    app = FastAPI()
    forgetful = APIRouter(prefix="/cases")

    @forgetful.post(CASE_PATH + "/forgotten")
    async def forgotten(reference: str = Depends(case_reference)) -> str:
        return reference

    app.include_router(forgetful)
    with pytest.raises(RuntimeError, match="forgotten"):
        refuse_unauthorised_case_routes(app)

    checked = APIRouter(prefix="/cases")

    @checked.get(CASE_PATH)
    async def read(case: Annotated[AuthorisedCase, authorised_case()]) -> str:
        return case.reference

    refuse_unauthorised_case_routes(FastAPI(routes=checked.routes))


# ---- the matrix -------------------------------------------------------------------------------

USERS = {username: (set(roles), set(teams)) for username, _, roles, teams in demo.USERS}


def sees(username: str, team: str) -> bool:
    roles, teams = USERS[username]
    return bool(roles & ALL_TEAMS_ROLES) or team in teams


def expected(key: tuple[str, str], username: str, which: str) -> set[int]:
    roles, _ = USERS[username]
    if key == PREVIEW:  # an administrator's route: their role first, then the case (a body field)
        if not role_allows(roles, frozenset({Role.ADMIN})):
            return {403}
        return {200} if which == "visible" else {422}
    if which != "visible":
        return {404}
    if key == DOWNLOAD:
        return {200}
    rule = EXPECTED[key]
    if rule.other_kind:
        return {403}
    if rule.roles is not None and not role_allows(roles, rule.roles):
        return {403}
    return ALLOWED


def concrete(path: str, reference: str) -> str:
    prefix, number, year = reference.split("/")
    path = path.replace("{prefix}", prefix).replace("{number}", number).replace("{year}", year)
    return re.sub(r"\{\w+\}", "x", path)


async def test_the_authorisation_matrix(api):
    # One case per team: CENTRAL's is hidden from the handler (SERVICE), SERVICE's from CENTRAL's
    # drafters and reviewer; coordinators, managers, admins and operations see both.
    cases: dict[str, dict[str, tuple[str, str]]] = {"complaint": {}, CC_KIND: {}, FRONT_KIND: {}}
    customer = f"C-{uuid.uuid4().hex[:8]}"
    synced = await api.put(f"/customers/{customer}", json={"kind": "person", "name": "Matrix"},
                           headers=auth("integration"))
    assert synced.status_code == 201, synced.text
    for team in ("CENTRAL", "SERVICE"):
        ref = (await register(api))["reference"]
        filed = await api.post("/customer-complaints", headers=auth("handler"), json={
            "customer": customer, "working_name": "Matrix", "description": "d", "reason": "damaged_goods"})
        assert filed.status_code == 201, filed.text
        for kind, reference in (("complaint", ref), (CC_KIND, filed.json()["reference"])):
            await step(api, reference, "allocate", "coordinator", {"team": team})
            response = await api.post(f"/cases/{reference}/documents", headers=auth("coordinator"),
                                      files={"file": ("note.txt", b"a note", "text/plain")})
            assert response.status_code == 200, response.text
            cases[kind][team] = (reference, response.json()["documents"][-1]["id"])

    # And one frontline complaint per team, taken by an agent of that team.
    for team, agent in (("CENTRAL", "coordinator"), ("SERVICE", "handler")):
        taken = await api.post("/frontline/contacts", headers=auth(agent), json={
            "channel": "phone", "issue": "General", "summary": "s", "department": team,
            "complainant": {"name": "Matrix Caller", "email": f"matrix.{uuid.uuid4().hex[:8]}@example.net"}})
        assert taken.status_code == 201, taken.text
        cases[FRONT_KIND][team] = (taken.json()["reference"], str(uuid.uuid4()))

    checks: list[tuple[str, str, str, str, dict[str, Any], set[int]]] = []
    for username in USERS:
        for key in (*EXPECTED, DOWNLOAD, PREVIEW):
            of_kind = cases[EXPECTED[key].kind if key in EXPECTED else "complaint"]
            visible = [t for t in of_kind if sees(username, t)]
            hidden = [t for t in of_kind if not sees(username, t)]
            targets = [("missing", MISSING, str(uuid.uuid4()))]
            if visible:  # a user of no team and no all-teams role (integration) sees neither
                targets.append(("visible", *of_kind[visible[0]]))
            if hidden:
                targets.append(("hidden", *of_kind[hidden[0]]))
            for which, ref, document_id in targets:
                method, path = key
                kwargs: dict[str, Any] = {}
                if key == DOWNLOAD:
                    url = f"/documents/{document_id}"
                elif key == PREVIEW:
                    url = "/admin/templates/acknowledgement/letter/preview"
                    kwargs["json"] = {"case_reference": ref}
                else:
                    url = concrete(f"/cases/{ref}{path}", ref)
                    if method != "GET":
                        kwargs["json"] = {}
                checks.append((username, which, method, url, kwargs, expected(key, username, which)))

    limit = asyncio.Semaphore(8)

    async def check(username: str, which: str, method: str, url: str, kwargs: dict[str, Any],
                    allowed: set[int]) -> str | None:
        async with limit:
            response = await api.request(method, url, headers=auth(username), **kwargs)
        if response.status_code in allowed:
            return None
        return f"{username} {method} {url} ({which} case): {response.status_code} {response.text[:160]}"

    failures = [f for f in await asyncio.gather(*(check(*c) for c in checks)) if f]
    assert not failures, f"{len(failures)} of {len(checks)} unexpected:\n" + "\n".join(failures)


async def test_the_role_is_checked_before_what_the_body_names_is_looked_up(api):
    ref = (await register(api))["reference"]
    await step(api, ref, "allocate", "coordinator", {"team": "CENTRAL"})
    for action, body in (("allocate", {"team": "NOWHERE"}), ("change-type", {"case_type": "NOPE", "reason": "r"}),
                         ("contributions", {"team": "NOWHERE", "request": "r", "due_date": "2030-01-01"})):
        refused = await step(api, ref, action, "qa", body, expect=403)
        assert "needs the permission 'complaint." in refused["detail"]
    for action in ("clarifications/x/reply", "contributions/x/complete"):
        await step(api, ref, action, "qa", {"reply": "r", "details": "d", "attachment_ids": ["nope"]}, expect=403)
    # The draft response has one rule (a drafter's), with one message.
    refused = await step(api, ref, "draft-response", "coordinator", {}, expect=403)
    assert refused["detail"] == "generating a draft response needs the permission 'complaint.draft_response'"


# ---- people administration: every route, every demo user ------------------------------------

PEOPLE_PREFIXES = ("/admin/users", "/admin/teams", "/admin/roles", "/admin/permissions", "/admin/audit")


async def test_people_administration_routes_answer_only_who_holds_people_administer(api):
    """Every route of people administration, as every demo user: 403 naming the permission unless
    they hold it (by default only admin), and past the check for them (empty bodies: 422, an
    unknown name: 404 or 422)."""
    routes = [(method, path) for method, path, _ in app_routes() if path.startswith(PEOPLE_PREFIXES)]
    assert len(routes) >= 15
    checks = []
    for username in USERS:
        holds = role_allows(USERS[username][0], frozenset({Role.ADMIN}))
        for method, path in routes:
            url = re.sub(r"\{\w+\}", "nobody.here", path)
            kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
            response = await api.request(method, url, headers=auth(username), **kwargs)
            if holds:
                ok = response.status_code in {200, 404, 409, 422}
            else:
                ok = response.status_code == 403 and "'people.administer'" in response.text
            if not ok:
                checks.append(f"{username} {method} {url}: {response.status_code} {response.text[:160]}")
    assert not checks, "\n".join(checks)


# ---- records (api/routes/parties.py, api/routes/ledger.py) -------------------------------------
# Not about a case: who may is the permission each route checks (casework.parties.access), the
# same for every record. Every route under these paths must have a row, with the permission it checks.

RECORD_PATHS = ("/customers", "/partners", "/lead-groups", "/leads", "/contracts", "/invoices", "/imports")
RECORD_ROUTES: dict[tuple[str, str], str] = {
    **{("PUT", f"/{records}/{{external_id}}"): RECORDS_SYNC
       for records in ("customers", "partners", "lead-groups", "leads", "contracts", "invoices")},
    **{("GET", f"/{records}"): RECORDS_READ
       for records in ("customers", "partners", "lead-groups", "contracts", "invoices")},
    **{("GET", f"/{records}/{{external_id}}"): RECORDS_READ
       for records in ("customers", "partners", "lead-groups", "contracts", "invoices")},
    ("POST", "/imports/{record_type}"): RECORDS_SYNC,
    ("GET", "/customers/{external_id}/activities"): RECORDS_READ,
    # Partners' users too, their own leads only (tests/test_partner_access.py).
    ("GET", "/leads"): LEADS_READ,
    ("GET", "/leads/{external_id}"): LEADS_READ,
    ("GET", "/leads/{external_id}/activities"): LEADS_READ,
    ("GET", "/leads/{external_id}/transactions"): LEADS_READ,
    ("POST", "/leads/{external_id}/transactions"): LEDGER_POST,
    ("POST", "/leads/{external_id}/transactions/{transaction_id}/reverse"): LEDGER_REVERSE,
    # Lead returns (tests/test_lead_returns.py): partners' users on their own leads too.
    ("GET", "/leads/{external_id}/returns"): LEADS_READ,
    ("POST", "/leads/{external_id}/returns"): RETURN_REQUEST,
    ("GET", "/leads/{external_id}/return-settings"): RETURN_REQUEST,
    ("POST", "/leads/{external_id}/unrefer"): "lead_return.decide",
}


def checked_permissions(route: APIRoute) -> set[str]:
    found, todo = set(), [route.dependant]
    while todo:
        dependant = todo.pop()
        permission = getattr(dependant.call, "permission", None)
        if permission:
            found.add(permission)
        todo.extend(dependant.dependencies)
    return found


def test_every_record_route_checks_the_permission_in_its_row():
    routes = {(method, path): route for method, path, route in app_routes() if path.startswith(RECORD_PATHS)}
    assert set(routes) == set(RECORD_ROUTES), "a record route without a row (or a row without its route)"
    for key, route in routes.items():
        assert checked_permissions(route) == {RECORD_ROUTES[key]}, key


async def test_the_record_matrix(api):
    checks = []
    for username, (roles, _) in USERS.items():
        for (method, path), permission in RECORD_ROUTES.items():
            url = re.sub(r"\{\w+\}", "x", path).replace("/imports/x", "/imports/leads")
            granted = role_allows(roles, registry()[permission].default_roles | {Role.ADMIN})
            checks.append((username, method, url, granted))

    async def check(username: str, method: str, url: str, granted: bool) -> str | None:
        kwargs: dict[str, Any] = {} if method == "GET" else {"json": {}}
        response = await api.request(method, url, headers=auth(username), **kwargs)
        # Past the check: found or not (404), an empty body refused (422), not CSV (415).
        if (response.status_code == 403) != (not granted) or response.status_code >= 500:
            return f"{username} {method} {url}: {response.status_code} {response.text[:160]}"
        return None

    failures = [f for f in await asyncio.gather(*(check(*c) for c in checks)) if f]
    assert not failures, f"{len(failures)} of {len(checks)} unexpected:\n" + "\n".join(failures)
