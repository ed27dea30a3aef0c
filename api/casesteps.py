"""What every kind's case routes share: reading a case, authorising a step and applying it as the
case workflow's Update, and turning the workflow's answer into the CaseRead the route returns.

A route names the step by the workflow's Update method (`CaseWorkflow.allocate`,
`ComplaintCaseWorkflow.acknowledge`), never by a string: the action authorised (who may take it) is
the Update's name, so a route cannot authorise one action and apply another, and a renamed or
removed Update fails where it is used. Who may take it is the case's kind's rule table (the kind of
the case's type, told by its reference prefix); the workflow checks the same table again.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TypeVar, cast
from urllib.parse import quote

from fastapi import Request, Response, status
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError
from temporalio.workflow import UpdateMethodMultiParam

from api import errors
from api.deps import SessionDep, TemporalDep, cached_lookup, get_viewer
from api.schemas.cases import CaseRead
from casework.calendar.deadlines import case_today
from casework.cases import repository
from casework.cases.contracts import Actor, CaseCore, CaseTypeConfig, StepInput
from casework.cases.stages import KindRules, StagePlan, allowed_actions, rules_of
from casework.cases.visibility import Viewer, may_see_case
from casework.platform.db import AppUser, CaseType, Team

StepIn = TypeVar("StepIn", bound=StepInput)
# A case workflow's step: an Update method taking the step's input and answering the case's state.
Step = UpdateMethodMultiParam[[Any, StepIn], CaseCore]


def update_name(step: Step) -> str:
    """The name Temporal records for the step's Update: its method's name (no case workflow renames
    an Update; tests/test_engine_rules.py checks every kind's)."""
    return cast(Any, step).__name__  # the SDK's Update method is the function it decorates


def action_of(step: Step) -> str:
    """The action a step is, for the role check: the Update's name (every step's Update is named
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
    return rules_of(case_type.kind)


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


async def ensure_visible(session: SessionDep, viewer: Viewer, reference: str) -> None:
    """404 for a case that does not exist and for one the user may not see alike."""
    if not await may_see_case(session, viewer, reference):
        raise errors.not_found(f"case {reference}")


async def read_case(request: Request, session: SessionDep, reference: str) -> CaseRead:
    """The case as PostgreSQL has it."""
    row = await repository.get_case(session, reference)
    if row is None:
        raise errors.not_found(f"case {reference}")
    case_type = await repository.get_case_type(session, row.case_type)
    assert case_type is not None  # a case's type is a foreign key
    children = await repository.case_children(session, reference)
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
                       correspondents: list, documents: list, notes: list,
                       clarifications: list = (), contributions: list = ()) -> CaseRead:  # type: ignore[assignment]
    today = case_today(datetime.now(timezone.utc))
    rules = rules_of(core.get("kind") or "complaint")
    blocked = rules.blocked_stages(plan, today, {"clarifications": clarifications, "contributions": contributions})
    actions = [] if core["status"] == "closed" else allowed_actions(rules, plan, core["stage"], blocked)
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
        "workflow_id": core["reference"],
        "temporal_ui_url": ui_url(request, core["reference"]),
    })


def _fields(item: Any) -> dict[str, Any]:
    return item.model_dump() if isinstance(item, BaseModel) else attrs(item)


def attrs(row: Any) -> dict[str, Any]:
    """A database row's columns by name."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


# ---- steps ----------------------------------------------------------------------------------


async def run_step(request: Request, client: TemporalDep, user: AppUser, reference: str,
                   step: Step[StepIn], payload: StepIn, idempotency_key: str | None) -> Response:
    """The one wrapper every step goes through: role (403), then the workflow Update, whose
    validator decides 404 (a case the user may not see), 409, 422 or 403; a missing case is 404
    and a finished one 409. No database session: a step that needs none before its Update
    (most do) does not open one."""
    await authorise_step(request, user, reference, step, actor=payload.actor)
    return await apply_step(request, client, reference, step, payload, idempotency_key)


async def authorise_step(request: Request, user: AppUser, reference: str, step: Step, *,
                         actor: Actor | None = None, session: AsyncSession | None = None) -> None:
    """403 if the user's role may not take `step`; 404 if they may not see the case.

    Given the step's `actor`, visibility travels with it and the workflow applies it to the case
    as it is (no query here). Without one the caller is about to do work before the step (store
    an upload) and needs the answer now, from PostgreSQL."""
    action = action_of(step)
    rules = await rules_of_case(request, reference)
    viewer = await get_viewer(request, user)
    if actor is not None:
        actor.sight = viewer.sight()
    else:
        if session is None:
            raise TypeError("a step authorised without its actor needs a session to check visibility")
        await ensure_visible(session, viewer, reference)
    refusal = rules.refusal(user.roles, action)
    if refusal is not None:
        raise errors.forbidden(refusal)


async def apply_step(request: Request, client: TemporalDep, reference: str, step: Step[StepIn],
                     payload: StepIn, idempotency_key: str | None) -> Response:
    """Call the workflow Update; the Idempotency-Key is its id, so a retry has one effect."""
    update_id = f"{update_name(step)}:{idempotency_key}" if idempotency_key else None
    handle = client.get_workflow_handle(reference)
    try:
        state = await handle.execute_update(step, payload, id=update_id)
    except WorkflowUpdateFailedError as exc:
        raise errors.from_update_failure(exc) from exc
    except RPCError as exc:
        raise errors.from_rpc_error(exc, reference) from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise errors.update_unconfirmed(reference) from exc
    return case_json(case_from_state(request, state))


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
