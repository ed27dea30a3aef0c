"""`python -m bench.pdf_cpu [--rounds N] [--baseline REV]`: CPU milliseconds per ``letter_pdf``
call (median), for a short response drafted with python-docx and for a letter from our renderer.

Printing runs inside the worker's "send response" activity for every case, on small machines
where throughput is CPU-bound, so the figure is process CPU time, not wall time.

When the tree is a git checkout, the same documents are also printed by ``casework/documents/pdf.py`` as
it was at ``--baseline`` (default: the commit before the lighter .docx reader), loaded straight
from git history, so before and after are measured in one run on one machine; the two must print
byte-identical PDFs, or the comparison is refused.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import subprocess
import sys
import time
from types import ModuleType
from typing import Callable

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH

from bench.letters import CONTEXT, TEMPLATE
from bench.stats import median
from casework.documents import docx_reading, pdf, rendering
from casework.platform.config import PROJECT_ROOT

BASELINE = "ffc8a06"  # casework/documents/pdf.py opening the whole package with python-docx


def short_response() -> bytes:
    """A response draft as a user uploads it: a few paragraphs, a heading, some bold."""
    document = Document()
    document.add_heading("Our response to your complaint", level=1)
    document.add_paragraph("We have investigated your complaint and uphold it.")
    paragraph = document.add_paragraph("We will refund ")
    paragraph.add_run("£42.10").bold = True
    paragraph.add_run(" within 14 days.")
    document.add_paragraph("Yours sincerely").alignment = WD_ALIGN_PARAGRAPH.LEFT
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def rendered_letter() -> bytes:
    """The acknowledgement letter filled by our template engine, as the worker prints it."""
    return rendering.render_letter(TEMPLATE, CONTEXT)


def baseline_module(rev: str) -> ModuleType | None:
    """``casework/documents/pdf.py`` as it was at ``rev``, imported under another name; None outside git."""
    try:
        source = subprocess.run(["git", "show", f"{rev}:casework/documents/pdf.py"], cwd=PROJECT_ROOT,
                                capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("bench_baseline_pdf", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the body runs
    exec(compile(source, f"{rev}:casework/documents/pdf.py", "exec"), module.__dict__)
    return module


def cpu_ms(fn: Callable[[], object], calls: int) -> list[float]:
    """Process CPU time of each of ``calls`` calls, in milliseconds."""
    samples = []
    for _ in range(calls):
        started = time.process_time_ns()
        fn()
        samples.append((time.process_time_ns() - started) / 1e6)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    parser.add_argument("--calls", type=int, default=20, help="calls per round (default 20)")
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare against")
    args = parser.parse_args()

    documents = {"short response (python-docx)": short_response(), "rendered letter": rendered_letter()}
    old = baseline_module(args.baseline)
    if old is None:
        print(f"(no git history for {args.baseline}: printing the current code only)")
    for name, data in documents.items():
        printed = pdf.letter_pdf(data)  # also warms fonts and caches
        if old is not None and old.letter_pdf(data) != printed:
            raise SystemExit(f"{name}: the baseline prints different bytes; not comparable")
        now, before = [], []
        for _ in range(args.rounds):  # interleaved, so machine noise hits both alike
            now += cpu_ms(lambda: pdf.letter_pdf(data), args.calls)
            if old is not None:
                before += cpu_ms(lambda: old.letter_pdf(data), args.calls)
        line = f"{name:30} {median(now):6.2f} ms CPU per PDF (median of {len(now)})"
        if before:
            line += (f"; {args.baseline}: {median(before):6.2f} ms; "
                     f"now/before {median(now) / median(before):.2f}, same bytes")
        print(line)
    # Letters from one template share their styles part, so it is parsed once per process;
    # an upload from another word processor brings its own: this is its first print.
    data = documents["short response (python-docx)"]
    first = cpu_ms(lambda: (docx_reading._read_styles.cache_clear(), pdf.letter_pdf(data)), args.rounds * args.calls)
    print(f"{'  ... styles part not cached':30} {median(first):6.2f} ms CPU per PDF")


if __name__ == "__main__":
    main()
