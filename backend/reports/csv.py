"""CSV: UTF-8 (with BOM, so Excel in Dutch opens it right), `;` separated, Dutch decimals.

The first line is the header; one line per row; after an empty line the totals, the 500 km
verdicts, the corrections and notes follow as labelled sections."""
from __future__ import annotations

import codecs
import csv
import io
import itertools
from decimal import Decimal
from typing import BinaryIO

from backend.numbers import km_nl
from backend.reports import model as m
from backend.reports import texts as t

CONTENT_TYPE = "text/csv; charset=utf-8"
EXTENSION = "csv"


def _cell(value: object) -> str:
    """A value of t.row_values() as its CSV text: text neutralised against formulas, km in
    Dutch decimals (backend/numbers.py), None empty."""
    kind = type(value)
    if kind is str:
        return t.safe_text(value) if value else value
    if value is None:
        return ""
    if kind is Decimal:
        return km_nl(value)
    if kind is int:
        return str(value)
    return t.safe_text(str(value))


def _lines(rows: list[m.Row]):
    """The row lines: the cells of t.row_values(), as every format has them, each as _cell
    makes it, with _cell's common cases inline (a year's report has tens of thousands of cells,
    most of them text that needs nothing): one list comprehension a row, no call per cell."""
    formula, decimal, km, cell, row_values = t.FORMULA_MARKS, Decimal, km_nl, _cell, t.row_values
    for row in rows:
        yield [(("'" + value) if value and value[0] in formula else value) if type(value) is str
               else "" if value is None else km(value) if type(value) is decimal else cell(value)
               for value in row_values(row)]


class _Sink:
    """The csv writer's file: an in-memory text buffer, handed to `out` encoded every
    CHUNK_LINES rows (a TextIOWrapper encodes, and resets its encoder, once per line; a Python
    write() per line costs a call per line)."""

    CHUNK_LINES = 1000

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.text = out, io.StringIO()
        out.write(codecs.BOM_UTF8)  # so Excel in Dutch reads UTF-8

    def flush(self) -> None:
        if self.text.tell():
            self.out.write(self.text.getvalue().encode("utf-8"))
            self.text.seek(0)
            self.text.truncate()


def render(report: m.Report, out: BinaryIO) -> None:
    text = _Sink(out)
    try:
        writer = csv.writer(text.text, delimiter=";", lineterminator="\r\n")
        writer.writerow(t.COLUMNS)
        lines = _lines(report.rows)
        while chunk := list(itertools.islice(lines, text.CHUNK_LINES)):
            writer.writerows(chunk)
            text.flush()
        writer.writerow([])
        writer.writerow([t.safe_text(t.title(report))])
        for line in t.car_lines(report):
            writer.writerow(["Auto", t.safe_text(line)])
        for label, value in t.totals_lines(report.totals):
            writer.writerow([label, t.decimal_nl(value)])
        writer.writerow(["Aantal ritten", report.totals.trips])
        for verdict in report.verdicts:
            writer.writerow(["500 km-toets", t.safe_text(t.verdict_line(verdict))])
        if report.corrections:
            writer.writerow([])
            writer.writerow(["Correcties", *t.CORRECTION_COLUMNS])
            for c in report.corrections:
                writer.writerow(["Correctie", *[t.safe_text(v) for v in t.correction_values(c)]])
        for note in report.notes:
            writer.writerow(["Toelichting", t.NOTES.get(note, note)])
        writer.writerow(["Weergave", t.VIEW[report.view]])
        writer.writerow(["Gemaakt", t.moment_nl(report.generated_at), t.safe_text(report.generated_by)])
    finally:
        text.flush()  # `out` stays open for the caller
