"""Scenarios 2–4 on a bulk-loaded table: search latency, 100k-row exports, digests for 50 teams.

Cases are loaded by COPY (not through the API), their values drawn once in PostgreSQL: realistic names, postcodes, dates, teams
and stages. The secondary indexes are dropped for the load and rebuilt after it, as a real bulk
import would.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import date, datetime, time as clock, timedelta, timezone

import httpx
import psutil
import psycopg

from bench.stack import Stack
from bench.stats import Result, median, p95, progress

FIRST = ("Oliver George Harry Jack Jacob Noah Charlie Muhammad Thomas Oscar William James Leo Alfie "
         "Henry Joshua Freddie Archie Ethan Isaac Olivia Amelia Isla Ava Emily Sophia Grace Mia Poppy "
         "Ella Lily Evie Isabella Sophie Ivy Freya Harper Willow Daisy Alice Priya Aisha Fatima Zara "
         "Chen Wei Anna Maria Kofi Amara Siobhan Niamh Ciaran Eilidh Rhys Cerys Dylan Megan").split()
LAST = ("Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson "
        "Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood "
        "Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James "
        "Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter "
        "Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson "
        "Ellis Adams Singh Begum Ali Hussain Campbell Stewart MacDonald Murray O'Brien Byrne").split()
AREAS = "AB B BA BD BH BL BN BR BS CB CF CH CM CR CV DE DN E EC EH G GL GU HA HP IG IP KT L LE LS M ME MK N NE NG NW OX PE PL PO RG S SE SK SL SM SN SO SS ST SW TN TW UB W WD WF WS YO".split()
STAGES = [("triage", "Allocation"), ("acknowledgement", "Acknowledge"), ("clarification", "Clarification"),
          ("contributions", "Contributions"), ("draft", "Draft response"), ("qa", "Quality assurance"),
          ("send", "Send response"), ("outcome", "Complaint outcome"), ("closure", "Close case")]
TEAMS = [f"T{n:02d}" for n in range(1, 51)]
TODAY = date.today()
SEED = 20261123
BATCH = 1_000_000  # cases made per statement: progress, and a bounded list of new rows to join

# Each batch's draws are made once, in PostgreSQL, into a temporary table (OFFSET 0 keeps each
# draw one value): received in the last five years; closed when received over 90 days ago, else
# half of them; an open case at a random stage but the last, with a team unless in triage;
# deadline 28 days after receipt; overdue when open and past it. The cases and their complainants
# are then COPY'd in from them, as an import from another system would be loaded.
DRAW = """
create temporary table made as
select format('BULK/%%s/%%s', lpad(n::text, greatest(7, length(n::text)), '0'), 20 + n %% 6) as reference, n,
       received, name, phone, postcode, received < %(today)s::date - 90 or coin < 0.5 as closed, stage, team
from (
    select n, %(today)s::date - floor(random() * 1826)::int as received, random() as coin,
           1 + floor(random() * cardinality(%(stages)s::text[]))::int as stage,
           1 + floor(random() * cardinality(%(teams)s::text[]))::int as team,
           (%(first)s::text[])[1 + floor(random() * cardinality(%(first)s::text[]))::int] || ' ' ||
               (%(last)s::text[])[1 + floor(random() * cardinality(%(last)s::text[]))::int] as name,
           '07' || (100000000 + floor(random() * 900000000)::bigint) as phone,
           (%(areas)s::text[])[1 + floor(random() * cardinality(%(areas)s::text[]))::int]
               || (1 + floor(random() * 20)::int) || ' ' || (1 + floor(random() * 9)::int)
               || substr(%(letters)s, 1 + floor(random() * length(%(letters)s))::int, 1)
               || substr(%(letters)s, 1 + floor(random() * length(%(letters)s))::int, 1) as postcode
    from generate_series(%(low)s::int, %(high)s::int) n offset 0
) draws
"""
CASE_COLUMNS = ("reference, case_type, version, status, stage, stage_label, team, channel, category, severity, "
                "description, date_received, complainant_name, registered_by, registered_at, updated_at, "
                "deadline, overdue")
CASE_ROWS = """
select reference, 'COMP', 1, case when closed then 'closed' else 'open' end,
       case when closed then 'closure' else (%(stages)s::text[])[stage] end,
       case when closed then 'Closed' else (%(labels)s::text[])[stage] end,
       case when not closed and stage = 1 then null else (%(teams)s::text[])[team] end,
       'email', 'Billing', 'medium', 'Bulk-loaded case', received, name, 'bench',
       %(stamp)s::timestamptz, %(stamp)s::timestamptz, received + 28, not closed and received + 28 < %(today)s::date
