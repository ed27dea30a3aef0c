"""Reference lists: what a picker offers (`GET /lists/{name}`, anyone signed in) and their
administration (`/admin/lists`, `reference_lists.manage`), every change on the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlalchemy import func, select

from api import errors
from api.deps import CurrentUser, SessionDep, require_permission
from api.schemas.reference_lists import ListRead, ListValueAdminRead, ListValueIn, ListValueRead, ValueCode
from casework.cases.roles import Role
from casework.people import audit
from casework.people.permissions import declare
from casework.platform.db import AppUser
from casework.reference_lists import active_values, declared_lists, list_spec
from casework.reference_lists.models import ReferenceValue

router = APIRouter(tags=["reference lists"])
MANAGE = declare("reference_lists.manage", "add, rename, order and retire the values of reference lists",
                 {Role.ADMIN})
ListName = Annotated[str, Path(max_length=60, pattern=r"^[a-z][a-z0-9_]*$")]


def _declared(name: str) -> None:
    if list_spec(name) is None:
        raise errors.not_found(f"list {name}")


async def manager(user: CurrentUser) -> AppUser:
    require_permission(user, MANAGE, "managing reference lists")
    return user


@router.get("/lists/{name}", response_model=list[ListValueRead])
async def offered(name: ListName, session: SessionDep, user: CurrentUser,
                  parent: Annotated[str | None, Query(max_length=40)] = None) -> Any:
    """The values a picker offers now (retired ones left out), in order; `parent`: those under it."""
    _declared(name)
    return await active_values(session, name, parent)


@router.get("/admin/lists", response_model=list[ListRead])
async def lists(session: SessionDep, user: Annotated[AppUser, Depends(manager)]) -> Any:
    """Every declared list, with how many values it has, offered and retired."""
    counts = {(row.list_name, row.active): row.n for row in (await session.execute(
        select(ReferenceValue.list_name, ReferenceValue.active, func.count().label("n"))
        .group_by(ReferenceValue.list_name, ReferenceValue.active))).all()}
    return [ListRead(name=s.name, description=s.description, parent=s.parent, targets=s.targets,
                     active_values=counts.get((s.name, True), 0), retired_values=counts.get((s.name, False), 0))
            for s in sorted(declared_lists().values(), key=lambda s: s.name)]


@router.get("/admin/lists/{name}", response_model=list[ListValueAdminRead])
async def values(name: ListName, session: SessionDep, user: Annotated[AppUser, Depends(manager)]) -> Any:
    """Every value of the list, retired ones too."""
    _declared(name)
    stmt = (select(ReferenceValue).where(ReferenceValue.list_name == name)
            .order_by(ReferenceValue.active.desc(), ReferenceValue.position, ReferenceValue.label))
    return list((await session.scalars(stmt)).all())


@router.put("/admin/lists/{name}/{code}", response_model=ListValueAdminRead,
            responses={201: {"model": ListValueAdminRead, "description": "added"}})
async def put_value(name: ListName, code: ValueCode, body: ListValueIn, request: Request, response: Response,
                    session: SessionDep, user: Annotated[AppUser, Depends(manager)]) -> Any:
    """Add a value, or change its label, parent, order, whether it is offered, or (for a list whose
    values carry one) its working-day target. The code is what cases keep: it never changes, so
    renaming or retiring changes no case, and a new target applies to cases filed from then on."""
    spec = list_spec(name)
    if spec is None:
        raise errors.not_found(f"list {name}")
    if spec.parent is None and body.parent is not None:
        raise errors.unprocessable("parent", f"list {name} has no parent list")
    if spec.parent is not None:
        if body.parent is None:
            raise errors.unprocessable("parent", f"a value of {name} names its {spec.parent} (parent)")
        if await session.get(ReferenceValue, (spec.parent, body.parent)) is None:
            raise errors.unprocessable("parent", f"parent '{body.parent}' is not on the list {spec.parent}")
    if body.target_working_days is not None and not spec.targets:
        raise errors.unprocessable("target_working_days", f"the values of {name} carry no target")
    row = await session.get(ReferenceValue, (name, code), with_for_update=True)
    after = {"label": body.label, "parent_code": body.parent, "active": body.active, "position": body.position,
             "target_working_days": body.target_working_days}
    if row is None:
        row = ReferenceValue(list_name=name, code=code, updated_by=user.username, **after)
        session.add(row)
        await audit.record(session, user, "list_value.added", "list_value", f"{name}/{code}", None, after)
        response.status_code = status.HTTP_201_CREATED
    else:
        before = {key: getattr(row, key) for key in after}
        was, now = audit.changed(before, after)
        if now:
            for key, value in after.items():
                setattr(row, key, value)
            row.updated_by, row.updated_at = user.username, func.now()
            await audit.record(session, user, "list_value.changed", "list_value", f"{name}/{code}", was, now)
    await session.commit()
    request.app.state.cache.forget(("list", name))  # checks of the list's values read it afresh
    await session.refresh(row)
    return row
