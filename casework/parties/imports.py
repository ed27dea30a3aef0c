"""Reading a bulk import: CSV (a header row naming the fields) or NDJSON (one JSON object a
line), row by row. A row that cannot be read is answered as that row's error; the file as a
whole is refused only when it is too large or not text."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

CSV = "text/csv"
NDJSON = "application/x-ndjson"
MEDIA_TYPES = (CSV, NDJSON)
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000


class ImportRefused(Exception):
    """The file as a whole cannot be imported; `too_large` says it is over a limit (413)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass
class ImportRow:
    number: int  # CSV: the record's number after the header (1 is the first); NDJSON: the line's
    fields: dict[str, Any] = field(default_factory=dict)
    error_field: str | None = None
    error: str | None = None


def read_rows(media_type: str, body: bytes, json_fields: frozenset[str]) -> list[ImportRow]:
    """The rows of an import. In CSV an empty cell is a field left out, and a field holding a list
    or an object (an invoice's lines, a customer's contacts) holds it as JSON."""
    if len(body) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"an import is at most {MAX_IMPORT_BYTES} bytes; split the file", too_large=True)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"the file is not UTF-8 text (byte {exc.start})") from exc
    rows = _csv_rows(text, json_fields) if media_type == CSV else _ndjson_rows(text)
    if len(rows) > MAX_IMPORT_ROWS:
        raise ImportRefused(f"an import has at most {MAX_IMPORT_ROWS} rows; this one has {len(rows)}: split it",
                            too_large=True)
    return rows


def _csv_rows(text: str, json_fields: frozenset[str]) -> list[ImportRow]:
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    if not reader.fieldnames:
        raise ImportRefused("the CSV file has no header row naming the fields")
    rows = []
    for number, record in enumerate(reader, start=1):
        row = ImportRow(number)
        rows.append(row)
        if "\x00extra" in record:
            row.error_field, row.error = "row", "has more cells than the header names fields"
            continue
        for name, cell in record.items():
            if cell is None or cell == "":
                continue
            if name in json_fields:
                try:
                    row.fields[name] = json.loads(cell)
                except json.JSONDecodeError as exc:
                    row.error_field, row.error = name, f"a list or object is written as JSON here ({exc.msg})"
                    break
            else:
                row.fields[name] = cell
    return rows


def _ndjson_rows(text: str) -> list[ImportRow]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = ImportRow(number)
        rows.append(row)
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            row.error_field, row.error = "row", f"not JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(value, dict):
            row.error_field, row.error = "row", "each line is one JSON object"
            continue
        row.fields = value
    return rows
