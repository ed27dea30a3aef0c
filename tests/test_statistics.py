"""Team statistics through the API, on a team of seeded cases that no other test touches."""

from __future__ import annotations

from datetime import date, timedelta

from casework.platform.db import make_sessionmaker
from casework.reporting.statistics import due_soon_until
from casework.calendar.workdays import Region, build_calendar, next_working_day
from tests.seeding import bearer, case_row, insert_cases, make_team, make_user, tag

TODAY = date.today()


def test_due_soon_means_within_five_working_days_on_the_england_and_wales_calendar():
    # Monday 31 August 2020 was a bank holiday.
    assert due_soon_until(date(2020, 8, 24)) == date(2020, 9, 1)
    assert due_soon_until(date(2020, 12, 24)) == date(2021, 1, 5)  # Christmas, Boxing Day, New Year


async def test_team_statistics_count_open_unallocated_overdue_due_soon_by_stage_and_member(api, engine):
    t = tag()
    until = due_soon_until(TODAY)
    async with make_sessionmaker(engine)() as session, session.begin():
        team = await make_team(session, f"ST{t}")
        other = await make_team(session, f"SU{t}")
        await make_user(session, f"lead{t}", ["coordinator"], [team])
        ann = await make_user(session, f"ann{t}", ["drafter"], [team])
        ben = await make_user(session, f"ben{t}", ["drafter"], [team])
        gone = await make_user(session, f"gone{t}", ["drafter"], [other])
        rows = [
            dict(assignee=ann, stage="draft", deadline=TODAY - timedelta(days=1)),     # overdue
            dict(assignee=ann, stage="draft", deadline=TODAY + timedelta(days=1)),     # due soon
            dict(assignee=ben, stage="qa", deadline=TODAY + timedelta(days=60), overdue=True),
            dict(stage="acknowledgement", deadline=TODAY + timedelta(days=60)),        # unallocated
            dict(stage="acknowledgement", deadline=until, case_type="COMP2"),          # due soon, edge
            dict(stage="draft", deadline=next_working_day(until, _calendar())),        # just after
            dict(assignee=gone, stage="send", deadline=None),                          # ex-member
            dict(assignee=ann, stage="closure", status="closed", deadline=TODAY - timedelta(days=9)),
        ]
        cases = [case_row(f"T{t}/{i:06d}/24", complainant=f"Person {i}", team=team, **row)
                 for i, row in enumerate(rows)]
        cases.append(case_row(f"T{t}/999999/24", complainant="Elsewhere", team=other, assignee=gone))
        await insert_cases(session, cases, [])

    response = await api.get("/statistics/teams", params={"team": [team, other]},
                             headers=bearer(f"lead{t}"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of"] == TODAY.isoformat() and body["due_soon_until"] == until.isoformat()
    stats = {s["code"]: s for s in body["teams"]}
    mine = stats[team]
    assert (mine["open"], mine["unallocated"], mine["overdue"], mine["due_soon"]) == (7, 3, 2, 2)
    assert [(s["stage"], s["open"]) for s in mine["by_stage"]] == [
        ("acknowledgement", 2), ("draft", 3), ("qa", 1), ("send", 1)]
    assert mine["by_stage"][1]["label"] == "Draft response"
    members = {m["username"]: (m["open"], m["overdue"], m["member"]) for m in mine["members"]}
    assert members == {f"lead{t}": (0, 0, True), f"ann{t}": (2, 1, True), f"ben{t}": (1, 1, True),
                       f"gone{t}": (1, 0, False)}
    assert stats[other]["open"] == 1

    stage_two = (await api.get("/statistics/teams", params={"team": team, "case_type": "COMP2"},
                               headers=bearer(f"lead{t}"))).json()["teams"][0]
    assert (stage_two["open"], stage_two["due_soon"], stage_two["unallocated"]) == (1, 1, 1)

    # A drafter sees their own teams only, and their own totals.
    own = (await api.get("/statistics/teams", headers=bearer(f"ann{t}"))).json()
    assert [s["code"] for s in own["teams"]] == [team]
    assert own["mine"] == {"open": 2, "overdue": 1}

    response = await api.get("/statistics/teams", params={"case_type": "NOPE"}, headers=bearer(f"lead{t}"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "case_type"]


def _calendar():
    return build_calendar(Region.ENGLAND_AND_WALES, [TODAY.year, TODAY.year + 1])