from made order by n
"""
CORRESPONDENT_COLUMNS = "id, case_reference, relationship, is_primary, name, email, phone, address_lines, postcode"
CORRESPONDENT_ROWS = """
select uuidv7()::text, reference, 'complainant', true, name,
       lower(replace(replace(name, ' ', '.'), chr(39), '')) || n || '@example.net', phone,
       array['1 High Street'], postcode
from made order by n
"""


def _copy(source: psycopg.Connection, target: psycopg.Connection, rows: str, table: str, columns: str,
          values: dict) -> None:
    """COPY the rows `rows` selects on `source` into `table` on `target`: out as text, in as text,
    a block at a time."""
    selected = psycopg.ClientCursor(source).mogrify(rows, values)  # bound here: COPY takes no parameters
    with source.cursor().copy(f"copy ({selected}) to stdout") as out, \
            target.cursor().copy(f"copy {table} ({columns}) from stdin") as into:
        for block in out:
            into.write(block)


def bulk_load(database_url: str, count: int, first: int = 1) -> tuple[float, float]:
    """Load `count` cases with their complainants by COPY, numbered from `first` (a second load
    adds to a first); returns (seconds loading, seconds rebuilding the indexes and analysing)."""
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn, \
            psycopg.connect(database_url, autocommit=True) as draws:
        conn.execute("insert into team (code, name, email) select code, 'Team ' || code, "
                     "lower(code) || '@example.org' from unnest(%s::text[]) code on conflict do nothing",
                     (TEAMS,))
        indexes = conn.execute(
            "select indexname, indexdef from pg_indexes where tablename in "
            "('case_record', 'case_correspondent') and indexname not like '%%pkey'").fetchall()
        for name, _ in indexes:
            conn.execute(f'drop index "{name}"')
        # Each complainant's case is loaded before it: the load skips the foreign-key check (one
        # lookup a row) and the triggers, as a restore does, and records the names as the
        # trigger on case_correspondent would.
        conn.execute("set session_replication_role = replica")
        draws.execute("select setseed(%s)", ((SEED + first) % 1999 / 1000 - 1,))
        stages, labels = (list(codes) for codes in zip(*STAGES[:-1], strict=True))
        for low in range(first, first + count, BATCH):
            high = min(low + BATCH, first + count) - 1
            values = {"low": low, "high": high, "today": TODAY, "stamp": datetime(2020, 1, 1, tzinfo=timezone.utc),
                      "stages": stages, "labels": labels, "teams": TEAMS, "first": FIRST, "last": LAST,
                      "areas": AREAS, "letters": "ABDEFGHJLNPQRSTUWXYZ"}
            draws.execute("drop table if exists made")
            draws.execute(DRAW, values)
            _copy(draws, conn, CASE_ROWS, "case_record", CASE_COLUMNS, values)
            _copy(draws, conn, CORRESPONDENT_ROWS, "case_correspondent", CORRESPONDENT_COLUMNS, values)
            draws.execute("insert into correspondent_name select distinct name from made on conflict do nothing")
            if count > BATCH:
                progress(f"  {high - first + 1:,} of {count:,} cases loaded")
        conn.execute("set session_replication_role = origin")
        loaded = time.perf_counter()
        # As an operator rebuilding after a bulk import would: memory to sort each index in, and
        # a second process to help build it (24 GiB here; the server's default is 64 MB).
        conn.execute("set maintenance_work_mem = '1GB'")
        conn.execute("set max_parallel_maintenance_workers = 2")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("analyze case_record")
        conn.execute("analyze case_correspondent")
    return loaded - started, time.perf_counter() - loaded


AUTH = {"Authorization": "Bearer demo-coordinator-token"}

SEARCHES = {
    "reference exact": {"reference": "BULK/0123457/23"},
    "reference prefix": {"reference_prefix": "BULK/01234"},
    "partial complainant name": {"complainant": "ckhan"},
    "partial correspondent name": {"correspondent": "Eilidh Mac"},
    "postcode": {"postcode": "SW4 7QX"},
    "email": {"email": "amelia.taylor123@example.net"},
    "team + overdue": {"team": "T07", "overdue": "true"},
    "date range": {"received_from": (TODAY - timedelta(days=30)).isoformat(),
                   "received_to": TODAY.isoformat()},
    "team + open by deadline": {"team": "T12", "status": "open", "sort": "deadline"},
}


async def _timed(api: httpx.AsyncClient, params: dict, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await api.get("/search/cases", params=params, headers=AUTH)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{params}: {response.status_code} {response.text}")
    return times


async def _deep_page(api: httpx.AsyncClient, pages: int, rounds: int) -> list[float]:
    """Follow the cursor `pages` deep, then time fetching that deep page again."""
    params = {"status": "closed", "limit": "200"}
    cursor = None
    for _ in range(pages):
        body = (await api.get("/search/cases", params={**params, **({"cursor": cursor} if cursor else {})},
                              headers=AUTH)).json()
        cursor = body["next_cursor"]
    return await _timed(api, {**params, "cursor": cursor}, rounds)


async def searches(stack: Stack, quick: bool, scenario: str = "search") -> list[Result]:
    rounds, pages = (10, 50) if quick else (30, 500)
    results = []
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120) as api:
        for name, params in SEARCHES.items():
            await _timed(api, params, 2)
            times = await _timed(api, params, rounds)
            results.append(_search_result(scenario, name, times))
        times = await _deep_page(api, pages, rounds)
        results.append(_search_result(scenario, f"deep page ({pages} × 200 rows in)", times))
    return results


def _search_result(scenario: str, name: str, times: list[float]) -> Result:
    ms = [t * 1000 for t in times]
    return Result(scenario, name, "ms", median(ms), p95(ms), None, None, "p95 ≤ 50 ms", p95(ms) <= 50)


class PeakRss:
    """Samples a process's RSS every 20 ms from a thread; `peak` in MB."""

    def __init__(self, pid: int) -> None:
        self.process, self.peak, self._stop = psutil.Process(pid), 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss / 2**20)
            time.sleep(0.02)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def exports(stack: Stack, rows: int) -> list[Result]:
    # A filter matching about `rows` cases: the newest received, closed first.
    with psycopg.connect(stack.database_url) as conn:
        since = conn.execute("select date_received from case_record where reference like 'BULK/%%' "
                             "order by date_received desc offset %s limit 1", (rows,)).fetchone()[0]
    params = {"received_from": (since + timedelta(days=1)).isoformat()}
    results = []
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=600) as api:
        for fmt in ("csv", "xlsx"):
            rss_before = stack.rss_mb("api")
            with PeakRss(stack.processes["api"].pid) as rss:
                started = time.perf_counter()
                size = 0
                async with api.stream("GET", f"/search/cases.{fmt}", params=params, headers=AUTH) as response:
                    if response.status_code != 200:
                        raise RuntimeError(f"export {fmt}: {response.status_code}")
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                seconds = time.perf_counter() - started
            ok = seconds <= 10 and rss.peak <= 300
            results.append(Result("export", f"{fmt.upper()} ~{rows // 1000}k rows", "s", seconds, None, None,
                                  None, "≤ 10 s, API peak RSS ≤ 300 MB", ok,
                                  f"{size / 2**20:.1f} MB; API RSS {rss_before:.0f} → peak {rss.peak:.0f} MB"))
    return results


