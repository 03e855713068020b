"""CSV: UTF-8 (with BOM, so Excel in Dutch opens it right), `;` separated, Dutch decimals.

The first line is the header; one line per row; after an empty line the totals, the 500 km
verdicts, the corrections and notes follow as labelled sections."""
from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import BinaryIO

from backend.reports import model as m
from backend.reports import texts as t

CONTENT_TYPE = "text/csv; charset=utf-8"
EXTENSION = "csv"


def _cell(value: object) -> str:
    kind = type(value)
    if kind is str:
        return t.safe_text(value) if value else value
    if value is None:
        return ""
    if kind is Decimal:
        return f"{value:.1f}".replace(".", ",")
    if kind is int:
        return str(value)
    return t.safe_text(str(value))


def render(report: m.Report, out: BinaryIO) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=False)
    try:
        writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
        writer.writerow(t.COLUMNS)
        for row in report.rows:
            writer.writerow([_cell(v) for v in t.row_values(row)])
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
        text.flush()
        text.detach()  # leave `out` open for the caller
