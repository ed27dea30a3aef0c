"""Demo configuration: the complaint case types, a few teams, one user per role, and demo records
(customers, partners, leads with fees: devtools/demo_records.py).

`python -m devtools.demo` is idempotent (run by `make run` on every start). In development the demo
users get fixed, printed tokens so the README walk-through can be pasted into a shell; outside
development it refuses to run, because fixed tokens are default secrets.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from casework.calendar.policies import UK_PUBLIC_SECTOR
from casework.cases.stages import StagePlan, StageSpec
from casework.kinds.complaint.rules import STANDARD_COMPLAINT_PLAN, StageKind
from casework.kinds.customer_complaint import rules as customer_complaint
from casework.kinds.frontline.rules import FRONTLINE_PLAN
from casework.kinds.lead_complaint.rules import (
    CASE_TYPE as LEAD_COMPLAINT_TYPE,
)
from casework.kinds.lead_complaint.rules import (
    LEAD_COMPLAINT_CLOSE_REASONS,
    LEAD_COMPLAINT_PLAN,
    LEAD_COMPLAINT_POLICY,
)
from casework.people.models import ApiToken
from casework.platform.config import get_settings
from casework.platform.db import AppUser, CaseType, Team, TeamMember, dispose_engine, make_engine, make_sessionmaker
from casework.platform.security import hash_token
from casework.reference_lists.models import ReferenceValue
from casework.tables import customer_complaint as customer_complaint_tables
from casework.tables.lead_return import GLOBAL, REASONS, LeadReturnSettings
from devtools import demo_records

OUTCOMES = ["upheld", "partly upheld", "not upheld", "withdrawn", "resolved at first contact"]
CLOSE_REASONS = ["response sent", "resolved", "withdrawn", "duplicate", "not a complaint",
                 "out of scope", "no response from complainant"]

STAGE_2_PLAN = StagePlan(
    (
        StageSpec("triage", StageKind.TRIAGE, "Allocation"),
        StageSpec("acknowledgement", StageKind.ACKNOWLEDGEMENT, "Acknowledge"),
        StageSpec("clarification", StageKind.CLARIFICATION, "Clarification", optional=True),
        StageSpec("contributions", StageKind.CONTRIBUTIONS, "Contributions", optional=True),
        StageSpec("draft", StageKind.DRAFT, "Review and draft response"),
        StageSpec("qa", StageKind.QA, "Senior quality assurance"),
        StageSpec("send", StageKind.SEND, "Send final response"),
        StageSpec("outcome", StageKind.OUTCOME, "Stage 2 outcome"),
        StageSpec("manager", StageKind.MANAGER, "Workflow manager", optional=True),
        StageSpec("closure", StageKind.CLOSURE, "Close case"),
    )
)

# Both demo types answer within 20 working days (casework.calendar.policies.UK_PUBLIC_SECTOR).
DEMO_POLICY = UK_PUBLIC_SECTOR.model_dump(mode="json")

CASE_TYPES: list[dict[str, Any]] = [
    # Stage 2 first: the stage-1 type refers to it.
    dict(code="COMP2", name="Complaint (stage 2 review)", reference_prefix="COMP2",
         stages=STAGE_2_PLAN.to_data(), outcome_options=OUTCOMES, close_reasons=CLOSE_REASONS,
         escalation_type=None, deadline_policy=DEMO_POLICY),
    dict(code="COMP", name="Complaint", reference_prefix="COMP",
         stages=STANDARD_COMPLAINT_PLAN.to_data(), outcome_options=OUTCOMES,
         close_reasons=CLOSE_REASONS, escalation_type="COMP2", deadline_policy=DEMO_POLICY),
    # Types a service runs beside it (case types are administered at /admin/case-types).
    dict(code="EXGRATIA", name="Ex-gratia payment claim", reference_prefix="EXG",
         stages=STANDARD_COMPLAINT_PLAN.to_data(), outcome_options=["paid in full", "paid in part", "refused"],
         close_reasons=CLOSE_REASONS, escalation_type="COMP2", default_team="BILLING",
         deadline_policy={**DEMO_POLICY, "name": "Ex-gratia claims (60 working days)", "response_days": 60}),
    dict(code="MISCONDUCT", name="Serious misconduct allegation", reference_prefix="MISC",
         stages=STANDARD_COMPLAINT_PLAN.to_data(), outcome_options=OUTCOMES, close_reasons=CLOSE_REASONS,
         escalation_type="COMP2", default_team="CONDUCT", deadline_policy=DEMO_POLICY),
    # Customer complaints (F3): an ERP's complaint document, with sales adjustments.
    dict(code="CUST", kind=customer_complaint.KIND, name="Customer complaint", reference_prefix="CUST",
         stages=customer_complaint.CUSTOMER_COMPLAINT_PLAN.to_data(), outcome_options=[],
         close_reasons=customer_complaint.CLOSE_REASONS, escalation_type=None, deadline_policy=DEMO_POLICY),
    # Complaints against leads (docs/lead-complaints.md): filed into the compliance team's queue.
    dict(code=LEAD_COMPLAINT_TYPE, name="Lead complaint", reference_prefix="LC", kind="lead_complaint",
         stages=LEAD_COMPLAINT_PLAN.to_data(), outcome_options=[], close_reasons=LEAD_COMPLAINT_CLOSE_REASONS,
         escalation_type=None, default_team="COMPLIANCE", deadline_policy=LEAD_COMPLAINT_POLICY),
    # Frontline complaint handling (docs/frontline.md); also shipped by migration 0024.
    dict(code="FRONT", kind="frontline", name="Frontline complaint", reference_prefix="FRONT",
         stages=FRONTLINE_PLAN.to_data(), outcome_options=[],
         close_reasons=["resolved", "withdrawn", "duplicate", "not a complaint", "escalated to a full complaint"],
         escalation_type=None, deadline_policy=DEMO_POLICY),
]
# The customer complaint reasons an administrator would set up (GET /lists/customer_complaint_reasons).
COMPLAINT_REASONS = [("damaged_goods", "Goods arrived damaged"), ("wrong_goods", "Wrong goods delivered"),
                     ("late_delivery", "Late delivery"), ("invoice_error", "Invoice error")]

# Reference lists a complaint is registered with (administered at /admin/lists).
LISTS: dict[str, list[tuple[str, str]]] = {
    "complaint_categories": [(c, c) for c in ("Billing", "Service", "Delays", "Staff conduct", "Policy",
                                              "Data protection", "General")],
    "complaint_channels": [("email", "Email"), ("letter", "Letter"), ("phone", "Telephone"), ("web", "Web form"),
                           ("in_person", "In person")],
    "complaint_severities": [("low", "Low"), ("medium", "Medium"), ("high", "High")],
    REASONS: [("duplicate", "Duplicate lead"), ("wrong_number", "Wrong or dead number"),
              ("not_in_area", "Outside the partner's area"), ("no_consent", "Did not consent to contact")],
    # What a frontline complaint is about: a repeat contact matches on it (docs/frontline.md).
    "frontline_issues": [(c, c) for c in ("Broadband", "Billing", "Mobile", "Service", "General")],
}

TEAMS = [
    dict(code="CENTRAL", name="Central Complaints Hub", email="central@example.org"),
    dict(code="BILLING", name="Billing Complaints", email="billing@example.org"),
    dict(code="SERVICE", name="Customer Service", email="service@example.org"),
    dict(code="CONDUCT", name="Professional Standards", email="standards@example.org"),
    # Lead complaints: the compliance queue, and the dispute chain's two levels.
    dict(code="COMPLIANCE", name="Lead Compliance", email="compliance@example.org"),
    dict(code="LEADMGMT", name="Lead Management", email="lead-managers@example.org"),
    dict(code="EXEC", name="Executive Escalations", email="executive@example.org"),
]

# username, display name, roles, teams
USERS = [
    ("handler", "Hana Handler", ["handler"], ["SERVICE"]),
    ("coordinator", "Cora Coordinator", ["coordinator"], ["CENTRAL"]),
    ("drafter", "Dev Drafter", ["drafter"], ["CENTRAL", "BILLING"]),
    ("drafter2", "Dina Drafter", ["drafter"], ["CENTRAL"]),
    ("qa", "Quinn Reviewer", ["qa_reviewer"], ["CENTRAL"]),
    ("manager", "Mo Manager", ["manager"], ["CENTRAL", "BILLING", "SERVICE", "LEADMGMT"]),
    ("agent", "Alex Agent", ["agent"], []),  # files complaints against leads
    ("compliance", "Cass Compliance", ["compliance"], ["COMPLIANCE"]),
    ("admin", "Ada Admin", ["admin"], []),
    ("ops", "Oli Operations", ["operations"], []),
    ("integration", "Ina Integration", ["integration"], []),  # the CRM's sync (records, ledger)
    # Users of partner organisations (devtools/demo_records.PARTNER_MEMBERS): their own leads only.
    ("partner-acme", "Pat Acme", ["partner"], []),
    ("partner-cedar", "Cy Cedar", ["partner"], []),
]
TEAM_MANAGER = "manager"


def demo_token(username: str) -> str:
    return f"demo-{username}-token"


async def load(session: AsyncSession) -> list[tuple[str, str, str]]:
    """Upsert the demo configuration. Returns (username, roles, token) rows."""
    printed = []
    for username, display, roles, _ in USERS:
        values = dict(username=username, display_name=display, email=f"{username}@example.org",
                      roles=roles, active=True)
        stmt = insert(AppUser).values(**values)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["username"], set_={k: stmt.excluded[k] for k in values if k != "username"}))
        printed.append((username, ",".join(roles), demo_token(username)))
    ids = dict((await session.execute(select(AppUser.username, AppUser.id))).all())
    # Each demo user's fixed token, in force again (never expiring) however it was left.
    for username, _, token in printed:
        stmt = insert(ApiToken).values(id=str(uuid.uuid4()), user_id=ids[username], name="demo",
                                       token_hash=hash_token(token))
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["token_hash"], set_={"user_id": ids[username], "expires_at": None, "revoked_at": None}))
    for team in TEAMS:
        values = {**team, "manager_id": ids[TEAM_MANAGER]}
        stmt = insert(Team).values(**values)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["code"], set_={k: stmt.excluded[k] for k in values if k != "code"}))
    await session.execute(delete(TeamMember).where(TeamMember.team_code.in_([t["code"] for t in TEAMS])))
    for username, _, _, teams in USERS:
        for code in teams:
            await session.execute(insert(TeamMember).values(team_code=code, user_id=ids[username]))
    for case_type in CASE_TYPES:  # after the teams they route to
        stmt = insert(CaseType).values(active=True, **case_type)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["code"], set_={k: stmt.excluded[k] for k in case_type if k != "code"}))
    for name, listed in LISTS.items():
        for position, (code, label) in enumerate(listed):
            stmt = insert(ReferenceValue).values(list_name=name, code=code, label=label, position=position,
                                                 active=True, updated_by="Demo data")
            await session.execute(stmt.on_conflict_do_nothing())
    await demo_records.load(session)
    for position, (code, label) in enumerate(COMPLAINT_REASONS):
        await session.execute(insert(ReferenceValue).values(
            list_name=customer_complaint_tables.REASONS, code=code, label=label, position=position,
            updated_by="demo").on_conflict_do_nothing())
    await load_lead_returns(session)
    return printed


# Lead returns (docs/lead-returns.md; their reasons are in LISTS): returns enabled everywhere with a
# manager told, and the solar group letting partners return leads in their own words.
RETURN_SETTINGS = [
    dict(scope=GLOBAL, enabled=True, partners_may_start=False, allow_other=False, notify_user=TEAM_MANAGER,
         email_introducer=True, email_partner=True, window_days=30),
    dict(scope="LG-SOLAR", partners_may_start=True, allow_other=True),
]


async def load_lead_returns(session: AsyncSession) -> None:
    for values in RETURN_SETTINGS:
        stmt = insert(LeadReturnSettings).values(updated_by="Demo data", **values)
        await session.execute(stmt.on_conflict_do_nothing())


async def main() -> None:
    settings = get_settings()
    if settings.environment != "development":
        sys.exit("refusing to load demo users with fixed tokens outside ENVIRONMENT=development")
    engine = make_engine(settings.database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        printed = await load(session)
    await dispose_engine(engine)
    print("Demo users (development only):")
    for username, roles, token in printed:
        print(f"  {username:<12} {roles:<12} token: {token}")


if __name__ == "__main__":
    asyncio.run(main())
