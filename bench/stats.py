"""Medians, percentiles and the result rows every scenario reports."""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict, dataclass


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Result:
    scenario: str
    metric: str
    unit: str
    median: float
    p95: float | None = None
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def row(r: Result) -> str:
    def fmt(v: float | None) -> str:
        return "" if v is None else (f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}")

    verdict = "" if r.passed is None else ("PASS" if r.passed else "FAIL")
    return (f"| {r.scenario} | {r.metric} | {fmt(r.median)} {r.unit} | {fmt(r.p95)} | {fmt(r.baseline)} | "
            f"{fmt(r.ratio)} | {r.target} | {verdict} |")


HEADER = ("| scenario | metric | median | p95 | baseline | ratio | target | result |\n"
          "|---|---|---|---|---|---|---|---|")


def progress(message: str) -> None:
    """A line on stderr as a long scenario moves on (the table comes at the end)."""
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)
