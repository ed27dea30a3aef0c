"""Spreadsheet text rules and search cursors, without a database."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from casework.reporting.export import CsvEncoder, csv_text, read_csv_text
from casework.reporting.search import COLUMNS, Cursor, FilterError, Sort, parse_columns

TEXTS = ["plain", "", "=1+2", "+44 20", "-5", "@cmd", "\tx", "\rx", "'", "''", "'=1", "a'b",
         'say "hi", then\nleave', "line\r\nbreak", "=HYPERLINK(\"http://x\")", "½ ünïcödé", " =1"]


@pytest.mark.parametrize("text", TEXTS)
def test_csv_text_round_trips_and_never_starts_like_a_formula(text):
    cell = csv_text(text)
    assert read_csv_text(cell) == text
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_rows_survive_commas_quotes_and_line_breaks():
    columns = [COLUMNS["reference"], COLUMNS["complainant_name"], COLUMNS["date_received"],
               COLUMNS["overdue"]]
    encoder = CsvEncoder(columns)
    rows = [{"reference": "R/1", "complainant_name": text, "date_received": date(2020, 8, 17),
             "overdue": i % 2 == 0} for i, text in enumerate(TEXTS)]
    data = encoder.header() + encoder.rows(rows)
    assert data.startswith("\ufeff".encode())
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert parsed[0] == ["Reference", "Complainant", "Date received", "Overdue"]
    assert [read_csv_text(row[1]) for row in parsed[1:]] == TEXTS
    assert parsed[1][2:] == ["2020-08-17", "TRUE"]


def test_cursor_round_trips_and_refuses_tampering_or_another_sort():
    sort = Sort.parse("-deadline")
    for value in (date(2026, 1, 2), None):
        token = Cursor(sort, value, "COMP/000001/26").encode()
        assert Cursor.decode(token, sort) == Cursor(sort, value, "COMP/000001/26")
    token = Cursor(sort, date(2026, 1, 2), "COMP/000001/26").encode()
    for bad, other_sort in ((token, Sort.parse("deadline")), (token[:-2], sort), ("!!", sort),
                            (Cursor(Sort.parse("-date_received"), None, "X").encode(),
                             Sort.parse("-date_received"))):
        with pytest.raises(FilterError) as refused:
            Cursor.decode(bad, other_sort)
        assert refused.value.field == "cursor"


def test_sort_and_columns_name_what_is_wrong():
    assert Sort.parse(None) == Sort("date_received", True)
    assert str(Sort.parse("complainant_name")) == "complainant_name"
    with pytest.raises(FilterError, match="cannot sort by 'colour'"):
        Sort.parse("-colour")
    assert parse_columns(["reference,team", "team"]) == ["reference", "team"]
    with pytest.raises(FilterError) as refused:
        parse_columns(["reference,colour"])
    assert refused.value.field == "columns" and "colour" in refused.value.message