async def digests(stack: Stack) -> list[Result]:
    """Statistics + case list for each of 50 teams, built as the digest activity builds them."""
    from casework.platform.config import Settings
    from casework.platform.db import AppUser, DigestSubscription, dispose_engine, make_engine, make_sessionmaker
    from casework.digests.subscriptions import build_digest
    from sqlalchemy import select

    settings = Settings(database_url=stack.database_url, temporal_address=stack.temporal_address)
    engine = make_engine(stack.database_url)
    results = []
    async with make_sessionmaker(engine)() as session:
        owner = await session.scalar(select(AppUser).where(AppUser.username == "coordinator"))
        subs = [DigestSubscription(id=str(uuid.uuid4()), owner_id=owner.id, team=team, recipient="me",
                                   frequency="daily", time_of_day=clock(8), time_zone="Europe/London",
                                   active=True) for team in TEAMS]
        for attach in (False, True):
            started = time.perf_counter()
            listed = 0
            for sub in subs:
                digest = await build_digest(session, sub, settings, attach=attach)
                listed += digest.case_count
            seconds = time.perf_counter() - started
            what = "with XLSX attachments" if attach else "statistics + case list"
            results.append(Result("digest", f"50 teams, {what}", "s", seconds, None, None, None,
                                  "≤ 5 s" if not attach else "", seconds <= 5 if not attach else None,
                                  f"{listed} open cases listed"))
    await dispose_engine(engine)
    return results


