"""Reading and checking a list's values."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casework.reference_lists.models import ReferenceValue
from casework.reference_lists.registry import list_spec


class ListValueError(ValueError):
    """A value a request names is not on its list (the API answers 422 naming `field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


async def active_values(session: AsyncSession, list_name: str, parent: str | None = None) -> list[ReferenceValue]:
    """The values offered now, in the administrator's order (then by label)."""
    stmt = select(ReferenceValue).where(ReferenceValue.list_name == list_name, ReferenceValue.active)
    if parent is not None:
        stmt = stmt.where(ReferenceValue.parent_code == parent)
    stmt = stmt.order_by(ReferenceValue.position, ReferenceValue.label, ReferenceValue.code)
    return list((await session.scalars(stmt)).all())


async def require_value(session: AsyncSession, list_name: str, code: str, *, field: str,
                        parent: str | None = None) -> ReferenceValue:
    """The active value `code` of the list (of `parent`, for a list under another), or
    ListValueError naming `field`: what the list offers, or, for an empty list, that an
    administrator must set it up first."""
    spec = list_spec(list_name)
    if spec is None:
        raise LookupError(f"no list {list_name!r} is declared")
    value = await session.get(ReferenceValue, (list_name, code))
    if value is not None and value.active and (parent is None or value.parent_code == parent):
        return value
    offered = await active_values(session, list_name, parent)
    if not offered:
        under = f" for {parent}" if parent is not None else ""
        raise ListValueError(field, f"no {spec.description} is set up{under}: an administrator must add "
                                    f"them first (PUT /admin/lists/{list_name}/{{code}})")
    why = "is retired" if value is not None and not value.active else "is not on the list"
    if value is not None and value.active and parent is not None:
        why = f"does not belong to {parent}"
    choices = ", ".join(v.code for v in offered[:20]) + (" …" if len(offered) > 20 else "")
    raise ListValueError(field, f"{field} '{code[:60]}' {why}; one of: {choices}")
