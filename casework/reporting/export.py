"""Search results as spreadsheets: CSV and XLSX, written a batch of rows at a time.

CSV (RFC 4180, UTF-8 with a byte-order mark so Excel reads accents): the csv module quotes commas,
quotes and line breaks. Text that a spreadsheet would run as a formula (starting with = + - @, a
tab or a carriage return) is written with a leading apostrophe, and so is text that already starts
with one; `read_csv_text` removes it again, so every value round-trips exactly.

XLSX: streamed row by row into the workbook's zip (see XlsxCases), so 100k rows need no more
memory than 1k. Text cells are always strings (never formulas), dates real dates, with a bold
header row, an autofilter over the data and the header frozen. The file is sent once written.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import tempfile
import zipfile
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casework.reporting.search import Column, stream_batches

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


def headings(columns: Sequence[Column], field_names: bool) -> list[str]:
    """A header row: the columns' titles for people ("Date received"), or the API's field names for
    machines (`date_received`, as in the search's JSON)."""
    return [c.key if field_names else c.title for c in columns]


class CsvEncoder:
    """Turns rows into UTF-8 CSV bytes, one chunk per call."""

    def __init__(self, columns: Sequence[Column], *, field_names: bool = False) -> None:
        self._keys = [c.key for c in columns]
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._titles = headings(columns, field_names)

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
    """A one-sheet workbook at `path`, streamed row by row into its zip: constant memory.

    The parts are the minimum SpreadsheetML that Excel, LibreOffice and openpyxl open: a styles
    part (bold header, yyyy-mm-dd dates), the sheet with a frozen header row and an autofilter,
    and the workbook naming the filter range. Text cells are inline strings, so nothing a
    complainant typed is ever a formula, link or number. Writing the XML ourselves is several
    times faster than a general-purpose library, which spends most of its time per cell.
    """

    def __init__(self, path: Path, columns: Sequence[Column], *, sheet_name: str = "Cases",
                 field_names: bool = False) -> None:
        self._columns = list(columns)
        self._sheet_name = sheet_name
        self._letters = [_column_letter(i) for i in range(len(self._columns))]
        self._kinds = [c.kind for c in self._columns]
        self._keys = [c.key for c in self._columns]
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        for name, content in _STATIC_PARTS.items():
            self._zip.writestr(name, content)
        self._zip.writestr("xl/styles.xml", _STYLES)
        self._sheet = self._zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        widths = "".join(
            f'<col min="{i + 1}" max="{i + 1}" width="{_WIDE.get(c.key, _COLUMN_WIDTHS[c.kind])}" customWidth="1"/>'
            for i, c in enumerate(self._columns))
        header = "".join(f'<c r="{letter}1" t="inlineStr" s="1"><is><t>{_xml(title)}</t></is></c>'
                         for letter, title in zip(self._letters, headings(self._columns, field_names), strict=True))
        self._sheet.write((
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
            'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" activeCell="A2" '
            'sqref="A2"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
            f'<cols>{widths}</cols><sheetData><row r="1">{header}</row>').encode())
        self._row = 1

    @property
    def row_count(self) -> int:
        return self._row - 1

    def write_rows(self, rows: Iterable[Any]) -> None:
        parts: list[str] = []
        append = parts.append
        cells = list(zip(self._letters, self._kinds, self._keys, strict=True))
        for row in rows:
            mapping = row._mapping if hasattr(row, "_mapping") else row
            self._row += 1
            r = self._row
            append(f'<row r="{r}">')
            for letter, kind, key in cells:
                value = mapping[key]
                if value is None:
                    continue
                if kind == "date":
                    append(f'<c r="{letter}{r}" s="2"><v>{_serial(value)}</v></c>')
                elif kind == "bool":
                    append(f'<c r="{letter}{r}" t="b"><v>{1 if value else 0}</v></c>')
                else:
                    append(f'<c r="{letter}{r}" t="inlineStr"><is><t xml:space="preserve">'
                           f'{_xml(str(value))}</t></is></c>')
            append("</row>")
        self._sheet.write("".join(parts).encode())

    def close(self) -> None:
        last = f"{self._letters[-1]}{max(self._row, 1)}"
        self._sheet.write(f'</sheetData><autoFilter ref="A1:{last}"/></worksheet>'.encode())
        self._sheet.close()
        absolute = f"${self._letters[-1]}${max(self._row, 1)}"
        self._zip.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><bookViews><workbookView/></bookViews>'
            f'<sheets><sheet name="{_xml(self._sheet_name)}" sheetId="1" r:id="rId1"/></sheets>'
            '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
            f"'{_xml(self._sheet_name)}'!$A$1:{absolute}</definedName></definedNames></workbook>"))
        self._zip.close()


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_STATIC_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
        f'Type="{_OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{_PKG_REL_NS}">'
        f'<Relationship Id="rId1" Type="{_OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_OFFICE}/styles" Target="styles.xml"/></Relationships>'),
}
# Cell styles: 0 default, 1 header (bold, bottom border), 2 date (yyyy-mm-dd).
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{_MAIN_NS}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left/><right/><top/><bottom style="thin"><color auto="1"/></bottom><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="1" xfId="0" applyFont="1" applyBorder="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>")
_EPOCH = date(1899, 12, 30)
# Characters XML 1.0 cannot hold at all (control characters other than tab, newline, return).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _serial(value: date | datetime) -> int | float:
    if isinstance(value, datetime):
        # Excel serials count wall-clock days and have no zone.
        days = value.replace(tzinfo=None) - datetime(1899, 12, 30)  # noqa: DTZ001
        return days.days + days.seconds / 86400
    return (value - _EPOCH).days


def _xml(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _ILLEGAL_XML.sub("", text) if _ILLEGAL_XML.search(text) else text


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


async def write_xlsx(path: Path, columns: Sequence[Column],
                     batches: AsyncIterator[Iterable[Any]], *, field_names: bool = False) -> int:
    """Write batches of rows to a workbook at `path`, off the event loop. Returns the row count."""
    book = await asyncio.to_thread(XlsxCases, path, columns, field_names=field_names)
    async for batch in batches:
        await asyncio.to_thread(book.write_rows, batch)
    await asyncio.to_thread(book.close)
    return book.row_count


# Rows fetched from the server-side cursor at a time while exporting.
EXPORT_BATCH = 1000


async def csv_stream(sessionmaker: async_sessionmaker[AsyncSession], stmt: Select, columns: Sequence[Column], *,
                     field_names: bool = False) -> AsyncIterator[bytes]:
    """A statement's rows as CSV bytes, a batch at a time, read in a session of its own (the
    request's has closed by the time a streamed answer is written)."""
    encoder = CsvEncoder(columns, field_names=field_names)
    yield encoder.header()
    async with sessionmaker() as session:
        async for batch in stream_batches(session, stmt, EXPORT_BATCH):
            yield encoder.rows(batch)


async def xlsx_stream(sessionmaker: async_sessionmaker[AsyncSession], stmt: Select, columns: Sequence[Column], *,
                      field_names: bool = False) -> AsyncIterator[bytes]:
    """A statement's rows as a workbook: written to a temporary file in constant memory, then sent."""
    with tempfile.TemporaryDirectory(prefix="casework-export-") as directory:
        path = Path(directory) / "export.xlsx"
        async with sessionmaker() as session:
            await write_xlsx(path, columns, stream_batches(session, stmt, EXPORT_BATCH), field_names=field_names)
        with path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, 1 << 16):
                yield chunk
