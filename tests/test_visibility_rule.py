"""One visibility rule, two halves: the SQL clause every read uses (casework/cases/visibility.py) and the
in-memory `Sight` the workflow applies to each step (so steps need no query). They must agree on
every kind of case, or a user could change a case they cannot find, or be refused one they can."""

from __future__ import annotations

import itertools
from datetime import date

from casework.kinds.complaint.contracts import Contribution
from casework.platform.db import make_sessionmaker
from casework.cases.visibility import may_see_case, viewer_for
from tests.seeding import (
    SEEDED_AT,
    case_row,
    contribution_row,
    correspondent_row,
    insert_cases,
    make_team,
    make_user,
    tag,
)


async def test_the_workflow_and_the_database_agree_on_who_sees_which_case(engine):
    t = tag()
    async with make_sessionmaker(engine)() as session, session.begin():
        mine, theirs = await make_team(session, f"VA{t}"), await make_team(session, f"VB{t}")
        member = await make_user(session, f"vmember{t}", ["drafter"], [mine])
        other = await make_user(session, f"vother{t}", ["drafter"], [theirs])
        viewers = [
            member,
            other,
            await make_user(session, f"vloner{t}", ["drafter"]),
            await make_user(session, f"vtyped{t}", ["drafter"], [mine], case_types=["COMP2"]),
            await make_user(session, f"vcoord{t}", ["coordinator"], [theirs]),
            await make_user(session, f"vcoordtyped{t}", ["coordinator"], case_types=["COMP"]),
            await make_user(session, f"vops{t}", ["operations"], case_types=["COMP2"]),
        ]
        # Every combination of type, team, assignee and who a contribution was asked of.
        cases, people, asks = [], [], []
        shapes = list(itertools.product(["COMP", "COMP2"], [mine, theirs, None], [member, other, None],
                                        ["none", "my team", "me", "their team"]))
        for n, (case_type, team, assignee, asked) in enumerate(shapes):
            ref = f"V{t}/{n:03d}"
            cases.append(case_row(ref, complainant=f"Person {n}", team=team, assignee=assignee,
                                  case_type=case_type))
            people.append(correspondent_row(ref, f"Person {n}"))
            if asked != "none":
                ask = contribution_row(ref, theirs if asked in ("me", "their team") else mine)
                ask["assignee_id"] = member.id if asked == "me" else None
                asks.append(ask)
        await insert_cases(session, cases, people, asks)

    checked = 0
    async with make_sessionmaker(engine)() as session:
        for user in viewers:
            viewer = await viewer_for(session, user)
            sight = viewer.sight()
            for row in cases:
                contributions = [
                    Contribution(id=a["id"], team=a["team"], assignee_id=a.get("assignee_id"),
                                 request=a["request"], due_date=date(2024, 2, 1),
                                 requested_by="Seed", requested_at=SEEDED_AT)
                    for a in asks if a["case_reference"] == row["reference"]]
                in_sql = await may_see_case(session, viewer, row["reference"])
                in_workflow = sight.sees_parts(row["case_type"], row["team"], row["assignee_id"],
                                                   [(c.team, c.assignee_id) for c in contributions])
                assert in_workflow == in_sql, (user.username, row["reference"], row["team"],
                                               row["assignee_id"], row["case_type"], contributions)
                checked += 1
    assert checked == len(viewers) * len(shapes)
