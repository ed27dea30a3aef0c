"""Seed the read side directly: many cases as projection rows, and users, teams and grants.

Reads (search, export, statistics, digests) need no workflows behind the rows, so tests insert
case_record and case_correspondent rows in bulk instead of walking thousands of cases.
Registered in 2020, so they never crowd the newest-first lists other tests read.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import insert, select

from casework.people.models import ApiToken
from casework.platform.db import (
    AppUser,
    CaseContribution,
    CaseCorrespondent,
    CaseRecord,
    Team,
    TeamMember,
    UserCaseType,
)
from casework.platform.security import hash_token

SEEDED_AT = datetime(2020, 1, 1, tzinfo=timezone.utc)
STAGE_LABELS = {"triage": "Allocation", "acknowledgement": "Acknowledge", "draft": "Draft response",
                "qa": "Quality assurance", "send": "Send response", "closure": "Close case"}


def tag() -> str:
    return uuid.uuid4().hex[:6].upper()


def case_row(reference: str, *, complainant: str, team: str | None = None,
             assignee: AppUser | None = None, stage: str = "draft", status: str = "open",
             case_type: str = "COMP", date_received: date = date(2024, 1, 1),
             deadline: date | None = None, overdue: bool = False,
             deadline_met: bool | None = None) -> dict[str, Any]:
    return {
        "reference": reference, "case_type": case_type, "version": 1, "status": status,
        "stage": stage, "stage_label": "Closed" if status == "closed" else STAGE_LABELS[stage],
        "team": team, "assignee_id": assignee.id if assignee else None,
        "assignee_name": assignee.display_name if assignee else None,
        "channel": "email", "category": "Billing", "severity": "medium",
        "description": "Seeded for a read test", "date_received": date_received,
        "complainant_name": complainant, "registered_by": "Seed", "registered_at": SEEDED_AT,
        "updated_at": SEEDED_AT, "deadline": deadline, "overdue": overdue,
        "deadline_met": deadline_met,
    }


def correspondent_row(reference: str, name: str, *, primary: bool = True, **fields: Any) -> dict:
    return {"id": str(uuid.uuid4()), "case_reference": reference,
            "relationship": "complainant" if primary else "representative", "is_primary": primary,
            "name": name, "address_lines": [], **fields}


async def insert_cases(session, cases: list[dict], correspondents: list[dict],
                       contributions: list[dict] = ()) -> None:
    if cases:
        await session.execute(insert(CaseRecord), cases)
    if correspondents:
        await session.execute(insert(CaseCorrespondent), correspondents)
    if contributions:
        await session.execute(insert(CaseContribution), list(contributions))


def contribution_row(reference: str, team: str, *, status: str = "open",
                     due_date: date = date(2024, 2, 1)) -> dict:
    return {"id": str(uuid.uuid4()), "case_reference": reference, "team": team,
            "request": "Seeded request", "due_date": due_date, "status": status,
            "requested_by": "Seed", "requested_at": SEEDED_AT}


async def make_team(session, code: str, email: str | None = None) -> str:
    await session.execute(insert(Team).values(code=code, name=f"Team {code}",
                                              email=email or f"{code.lower()}@example.org"))
    return code


async def make_user(session, username: str, roles: list[str], teams: list[str] = (),
                    case_types: list[str] = ()) -> AppUser:
    await session.execute(insert(AppUser).values(
        username=username, display_name=f"User {username}", email=f"{username}@example.org",
        roles=roles, active=True))
    user = await session.scalar(select(AppUser).where(AppUser.username == username))
    await session.execute(insert(ApiToken).values(id=str(uuid.uuid4()), user_id=user.id, name="test",
                                                  token_hash=hash_token(token_of(username))))
    for team in teams:
        await session.execute(insert(TeamMember).values(team_code=team, user_id=user.id))
    for case_type in case_types:
        await session.execute(insert(UserCaseType).values(user_id=user.id, case_type=case_type))
    return user


def token_of(username: str) -> str:
    return f"test-{username}-token"


def bearer(username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_of(username)}"}