async def run(stack: Stack, *, quick: bool) -> list[Result]:
    count = 100_000 if quick else 1_000_000
    export_rows = 20_000 if quick else 100_000
    load, index = await asyncio.to_thread(bulk_load, stack.database_url, count)
    results = [Result("load", f"COPY {count:,} cases + complainants, rebuild indexes", "s", load + index)]
    results += await searches(stack, quick)
    results += await exports(stack, export_rows)
    results += await digests(stack)
    return results


TEN_MILLION = 10_000_000
DISK_SIZES = ("select pg_database_size(current_database()), pg_total_relation_size('case_record'), "
              "pg_indexes_size('case_record'), pg_total_relation_size('case_correspondent'), "
              "pg_indexes_size('case_correspondent')")


def bulk_cases(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("select count(*) from case_record where reference like 'BULK/%%'").fetchone()[0]


async def run_ten_million(stack: Stack, *, quick: bool, total: int | None = None) -> list[Result]:
    """The ten searches over `total` (10,000,000) COPY-loaded cases, topping up what `run` loaded;
    the full mode only, unless a total is given."""
    if total is None and quick:
        return []
    total = total or TEN_MILLION
    have = bulk_cases(stack.database_url)
    progress(f"ten million: loading {total - have:,} cases")
    load, index = await asyncio.to_thread(bulk_load, stack.database_url, total - have, have + 1)
    with psycopg.connect(stack.database_url) as conn:
        database, cases, case_indexes, people, people_indexes = conn.execute(DISK_SIZES).fetchone()
    gib = 2**30
    scenario = f"search {total / 1e6:g}M"
    results = [Result("load", f"COPY {total - have:,} more cases + complainants ({total:,} in all)", "s", load,
                      note=f"indexes rebuilt and analysed in {index:.0f} s; disk: database {database / gib:.1f} GiB, "
                           f"cases {cases / gib:.1f} GiB ({case_indexes / gib:.1f} of it indexes), complainants "
                           f"{people / gib:.1f} GiB ({people_indexes / gib:.1f} indexes)")]
    return results + await searches(stack, quick, scenario)
