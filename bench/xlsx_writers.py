"""`python -m bench.xlsx_writers [--rows N] [--rounds N]`: our streaming XLSX writer against
maintained streaming writers, on the search export's columns, in one run on one machine.

Each writer writes the same rows, a batch of 1,000 at a time as the export does (the rows of a
bulk-loaded search, made up here so no database is needed), with what our workbook has: a bold
header, real dates in yyyy-mm-dd, booleans, text always as text (never a formula), the header
frozen. Contenders:

- ours: ``casework.reporting.export.XlsxCases``;
- XlsxWriter in ``constant_memory`` mode (rows flushed as written, its streaming mode), cells
  written by type (``write_string`` so text is never a formula);
- rustpy-xlsxwriter (Rust's rust_xlsxwriter behind a Python API), fed a generator of rows.

A library that is not installed is reported as such. Reports the median wall and process-CPU
seconds over the rounds and each library's ratio to ours (above 1: slower than ours).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.stats import Result, median
from casework.reporting.export import XlsxCases
from casework.reporting.search import COLUMNS

BATCH = 1_000
STAGES = ("allocation", "acknowledgement", "draft_response", "qa", "closed")
LABELS = ("Allocation", "Acknowledgement", "Draft response", "Quality assurance", "Closed")


def make_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Rows shaped like the search export's (casework.reporting.search.COLUMNS)."""
    rng = random.Random(seed)
    first = ("Jane", "Amir", "Olu", "Siobhán", "Zoë", "Li", "Marek", "Ana")
    last = ("Citizen", "Khan", "O'Neill", "Nowak", "Smith-Jones", "Ferreira", "Øster")
    rows = []
    start = date(2025, 1, 1)
    for i in range(count):
        stage = rng.randrange(len(STAGES))
        received = start + timedelta(days=rng.randrange(600))
        rows.append({
            "reference": f"COMP/{i + 1:06d}/26",
            "complainant_name": f"{rng.choice(first)} {rng.choice(last)}",
            "case_type": "COMP",
            "stage": STAGES[stage],
            "stage_label": LABELS[stage],
            "team": rng.choice(("CENTRAL", "BILLING", None)),
            "assignee_name": rng.choice(("Dee Drafter", "Quinn QA", None)),
            "date_received": received,
            "deadline": received + timedelta(days=28) if stage < 4 else None,
            "overdue": rng.random() < 0.1,
            "status": "closed" if stage == 4 else "open",
        })
    return rows


def batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), BATCH):
        yield rows[i:i + BATCH]


def write_ours(path: Path, rows: list[dict[str, Any]]) -> None:
    book = XlsxCases(path, list(COLUMNS.values()))
    for batch in batches(rows):
        book.write_rows(batch)
    book.close()


def write_xlsxwriter(path: Path, rows: list[dict[str, Any]]) -> None:
    import xlsxwriter  # type: ignore[import-not-found]

    columns = list(COLUMNS.values())
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Cases")
    bold = book.add_format({"bold": True, "bottom": 1})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    for c, column in enumerate(columns):
        sheet.write_string(0, c, column.title, bold)
    sheet.freeze_panes(1, 0)
    writers: list[Callable[[int, int, Any], Any]] = []
    for column in columns:
        if column.kind == "date":
            writers.append(lambda r, c, v: sheet.write_datetime(r, c, v, day))
        elif column.kind == "bool":
            writers.append(sheet.write_boolean)
        else:
            writers.append(sheet.write_string)
    cells = list(enumerate(zip((c.key for c in columns), writers, strict=True)))
    r = 0
    for batch in batches(rows):
        for row in batch:
            r += 1
            for c, (key, write) in cells:
                value = row[key]
                if value is not None:
                    write(r, c, value)
    sheet.autofilter(0, 0, r, len(columns) - 1)
    book.close()


def write_rustpy(path: Path, rows: list[dict[str, Any]]) -> None:
    from rustpy_xlsxwriter import FastExcel  # type: ignore[import-not-found]

    columns = list(COLUMNS.values())

    def records() -> Iterator[dict[str, Any]]:
        for batch in batches(rows):
            for row in batch:
                yield {c.title: row[c.key] for c in columns}

    (FastExcel(str(path)).format(bold_headers=True, datetime_format="yyyy-mm-dd").freeze(row=1)
     .sheet("Cases", records(), autofilter=True, column_widths=[_width(c) for c in columns]).save())


