"""Which cases a user may see: one rule, used by every read (case page, timeline, documents,
lists, search, export, statistics and digests).

- Case types: a user granted case types (rows in ``user_case_type``) sees only those types; a user
  with no grants sees every type. Admin and operations see every type regardless.
- Teams: coordinators, managers, admins and operations see every team's cases (they allocate and
  oversee). Everyone else sees the cases of their own teams, cases assigned to them, cases on
  which a contribution was asked of them or of one of their teams, and unallocated cases (the
  triage queue, which the person who registered a case must be able to find), and cases whose kind
  names them as involved (`involved_user_ids` in the case's details, e.g. the agent who filed it).

- Partners: a user who belongs to a partner organisation (rows in ``partner_member``) sees only
  the cases about that partner's leads (casework.parties.access.partner_leads), whatever else.

A case outside these rules is "not found" (404), so its existence does not leak.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, cast, exists, false, literal, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from casework.cases.contracts import Sight
from casework.cases.roles import Role
from casework.parties.access import partner_leads
from casework.parties.models import CaseParty, Lead, PartnerMember
from casework.platform.db import AppUser, CaseContribution, CaseRecord, TeamMember, UserCaseType

ALL_TEAMS_ROLES = frozenset({Role.COORDINATOR, Role.MANAGER, Role.ADMIN, Role.OPERATIONS})
ALL_TYPES_ROLES = frozenset({Role.ADMIN, Role.OPERATIONS})


@dataclass(frozen=True)
class Viewer:
    user_id: int
    all_teams: bool
    teams: frozenset[str]
    case_types: frozenset[str] | None  # None: every case type
    # The partner organisations the user belongs to; None for a user of none (staff).
    partners: frozenset[str] | None = None

    def may_see_team(self, team: str) -> bool:
        return self.all_teams or team in self.teams

    def sight(self) -> Sight:
        """The same rule, for the workflow to apply to the case as it is now (see Sight). A
        partner's user takes no step on any case: their sight is of no case type."""
        if self.partners is not None:
            return Sight(user_id=self.user_id, all_teams=False, case_types=[])
        return Sight(user_id=self.user_id, all_teams=self.all_teams, teams=sorted(self.teams),
                     case_types=None if self.case_types is None else sorted(self.case_types))


async def viewer_for(session: AsyncSession, user: AppUser) -> Viewer:
    roles = set(user.roles)
    teams = frozenset(
        (await session.scalars(select(TeamMember.team_code).where(TeamMember.user_id == user.id))).all()
    )
    granted: frozenset[str] | None = None
    if not roles & ALL_TYPES_ROLES:
        rows = (
            await session.scalars(select(UserCaseType.case_type).where(UserCaseType.user_id == user.id))
        ).all()
        granted = frozenset(rows) or None
    partners = frozenset(
        (await session.scalars(select(PartnerMember.partner).where(PartnerMember.user_id == user.id))).all())
    return Viewer(user_id=user.id, all_teams=bool(roles & ALL_TEAMS_ROLES) and not partners, teams=teams,
                  case_types=granted, partners=partners or None)


def visible_cases(viewer: Viewer) -> ColumnElement[bool]:
    """A WHERE clause on case_record selecting the cases `viewer` may see."""
    case = CaseRecord
    by_type = true() if viewer.case_types is None else case.case_type.in_(sorted(viewer.case_types))
    if viewer.partners is not None:
        about_their_lead = exists().where(CaseParty.case_reference == case.reference, CaseParty.party_type == "lead",
                                          CaseParty.external_id == Lead.external_id, partner_leads(viewer.partners))
        return and_(by_type, about_their_lead)
    if viewer.all_teams:
        return by_type
    teams = sorted(viewer.teams)
    mine = case.assignee_id == viewer.user_id
    asked_of_me = exists().where(
        CaseContribution.case_reference == case.reference,
        or_(CaseContribution.team.in_(teams) if teams else false(),
            CaseContribution.assignee_id == viewer.user_id),
    )
    # A kind names the people who follow its case in its details (the agent who filed a lead complaint).
    # (The document as a JSON text cast in SQL: a plain string parameter, as every other here.)
    involves_me = case.details.op("@>")(cast(literal(json.dumps({"involved_user_ids": [viewer.user_id]})), JSONB))
    by_team = or_(case.team.in_(teams) if teams else false(), case.team.is_(None), mine, asked_of_me, involves_me)
    return and_(by_type, by_team)


async def may_see_case(session: AsyncSession, viewer: Viewer, reference: str) -> bool:
    found = await session.scalar(
        select(CaseRecord.reference).where(CaseRecord.reference == reference,
                                              visible_cases(viewer)))
    return found is not None
