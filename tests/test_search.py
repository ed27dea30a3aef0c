"""Case search and its CSV/XLSX exports, through the API, on cases seeded in PostgreSQL.

Every test scopes itself to this module's reference prefix, so cases from other tests never count.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

import openpyxl
import pytest
import pytest_asyncio

from sqlalchemy import update

from casework.platform.db import CaseCorrespondent, make_sessionmaker
from casework.reporting.export import read_csv_text
from tests.seeding import (
    bearer,
    case_row,
    contribution_row,
    correspondent_row,
    insert_cases,
    make_team,
    make_user,
    tag,
)

TODAY = date.today()
NASTY = [
    'Smith, "Bob"\nJunior',
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+44 Plus",
    "-minus Lee",
    "@SUM(A1:A9)",
    "\tTabbed Tina",
    "'Quoted Quentin",
    "Zoë Ünïcode, ½",
]


@dataclass
class Dataset:
    prefix: str
    team_a: str
    team_b: str
    refs: dict[str, str]  # label -> reference
    bulk: list[str]       # references of the bulk cases


@pytest_asyncio.fixture(scope="module")
async def data(engine) -> Dataset:
    t = tag()
    prefix = f"S{t}/"
    cases, people, contributions = [], [], []
    refs: dict[str, str] = {}

    async with make_sessionmaker(engine)() as session, session.begin():
        team_a = await make_team(session, f"SA{t}")
        team_b = await make_team(session, f"SB{t}")
        await make_user(session, f"boss{t}", ["coordinator"], [team_a])
        member = await make_user(session, f"member{t}", ["drafter"], [team_a])
        await make_user(session, f"typed{t}", ["coordinator"], [], case_types=["COMP2"])
        await make_user(session, f"outsider{t}", ["drafter"], [team_b])

        def add(label: str, complainant: str, **kw) -> str:
            reference = f"{prefix}{len(refs) + 1:06d}/24"
            refs[label] = reference
            cases.append(case_row(reference, complainant=complainant, **kw))
            return reference

        r = add("alice", "Alice Archer", team=team_a, assignee=member, date_received=date(2024, 3, 1),
                deadline=TODAY + timedelta(days=20))
        people.append(correspondent_row(r, "Alice Archer", email="Alice.Archer@Example.net",
                                        phone="020 7946 0001", postcode="AB1 2CD",
                                        external_reference=f"EXT-{t}-1"))
        people.append(correspondent_row(r, "Rory Representative", primary=False))
        r = add("bob", "Bob Builder", team=team_a, date_received=date(2024, 3, 5),
                deadline=TODAY - timedelta(days=1))  # past its deadline: overdue
        people.append(correspondent_row(r, "Bob Builder", postcode="AB12 9ZZ", phone="07700 900123"))
        r = add("flagged", "Fran Flagged", team=team_a, date_received=date(2024, 3, 6),
                deadline=TODAY + timedelta(days=2), overdue=True)
        people.append(correspondent_row(r, "Fran Flagged", postcode="ZZ9 9ZZ"))
        r = add("responded", "Rhys Responded", team=team_a, date_received=date(2024, 3, 7),
                deadline=TODAY - timedelta(days=3), deadline_met=False)  # answered late: not overdue
        people.append(correspondent_row(r, "Rhys Responded"))
        r = add("closed", "Carl Closed", team=team_a, status="closed", stage="closure",
                date_received=date(2024, 2, 1), deadline=TODAY - timedelta(days=30))
        people.append(correspondent_row(r, "Carl Closed"))
        r = add("b_mine", "Beth Bmine", team=team_b, assignee=member, stage="qa",
                date_received=date(2024, 4, 1))
        people.append(correspondent_row(r, "Beth Bmine"))
        r = add("b_other", "Olly Other", team=team_b, stage="qa", date_received=date(2024, 4, 2))
        people.append(correspondent_row(r, "Olly Other"))
        r = add("b_asked", "Asha Asked", team=team_b, date_received=date(2024, 4, 3))
        people.append(correspondent_row(r, "Asha Asked"))
        contributions.append(contribution_row(r, team_a, status="open", due_date=TODAY - timedelta(days=3)))
        r = add("unallocated", "Una Allocated", stage="triage", date_received=date(2024, 4, 4))
        people.append(correspondent_row(r, "Una Allocated"))
        r = add("stage2", "Sam Stagetwo", team=team_a, case_type="COMP2", date_received=date(2024, 4, 5))
        people.append(correspondent_row(r, "Sam Stagetwo"))
        contributions.append(contribution_row(r, team_b, status="completed"))
        for i, name in enumerate(NASTY):
            r = add(f"nasty{i}", name, team=team_a, date_received=date(2024, 5, 1) + timedelta(days=i))
            people.append(correspondent_row(r, name))

        # Bulk rows for paging: many share a date (the reference breaks ties), a third have no
        # deadline (NULLs sort last ascending, first descending).
        bulk = []
        for i in range(240):
            r = f"{prefix}{900000 + i:06d}/24"
            bulk.append(r)
            cases.append(case_row(
                r, complainant=f"Bulk Person {(i * 7) % 240:03d}", team=team_a if i % 2 else team_b,
                date_received=date(2023, 1, 1) + timedelta(days=i % 9),
                deadline=None if i % 3 == 0 else TODAY + timedelta(days=30 + i % 11),
                stage=["draft", "qa", "send"][i % 3]))
            people.append(correspondent_row(r, f"Bulk Person {(i * 7) % 240:03d}"))
        await insert_cases(session, cases, people, contributions)
    return Dataset(prefix=prefix, team_a=team_a, team_b=team_b, refs=refs, bulk=bulk)


async def found(api, user: str, **params) -> list[str]:
    response = await api.get("/search/cases", params={"limit": 200, **params}, headers=bearer(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None, "expected one page"
    return [item["reference"] for item in body["items"]]


async def test_each_filter_finds_exactly_its_cases(api, data: Dataset):
    boss = f"boss{data.prefix[1:-1]}"
    scope = {"reference_prefix": data.prefix}
    r = data.refs

    async def only(**params) -> set[str]:
        return set(await found(api, boss, **scope, **params)) - set(data.bulk)

    assert await found(api, boss, reference=r["alice"]) == [r["alice"]]
    assert await found(api, boss, reference=r["alice"].lower()) == [r["alice"]]
    assert await only(complainant="archer") == {r["alice"]}
    assert await only(correspondent="REPRESENT") == {r["alice"]}
    assert await only(correspondent="Bob Build") == {r["bob"]}
    assert await only(postcode="ab1 2cd") == {r["alice"]}
    assert await only(postcode="AB1") == {r["alice"]}  # outward code, not AB12
    assert await only(postcode="ab12cd") == {r["alice"]}  # any spacing: one written form
    assert await only(postcode=" AB1   2CD ") == {r["alice"]}
    assert await only(email="alice.archer@example.NET") == {r["alice"]}
    assert await only(phone="(020) 7946-0001") == {r["alice"]}
    assert await only(external_reference=f"EXT-{data.prefix[1:-1]}-1") == {r["alice"]}
    assert await only(received_from="2024-03-01", received_to="2024-03-05") == {r["alice"], r["bob"]}
    assert await only(case_type="COMP2") == {r["stage2"]}
    assert await only(stage="qa") == {r["b_mine"], r["b_other"]}
    assert await only(team=data.team_b) == {r["b_mine"], r["b_other"], r["b_asked"]}
    assert await only(assignee=f"member{data.prefix[1:-1]}") == {r["alice"], r["b_mine"]}
    assert await only(status="closed") == {r["closed"]}
    assert await only(overdue="true") == {r["bob"], r["flagged"]}
    assert r["closed"] in await only(overdue="false", received_from="2024-01-01")  # closed: never overdue
    # Its response sent (late): not overdue, here and in the case list alike; deadline_met keeps the record.
    assert r["responded"] in await only(overdue="false", received_from="2024-01-01")
    listed = await api.get("/cases", params={"overdue": "true", "limit": 500}, headers=bearer(boss))
    assert {c["reference"] for c in listed.json()} >= {r["bob"], r["flagged"]}
    assert r["responded"] not in {c["reference"] for c in listed.json()}
    assert await only(deadline_from=(TODAY - timedelta(days=1)).isoformat(),
                      deadline_to=(TODAY + timedelta(days=2)).isoformat()) == {r["bob"], r["flagged"]}
    assert await only(contribution_status="overdue") == {r["b_asked"]}
    assert await only(contribution_status="completed") == {r["stage2"]}
    # Filters combine with AND, repeated values with OR.
    assert await only(team=[data.team_a, data.team_b], stage="qa", assignee="me") == set()
    assert await only(team=data.team_a, status="open", overdue="true",
                      received_to="2024-03-05") == {r["bob"]}


async def test_results_carry_the_case_columns(api, data: Dataset):
    boss = f"boss{data.prefix[1:-1]}"
    response = await api.get("/search/cases", params={"reference": data.refs["alice"]},
                             headers=bearer(boss))
    [item] = response.json()["items"]
    assert item == {
        "reference": data.refs["alice"], "complainant_name": "Alice Archer", "case_type": "COMP",
        "stage": "draft", "stage_label": "Draft response", "team": data.team_a,
        "assignee_name": f"User member{data.prefix[1:-1]}", "date_received": "2024-03-01",
        "deadline": (TODAY + timedelta(days=20)).isoformat(), "overdue": False, "status": "open",
    }
    response = await api.get("/search/cases", params={"reference": data.refs["alice"],
                                                      "columns": "reference,team"},
                             headers=bearer(boss))
    assert response.json()["items"] == [{"reference": data.refs["alice"], "team": data.team_a}]


@pytest.mark.parametrize("sort", ["-date_received", "date_received", "deadline", "-deadline",
                                  "complainant_name", "-team", "stage_label", "-overdue", "reference"])
async def test_keyset_pages_visit_every_case_once_in_the_export_order(api, data: Dataset, sort):
    boss = f"boss{data.prefix[1:-1]}"
    params = {"reference_prefix": data.prefix, "sort": sort}
    pages, cursor = [], None
    while True:
        response = await api.get("/search/cases", headers=bearer(boss),
                                 params={**params, "limit": 37, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    walked = [item["reference"] for page in pages for item in page]
    assert len(walked) == len(set(walked)) == len(data.refs) + len(data.bulk)
    assert all(len(page) == 37 for page in pages[:-1])

    export = await api.get("/search/cases.csv", params=params, headers=bearer(boss))
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"), newline="")))
    assert [read_csv_text(row["Reference"]) for row in rows] == walked

    key = sort.lstrip("-")
    values = [item[key] for page in pages for item in page]
    present = [v for v in values if v is not None]
    if key in ("date_received", "deadline", "reference"):  # orders Python compares the same way
        assert present == sorted(present, reverse=sort.startswith("-"))
    if None in values:  # NULLs last ascending, first descending
        nulls = [i for i, v in enumerate(values) if v is None]
        edge = range(len(nulls)) if sort.startswith("-") else range(len(values) - len(nulls), len(values))
        assert nulls == list(edge)


async def test_bad_filters_are_422_naming_the_filter(api, data: Dataset):
    boss = f"boss{data.prefix[1:-1]}"
    cases = [
        ({"sort": "colour"}, "sort"),
        ({"columns": "reference,colour"}, "columns"),
        ({"received_from": "2024-03-05", "received_to": "2024-03-01"}, "received_to"),
        ({"deadline_from": "2024-03-05", "deadline_to": "2024-03-01"}, "deadline_to"),
        ({"limit": 201}, "limit"),
        ({"colour": "red"}, "colour"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"team": "NO-SUCH-TEAM"}, "team"),
        ({"case_type": "NOPE"}, "case_type"),
        ({"stage": "nowhere"}, "stage"),
        ({"assignee": "nobody-at-all"}, "assignee"),
        ({"status": "pending"}, "status"),
        ({"overdue": "perhaps"}, "overdue"),
        ({"received_from": "yesterday"}, "received_from"),
        ({"contribution_status": "lost"}, "contribution_status"),
        ({"complainant": "a"}, "complainant"),
        ({"phone": "n/a"}, "phone"),
    ]
    for params, name in cases:
        for path in ("/search/cases", "/search/cases.csv", "/search/cases.xlsx"):
            if path != "/search/cases" and name in ("limit", "cursor"):
                continue  # exports ignore paging
            response = await api.get(path, params=params, headers=bearer(boss))
            assert response.status_code == 422, (path, params, response.text)
            assert response.json()["detail"][0]["loc"] == ["query", name], (path, params, response.text)

    # A cursor is tied to its sort order.
    first = (await api.get("/search/cases", params={"reference_prefix": data.prefix, "limit": 5},
                           headers=bearer(boss))).json()
    response = await api.get("/search/cases", headers=bearer(boss), params={
        "reference_prefix": data.prefix, "sort": "deadline", "cursor": first["next_cursor"]})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_users_see_only_their_teams_and_case_types_everywhere(api, data: Dataset):
    t = data.prefix[1:-1]
    r = data.refs
    scope = {"reference_prefix": data.prefix}
    member_sees = set(await found(api, f"member{t}", **scope, stage=["draft", "qa", "triage"],
                                  received_from="2024-01-01"))
    # Own team (A), assigned to them in team B, asked of their team, unallocated.
    assert {r["alice"], r["bob"], r["b_mine"], r["b_asked"], r["unallocated"], r["stage2"]} <= member_sees
    assert r["b_other"] not in member_sees
    typed_sees = set(await found(api, f"typed{t}", **scope, received_from="2024-01-01"))
    assert typed_sees == {r["stage2"]}

    hidden = r["b_other"]
    for user, status in ((f"member{t}", 404), (f"typed{t}", 404), (f"boss{t}", 200)):
        assert (await api.get(f"/cases/{hidden}", headers=bearer(user))).status_code == status
        assert (await api.get(f"/cases/{hidden}/timeline", headers=bearer(user))).status_code == status
    listed = (await api.get("/cases", params={"team": data.team_b, "limit": 500},
                            headers=bearer(f"member{t}"))).json()
    assert hidden not in [c["reference"] for c in listed]

    export = await api.get("/search/cases.csv", params={**scope, "received_from": "2024-01-01",
                                                        "stage": ["draft", "qa", "triage"]},
                           headers=bearer(f"member{t}"))
    exported = {read_csv_text(row["Reference"]) for row in
                csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"), newline=""))}
    assert exported == member_sees
    book = await api.get("/search/cases.xlsx", params={**scope, "received_from": "2024-01-01"},
                         headers=bearer(f"typed{t}"))
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [r["stage2"]]


async def test_csv_export_round_trips_any_text_and_defuses_formulas(api, data: Dataset):
    boss = f"boss{data.prefix[1:-1]}"
    params = {"reference_prefix": data.prefix, "received_from": "2024-05-01", "sort": "date_received"}
    response = await api.get("/search/cases.csv", params=params, headers=bearer(boss))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["Reference", "Complainant", "Case type", "Stage code", "Stage", "Team",
                       "Assignee", "Date received", "Deadline", "Overdue", "Status"]
    names = [row[1] for row in rows[1:]]
    assert [read_csv_text(name) for name in names] == NASTY
    # Nothing a spreadsheet would evaluate: every formula-looking cell starts with an apostrophe.
    assert all(not name.startswith(("=", "+", "-", "@", "\t", "\r")) for name in names)
    assert rows[1][7] == "2024-05-01" and rows[1][9] == "FALSE"


async def test_xlsx_export_is_a_real_workbook_with_the_search_rows(api, data: Dataset):
    boss = f"boss{data.prefix[1:-1]}"
    params = {"reference_prefix": data.prefix, "received_from": "2024-03-01", "sort": "date_received",
              "team": data.team_a}
    search = await found(api, boss, **params)
    response = await api.get("/search/cases.xlsx", params=params, headers=bearer(boss))
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.active
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:K{len(search) + 1}"
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["Reference", "Complainant", "Case type"] and header[-1] == "Status"
    rows = list(sheet.iter_rows(min_row=2))
    assert [row[0].value for row in rows] == search
    alice = rows[0]
    assert alice[1].value == "Alice Archer"
    assert alice[7].is_date and alice[7].value.date() == date(2024, 3, 1)
    assert alice[8].is_date and alice[8].value.date() == TODAY + timedelta(days=20)
    assert alice[9].value is False
    nasty = {row[1].value: row[1] for row in rows if row[1].value in NASTY}
    assert set(nasty) == set(NASTY)
    formula = nasty[NASTY[1]]
    assert formula.data_type == "s"  # stored as text, never as a formula


async def test_exports_offer_the_api_field_names_as_headings_for_machines(api, data: Dataset):
    boss = f"boss{data.prefix[1:-1]}"
    params = {"reference_prefix": data.prefix, "reference": data.refs["alice"],
              "columns": ["reference", "date_received", "overdue"], "headings": "fields"}
    text = (await api.get("/search/cases.csv", params=params, headers=bearer(boss))).content.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["reference", "date_received", "overdue"], [data.refs["alice"], "2024-03-01", "FALSE"]]
    book = await api.get("/search/cases.xlsx", params=params, headers=bearer(boss))
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    assert [cell.value for cell in sheet[1]] == ["reference", "date_received", "overdue"]
    wrong = await api.get("/search/cases.csv", params={**params, "headings": "labels"}, headers=bearer(boss))
    assert wrong.status_code == 422 and "headings" in wrong.text


OVERDUE_SORTS = ["-date_received", "date_received", "-deadline", "deadline", "reference", "-complainant_name"]


@pytest.mark.parametrize("sort", OVERDUE_SORTS)
async def test_overdue_pages_hold_both_ways_of_being_overdue_in_the_search_order(api, engine, sort):
    """The overdue filter is searched as its two ways (flagged by the timer; open, unanswered and
    past its deadline) apart: the pages hold exactly the cases either way makes overdue, each once,
    in the sort's order across page boundaries, with dates shared so the reference breaks ties, and
    the export holds the same rows in the same order."""
    t = tag()
    prefix = f"O{t}/"
    cases, expected = [], []
    async with make_sessionmaker(engine)() as session, session.begin():
        team = await make_team(session, f"OV{t}")
        await make_user(session, f"lead{t}", ["coordinator"], [team])
        for i in range(60):
            reference = f"{prefix}{(i * 37) % 60:06d}/24"  # references out of the rows' order
            received = date(2024, 6, 1) + timedelta(days=i % 7)
            way = i % 5
            row = {
                0: dict(overdue=True, deadline=TODAY + timedelta(days=i % 4)),  # flagged, deadline ahead
                1: dict(deadline=TODAY - timedelta(days=1 + i % 3)),  # past its deadline, not flagged
                2: dict(overdue=True, deadline=None if i % 2 else TODAY - timedelta(days=2),
                        status="closed", stage="closure"),  # flagged stays overdue, closed or not
                3: dict(deadline=TODAY - timedelta(days=2), deadline_met=False),  # answered late: not
                4: dict(deadline=TODAY - timedelta(days=5), status="closed", stage="closure"),  # not
            }[way]
            cases.append(case_row(reference, complainant=f"Olive Overdue {i % 11:02d}", team=team,
                                  date_received=received, **row))
            if way in (0, 1, 2):
                expected.append(cases[-1])
        await insert_cases(session, cases, [])

    key = sort.lstrip("-")
    descending = sort.startswith("-")
    present = sorted((c for c in expected if c[key] is not None),
                     key=lambda c: (c[key], c["reference"]), reverse=descending)
    missing = sorted((c for c in expected if c[key] is None), key=lambda c: c["reference"], reverse=descending)
    wanted = [c["reference"] for c in (missing + present if descending else present + missing)]

    params = {"team": team, "overdue": "true", "sort": sort, "reference_prefix": prefix}
    walked, cursor = [], None
    while True:
        response = await api.get("/search/cases", headers=bearer(f"lead{t}"),
                                 params={**params, "limit": 7, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        assert all(item["overdue"] is True for item in body["items"])
        walked += [item["reference"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == wanted
    export = await api.get("/search/cases.csv", params=params, headers=bearer(f"lead{t}"))
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"), newline="")))
    assert [read_csv_text(row["Reference"]) for row in rows] == wanted


async def test_a_correspondent_is_found_by_part_of_the_name_they_have_now(api, engine):
    """Parts of names are matched among the different names (correspondent_name, kept by a trigger
    on case_correspondent), then correspondents by exact name: a new correspondent and a renamed
    one are found by their name at once, not by the old one."""
    t = tag()
    prefix = f"N{t}/"
    first, second = f"Quentin Quill{t}", f"Petra Pen{t}"
    async with make_sessionmaker(engine)() as session, session.begin():
        team = await make_team(session, f"NM{t}")
        await make_user(session, f"finder{t}", ["coordinator"], [team])
        cases = [case_row(f"{prefix}{i:06d}/24", complainant="Someone", team=team) for i in (1, 2)]
        people = [correspondent_row(cases[0]["reference"], first),
                  correspondent_row(cases[1]["reference"], first, primary=False)]
        await insert_cases(session, cases, people)

    async def by_part(part: str) -> list[str]:
        return sorted(await found(api, f"finder{t}", correspondent=part, reference_prefix=prefix))

    assert await by_part(f"quill{t.lower()}") == [cases[0]["reference"], cases[1]["reference"]]
    async with make_sessionmaker(engine)() as session, session.begin():
        await session.execute(update(CaseCorrespondent).where(
            CaseCorrespondent.case_reference == cases[1]["reference"]).values(name=second))
    assert await by_part(f"n{t}") == [cases[1]["reference"]]
    assert await by_part(f"Quill{t}") == [cases[0]["reference"]]