def _width(column: Any) -> float:
    return float({"text": 22, "date": 13, "bool": 9}[column.kind])


WRITERS: dict[str, tuple[str | None, Callable[[Path, list[dict[str, Any]]], None]]] = {
    "ours (XlsxCases)": (None, write_ours),
    "XlsxWriter constant_memory": ("xlsxwriter", write_xlsxwriter),
    "rustpy-xlsxwriter": ("rustpy_xlsxwriter", write_rustpy),
}


def measure(rows: list[dict[str, Any]], rounds: int) -> dict[str, tuple[float, float, int]]:
    """name -> (median wall s, median CPU s, file bytes), the writers interleaved in each round."""
    available = {name: write for name, (module, write) in WRITERS.items()
                 if module is None or importlib.util.find_spec(module) is not None}
    wall: dict[str, list[float]] = {name: [] for name in available}
    cpu: dict[str, list[float]] = {name: [] for name in available}
    size: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for i, (name, write) in enumerate(available.items()):
                path = Path(tmp) / f"{i}.xlsx"
                w0, c0 = time.perf_counter(), time.process_time()
                write(path, rows)
                wall[name].append(time.perf_counter() - w0)
                cpu[name].append(time.process_time() - c0)
                size[name] = path.stat().st_size
                path.unlink()
    return {name: (median(wall[name]), median(cpu[name]), size[name]) for name in available}


def peak_memory_mib(name: str, rows: int) -> float:
    """Peak RSS growth (MiB) of a fresh process writing `rows` rows with `name`, the rows made
    a batch at a time as the export reads them: what the writer itself holds."""
    code = (
        "import resource, sys, tempfile, pathlib\n"
        "from bench import xlsx_writers as b\n"
        "rows = b.make_rows(b.BATCH)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "def many():\n"
        f"    for _ in range({rows} // b.BATCH):\n"
        "        yield rows\n"
        "b.batches = lambda _rows: many()\n"  # the same batch again and again: no rows held
        "with tempfile.TemporaryDirectory() as tmp:\n"
        f"    b.WRITERS[{name!r}][1](pathlib.Path(tmp) / 'x.xlsx', rows)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip()) / 1024


def run(quick: bool = False) -> list[Result]:
    """The `python -m bench` scenario: process CPU per export, each library against ours."""
    count = 20_000 if quick else 100_000
    results = measure(make_rows(count), rounds=3)
    _, ours, _ = results["ours (XlsxCases)"]
    found = [Result("xlsx writers", f"{count // 1000}k rows: {name}", "s CPU", cpu, baseline=ours,
                    ratio=cpu / ours, target="switch if ≤ 1.5× ours" if name != "ours (XlsxCases)" else "")
             for name, (_, cpu, _) in results.items()]
    missing = [module for name, (module, _) in WRITERS.items() if name not in results]
    if missing:
        found[0].note = f"not installed, so not compared: {', '.join(str(m) for m in missing)}"
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    rows = make_rows(args.rows)
    results = measure(rows, args.rounds)
    ours_wall, ours_cpu, _ = results["ours (XlsxCases)"]
    print(f"{args.rows} rows x {len(COLUMNS)} columns, median of {args.rounds} rounds")
    print("| writer | wall s | CPU s | wall vs ours | CPU vs ours | file MB | peak memory MiB |")
    print("|---|---|---|---|---|---|---|")
    for name, (w, c, size) in results.items():
        memory = peak_memory_mib(name, args.rows)
        print(f"| {name} | {w:.2f} | {c:.2f} | {w / ours_wall:.2f}x | {c / ours_cpu:.2f}x | {size / 1e6:.1f} "
              f"| {memory:.0f} |")
    for name, (module, _) in WRITERS.items():
        if name not in results:
            print(f"| {name} | not installed (pip install {module}) | | | | | |")


if __name__ == "__main__":
    main()
