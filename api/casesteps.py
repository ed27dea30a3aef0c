"""What every kind's case routes share: reading a case, authorising a step and applying it as the
case workflow's Update, and turning the workflow's answer into the CaseRead the route returns.

A route names the step by the workflow's Update method (`CaseWorkflow.allocate`,
`ComplaintCaseWorkflow.acknowledge`), never by a string: the action authorised (who may take it) is
the Update's name, so a route cannot authorise one action and apply another, and a renamed or
removed Update fails where it is used. Who may take it is the action's permission, `<kind>.<action>`
(held by default by the roles the case's kind's rule table names; the kind of the case's type, told
by its reference prefix); the workflow checks it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, TypeVar, cast
from urllib.parse import quote

from fastapi import Depends, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError
from temporalio.workflow import UpdateMethodMultiParam

from api import errors
from api.deps import (
    CaseRef,
    CurrentUser,
    IdempotencyKey,
    SessionDep,
    TemporalDep,
    actor_of,
    cached_lookup,
    get_viewer,
    require_permission,
)
from api.schemas.cases import CaseRead
from casework.calendar.deadlines import case_today
from casework.cases import repository
from casework.cases.contracts import Actor, CaseCore, CaseTypeConfig, StepInput, TaskStatus
from casework.cases.stages import (
    DELIVERY_ACTIONS,
    TASK_ACTIONS,
    EngineAction,
    KindRules,
    StagePlan,
    allowed_actions,
    rules_of,
)
from casework.cases.visibility import Viewer, may_see_case
from casework.platform import logs
from casework.platform.db import AppUser, CaseType, Team, reading

StepIn = TypeVar("StepIn", bound=StepInput)
# A case workflow's step: an Update method taking the step's input and answering the case's state.
Step = UpdateMethodMultiParam[[Any, StepIn], CaseCore]


def update_name(step: Step) -> str:
    """The name Temporal records for the step's Update: its method's name (no case workflow renames
    an Update; tests/test_engine_rules.py checks every kind's)."""
    return cast(Any, step).__name__  # the SDK's Update method is the function it decorates


def action_of(step: Step) -> str:
    """The action a step is, for the permission check: the Update's name (every step's Update is named
    after its action)."""
    return update_name(step)


async def rules_of_case(request: Request, reference: str) -> KindRules:
    """The rule table of the case's kind, from its reference's prefix (a cached lookup): 404 for a
    reference no case type has."""
    prefix = reference.split("/", 1)[0]
    case_type = await cached_lookup(request, ("case_type_prefix", prefix),
                                    lambda s: repository.get_case_type_by_prefix(s, prefix))
    if case_type is None:
        raise errors.not_found(f"case {reference}")
    logs.case_kind.set(case_type.kind)
    return rules_of(case_type.kind)


OPEN_TASK_ACTIONS = frozenset(TASK_ACTIONS) - {EngineAction.ADD_TASK}


def case_type_config(row: CaseType) -> CaseTypeConfig:
    return CaseTypeConfig(
        code=row.code, name=row.name, reference_prefix=row.reference_prefix, stages=row.stages,
        outcome_options=row.outcome_options, close_reasons=row.close_reasons,
        escalation_type=row.escalation_type, deadline_policy=row.deadline_policy,
    )


# ---- the case as read -----------------------------------------------------------------------


def ui_url(request: Request, reference: str) -> str | None:
    settings = request.app.state.settings
    if not settings.temporal_ui_port:
        return None
    return (f"http://localhost:{settings.temporal_ui_port}/namespaces/"
            f"{settings.temporal_namespace}/workflows/{quote(reference, safe='')}")


async def read_case(request: Request, session: SessionDep, reference: str) -> CaseRead:
    """The case as PostgreSQL has it."""
    row = await repository.get_case(session, reference)
    if row is None:
        raise errors.not_found(f"case {reference}")
    case_type = await repository.get_case_type(session, row.case_type)
    assert case_type is not None  # a case's type is a foreign key
    children = await repository.case_children(session, reference, row.kind)
    return assemble_case_read(request, attrs(row), case_type.name,
                              StagePlan.from_data(case_type.stages), **children)


def case_from_state(request: Request, state: CaseCore) -> CaseRead:
    """The case as the workflow returned it from a step: the same view without re-reading it."""
    core = {**repository.case_row(state), "escalated_to": None}
    collections = {name: getattr(state, name) for name in state.COLLECTIONS}
    return assemble_case_read(
        request, core, state.case_type.name, StagePlan.from_data(state.case_type.stages), **collections)


def case_json(case: CaseRead, status_code: int = status.HTTP_200_OK) -> Response:
    """The case serialised once. Returned as a model, FastAPI would validate it again against the
    route's response_model (which stays on the route for /docs) before serialising it."""
    return Response(case.model_dump_json(), status_code=status_code, media_type="application/json")


def assemble_case_read(request: Request, core: dict[str, Any], case_type_name: str, plan: StagePlan, *,
                       correspondents: list, documents: list, notes: list, tasks: list = (), parties: list = (),  # type: ignore[assignment]
                       clarifications: list = (), contributions: list = (),  # type: ignore[assignment]
                       **kind_collections: list) -> CaseRead:
    """The case as read, from its core row and its collections. A kind's own fields (the row's
    `details`) and its own collections (beyond the complaint's, which CaseRead names) are read
    under `details`."""
    today = case_today(datetime.now(timezone.utc))
    rules = rules_of(core.get("kind") or "complaint")
    collections = {"clarifications": clarifications, "contributions": contributions, **kind_collections}
    blocked = rules.blocked_stages(plan, today, collections)
    if core["status"] == "closed":  # only what became of an email may still be settled
        actions: list[str] = sorted(DELIVERY_ACTIONS) if core.get("unconfirmed_deliveries") else []
    else:
        actions = list(allowed_actions(rules, plan, core["stage"], blocked))
    if not core.get("unconfirmed_deliveries"):  # nothing to confirm or resend
        actions = [a for a in actions if a not in DELIVERY_ACTIONS]
    if not any(t.status == TaskStatus.OPEN for t in tasks):  # no task to close, reassign or reschedule
        actions = [a for a in actions if a not in OPEN_TASK_ACTIONS]
    stage_kind = str(plan.get(core["stage"]).kind) if core["status"] != "closed" else None
    return CaseRead.model_validate({
        **core,
        "paused_intervals": core.get("clock_pauses") or [],
        "extensions": core.get("deadline_extensions") or [],
        "stage_deadline": (core.get("stage_deadlines") or {}).get(stage_kind) if stage_kind else None,
        "case_type_name": case_type_name,
        "allowed_actions": actions,
        "correspondents": [_fields(c) for c in correspondents],
        "documents": [{**_fields(d), "download_url": f"/documents/{d.id}"} for d in documents],
        "clarifications": [_fields(c) for c in clarifications],
        "contributions": [{**_fields(c), "overdue": c.status == "open" and c.due_date < today}
                          for c in contributions],
        "notes": [_fields(n) for n in notes],
        "tasks": [_fields(t) for t in tasks],
        "parties": [{**_fields(p), "path": party_path(p.party_type, p.external_id)} for p in parties],
        "details": {**(core.get("details") or {}),
                    **{name: [_fields(item) for item in items] for name, items in kind_collections.items()}},
        "workflow_id": core["reference"],
        "temporal_ui_url": ui_url(request, core["reference"]),
    })


def party_path(party_type: str, external_id: str) -> str:
    """Where the API serves a record a case is about: /customers/C-1, /leads/L-7."""
    return f"/{party_type}s/{quote(external_id, safe='')}"


def _fields(item: Any) -> dict[str, Any]:
    return item.model_dump() if isinstance(item, BaseModel) else attrs(item)


def attrs(row: Any) -> dict[str, Any]:
    """A database row's columns by name (an ORM object's, or a child row read by
    repository.case_children)."""
    if isinstance(row, SimpleNamespace):
        return dict(vars(row))
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


# ---- authorisation: the one path every case route goes through ------------------------------


@dataclass(frozen=True)
class AuthorisedCase:
    """A case reference the request's user has been authorised for, and for what. Every route
    that takes a case reference gets it only as this (`authorised_case` below), and the step
    helpers take nothing else, so a route cannot reach a case without the check."""

    reference: str
    user: AppUser
    viewer: Viewer
    action: str | None  # the step authorised (None: reading the case, or a route's own rule)

    def actor(self) -> Actor:
        """The user as a step's actor, their visibility with them (the workflow checks it again
        against the case as it is when the step runs)."""
        return actor_of(self.user).model_copy(update={"sight": self.viewer.sight()})


async def authorise_case(request: Request, user: AppUser, reference: str, *, action: str | None = None,
                         permission: str | None = None, what: str | None = None) -> AuthorisedCase:
    """Whether `user` may see the case, then whether they may take `action` on it.

    Visibility first: a case the user may not see is "not found" (404) exactly like a missing one,
    whatever their permissions, so neither a refusal nor a later lookup tells them it exists. Then
    the permission (403): the action's (`<kind>.<action>`), or `permission` when a route has its
    own rule (one rule per route, one message)."""
    logs.case_reference.set(reference)
    viewer = await get_viewer(request, user)
    async with reading(request.app.state.sessionmaker) as session:
        visible = await may_see_case(session, viewer, reference)
    if not visible:
        raise errors.not_found(f"case {reference}")
    if permission is not None:
        require_permission(user, permission, what)
    elif action is not None:
        rules = await rules_of_case(request, reference)
        refusal = rules.refusal_of(user.roles, user.permissions, action, what)
        if refusal is not None:
            raise errors.forbidden(refusal)
    return AuthorisedCase(reference=reference, user=user, viewer=viewer, action=action)


def authorised_case(step: Step | None = None, *, permission: str | None = None,
                    what: str | None = None) -> Any:
    """The dependency of every route whose path names a case (CASE_PATH):
    `case: Annotated[AuthorisedCase, authorised_case(CaseWorkflow.allocate)]`.

    Without `step` or `permission` it authorises reading (visibility only). FastAPI resolves it
    before the route runs and before a body's errors are answered, so a case the user may not see
    is 404 and a permission missing is 403 before anything else is looked up. api.main refuses to build an app
    with a case route that lacks it."""
    action = action_of(step) if step is not None else None

    async def authorise(request: Request, reference: CaseRef, user: CurrentUser) -> AuthorisedCase:
        return await authorise_case(request, user, reference, action=action, permission=permission, what=what)

    setattr(authorise, CASE_AUTHORISATION, True)
    return Depends(authorise)


CASE_AUTHORISATION = "__case_authorisation__"  # marks authorised_case's dependencies


def has_case_authorisation(dependant: Any) -> bool:
    """Whether a route's dependencies include `authorised_case` (api.main checks every case route)."""
    return any(getattr(d.call, CASE_AUTHORISATION, False) or has_case_authorisation(d)
               for d in dependant.dependencies)


# ---- steps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseStep(AuthorisedCase):
    """A case authorised for one step, with what taking it needs: the route builds the step's
    input from its body and calls `take`."""

    step: Step[Any] | None = None
    request: Request | None = None
    client: Client | None = None
    idempotency_key: str | None = None

    async def take(self, payload: StepInput) -> Response:
        """Apply the step (see run_step); the Idempotency-Key makes a retry have one effect."""
        assert self.request is not None and self.client is not None and self.step is not None
        return await run_step(self.request, self.client, self, self.step, payload, self.idempotency_key)


def authorised_step(step: Step[Any]) -> Any:
    """The dependency of a route that takes one step on a case: authorises it as
    `authorised_case(step)` does and hands the route a `CaseStep` to `take`:
    `case: Annotated[CaseStep, authorised_step(ComplaintCaseWorkflow.acknowledge)]`."""
    action = action_of(step)

    async def authorise(request: Request, reference: CaseRef, user: CurrentUser, client: TemporalDep,
                        idempotency_key: IdempotencyKey = None) -> CaseStep:
        case = await authorise_case(request, user, reference, action=action)
        return CaseStep(reference=case.reference, user=case.user, viewer=case.viewer, action=case.action,
                        step=step, request=request, client=client, idempotency_key=idempotency_key)

    setattr(authorise, CASE_AUTHORISATION, True)
    return Depends(authorise)


async def run_step(request: Request, client: TemporalDep, case: AuthorisedCase, step: Step[StepIn],
                   payload: StepIn, idempotency_key: str | None) -> Response:
    """Apply an authorised step as the workflow Update, whose validator checks visibility (404),
    permission (403), stage (409) and the step's own rules (422, 403) again against the case as it is
    then; a finished case is 409. The step must be the one the case was authorised for."""
    if case.action != action_of(step):
        raise RuntimeError(f"{case.reference} was authorised for {case.action!r}, not {action_of(step)!r}")
    payload.actor.sight = case.viewer.sight()
    update_id = f"{update_name(step)}:{idempotency_key}" if idempotency_key else None
    state = await apply_update(client, case.reference, step, payload, update_id)
    return case_json(case_from_state(request, state))


async def apply_update(client: TemporalDep, reference: str, step: Step[StepIn], payload: StepIn,
                       update_id: str | None) -> Any:
    """Send the Update and answer the case's state, its failures as the API answers them: the
    workflow's refusal (409/422/403/404), Temporal out of reach (503), no answer in time (504).
    For a route that applies a step it authorised itself (a kind's own registration paths)."""
    handle = client.get_workflow_handle(reference)
    try:
        return await handle.execute_update(step, payload, id=update_id)
    except WorkflowUpdateFailedError as exc:
        raise errors.from_update_failure(exc) from exc
    except RPCError as exc:
        raise errors.from_rpc_error(exc, reference) from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise errors.update_unconfirmed(reference) from exc


# ---- who a case or a request goes to --------------------------------------------------------


async def _member(session: AsyncSession, team: str, user_id: int) -> bool | None:
    # True or None: a membership is kept in the cache, its absence is asked again next time.
    return True if await repository.is_team_member(session, team, user_id) else None


async def team_and_person(request: Request, team: str, username: str | None,
                          field_prefix: str = "") -> tuple[Team, AppUser | None]:
    """The team and person a case or a contribution goes to, checked (422 naming the field).
    Teams, users and memberships come from the short-lived cache: allocation asks on every case."""
    team_row = await cached_lookup(request, ("team", team), lambda s: repository.get_team(s, team))
    if team_row is None:
        raise errors.unprocessable(f"{field_prefix}team", f"unknown team '{team}'")
    if username is None:
        return team_row, None
    person = await cached_lookup(request, ("user", username),
                                 lambda s: repository.get_user_by_username(s, username))
    if person is None or not person.active:
        raise errors.unprocessable(f"{field_prefix}assignee", f"unknown user '{username}'")
    if not await cached_lookup(request, ("member", team, person.id), lambda s: _member(s, team, person.id)):
        raise errors.unprocessable(f"{field_prefix}assignee", f"'{username}' is not a member of team '{team}'")
    return team_row, person
