"""Search results as spreadsheets: CSV and XLSX, written a batch of rows at a time.

CSV (RFC 4180, UTF-8 with a byte-order mark so Excel reads accents): the csv module quotes commas,
quotes and line breaks. Text that a spreadsheet would run as a formula (starting with = + - @, a
tab or a carriage return) is written with a leading apostrophe, and so is text that already starts
with one; `read_csv_text` removes it again, so every value round-trips exactly.

XLSX: XlsxWriter in constant-memory mode, which flushes each row to a temporary file as soon as
the next one starts, so 100k rows need no more memory than 1k. Text cells are always written as
strings (never formulas), dates as real dates, with a bold header row, an autofilter over the
data and the header frozen. The workbook is assembled when the last row is written, then sent.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from casework.search import Column

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# What Excel, LibreOffice and Google Sheets treat as the start of a formula (OWASP's list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"
_COLUMN_WIDTHS = {"text": 22, "date": 13, "bool": 9}
_WIDE = {"complainant_name": 30, "stage_label": 26, "assignee_name": 24}


def csv_text(value: str) -> str:
    """Text safe to open in a spreadsheet, and reversible with `read_csv_text`."""
    if value.startswith(FORMULA_TRIGGERS) or value.startswith(_ESCAPE):
        return _ESCAPE + value
    return value


def read_csv_text(cell: str) -> str:
    return cell[1:] if cell.startswith(_ESCAPE) else cell


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return csv_text(str(value))


class CsvEncoder:
    """Turns rows into UTF-8 CSV bytes, one chunk per call."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self._keys = [c.key for c in columns]
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._titles = [c.title for c in columns]

    def header(self) -> bytes:
        self._writer.writerow(self._titles)
        return "\ufeff".encode() + self._take()

    def rows(self, rows: Iterable[Any]) -> bytes:
        for row in rows:
            mapping = row._mapping if hasattr(row, "_mapping") else row
            self._writer.writerow([csv_value(mapping[key]) for key in self._keys])
        return self._take()

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")


class XlsxCases:
    """A one-sheet workbook at `path`, written row by row in constant memory."""

    def __init__(self, path: Path, columns: Sequence[Column], *, sheet_name: str = "Cases") -> None:
        self._columns = list(columns)
        self._workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": str(Path(path).parent),
                # Text stays text: nothing a complainant typed becomes a formula, link or number.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self._sheet = self._workbook.add_worksheet(sheet_name)
        self._date = self._workbook.add_format({"num_format": "yyyy-mm-dd"})
        header = self._workbook.add_format({"bold": True, "bottom": 1})
        for index, column in enumerate(self._columns):
            width = _WIDE.get(column.key, _COLUMN_WIDTHS[column.kind])
            self._sheet.set_column(index, index, width)
            self._sheet.write_string(0, index, column.title, header)
        self._sheet.freeze_panes(1, 0)
        self._row = 1

    @property
    def row_count(self) -> int:
        return self._row - 1

    def write_rows(self, rows: Iterable[Any]) -> None:
        sheet = self._sheet
        for row in rows:
            mapping = row._mapping if hasattr(row, "_mapping") else row
            for index, column in enumerate(self._columns):
                value = mapping[column.key]
                if value is None:
                    continue
                if column.kind == "date":
                    sheet.write_datetime(self._row, index, value, self._date)
                elif column.kind == "bool":
                    sheet.write_boolean(self._row, index, bool(value))
                else:
                    sheet.write_string(self._row, index, str(value))
            self._row += 1

    def close(self) -> None:
        self._sheet.autofilter(0, 0, max(self._row - 1, 0), len(self._columns) - 1)
        self._workbook.close()


async def write_xlsx(path: Path, columns: Sequence[Column],
                     batches: AsyncIterator[Iterable[Any]]) -> int:
    """Write batches of rows to a workbook at `path`, off the event loop. Returns the row count."""
    book = await asyncio.to_thread(XlsxCases, path, columns)
    async for batch in batches:
        await asyncio.to_thread(book.write_rows, batch)
    await asyncio.to_thread(book.close)
    return book.row_count
