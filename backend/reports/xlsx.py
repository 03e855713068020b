"""XLSX with openpyxl (write-only mode: rows stream to the file, memory stays flat): the trips
sheet with a bold, frozen header, real Excel values (dates dd-mm-jjjj, times uu:mm, km as numbers
formatted 0.0 - format codes are stored locale-free, a Dutch Excel shows "12,5"), totals under
the rows; an
overview sheet (car, availability, totals, 500 km verdicts, notes) and a corrections sheet.
Text cells are neutralised against formula injection (openpyxl would store "=..." as a formula)."""
from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill

from backend.reports import model as m
from backend.reports import texts as t

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXTENSION = "xlsx"

BOLD = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
WIDTHS = {"Soort": 20, "Kenteken": 10, "Ritnummer": 9, "Datum": 11, "Vertrek": 7, "Aankomst": 8,
          "Bestuurder": 18, "Vertrekadres": 24, "Aankomstadres": 24, "Opmerking": 30, "Kenmerken": 18,
          "Vertrek straat": 18, "Aankomst straat": 18, "Vertrek huisnummer": 8, "Aankomst huisnummer": 8,
          "Vertrek postcode": 9, "Aankomst postcode": 9}


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter
    return get_column_letter(index)


def _plain(ws, value: object):
    """A row value: plain (cheap) unless it is a km figure that needs its number format."""
    kind = type(value)
    if kind is str:
        return t.safe_text(value) if value else None
    if kind is Decimal:
        cell = WriteOnlyCell(ws, value=float(value))
        cell.number_format = "0.0"
        return cell
    return value


def _cell(ws, value: object, *, bold: bool = False, number: bool = False):
    if isinstance(value, Decimal):
        value = float(value)
        number = True
    elif isinstance(value, str):
        value = t.safe_text(value)
    cell = WriteOnlyCell(ws, value=value)
    if number:
        cell.number_format = "0.0"
    if bold:
        cell.font = BOLD
    return cell


DATE_FORMAT, TIME_FORMAT, MOMENT_FORMAT = "dd-mm-yyyy", "hh:mm", "dd-mm-yyyy hh:mm"
DAY_COLUMN, START_COLUMN, END_COLUMN = (t.COLUMNS.index(name) for name in ("Datum", "Vertrek", "Aankomst"))


def _formatted(ws, value, number_format: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=value)
    cell.number_format = number_format
    return cell


def _row_cells(ws, row: m.Row) -> list:
    """t.row_values() with the day and the clock times as Excel date and time values (local
    time, no zone: Excel has none)."""
    values = [_plain(ws, value) for value in t.row_values(row)]
    values[DAY_COLUMN] = _formatted(ws, row.day, DATE_FORMAT)
    for column, moment in ((START_COLUMN, row.started_at), (END_COLUMN, row.ended_at)):
        values[column] = _formatted(ws, time(moment.hour, moment.minute), TIME_FORMAT) if moment else None
    return values


def render(report: m.Report, out: BinaryIO) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Ritten")
    ws.freeze_panes = "A2"
    for index, name in enumerate(t.COLUMNS, 1):
        ws.column_dimensions[_letter(index)].width = WIDTHS.get(name, 13)
    header = []
    for name in t.COLUMNS:
        cell = WriteOnlyCell(ws, value=name)
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        header.append(cell)
    ws.append(header)
    for row in report.rows:
        ws.append(_row_cells(ws, row))
    ws.append([])
    distance_column = t.COLUMNS.index("Afstand km")
    for label, value in t.totals_lines(report.totals):
        line = [None] * len(t.COLUMNS)
        line[0] = _cell(ws, label, bold=True)
        line[distance_column] = _cell(ws, value, bold=True)
        ws.append(line)

    overview = wb.create_sheet("Overzicht")
    overview.column_dimensions["A"].width = 24
    overview.column_dimensions["B"].width = 90
    overview.append([_cell(overview, t.title(report), bold=True)])
    overview.append([_cell(overview, "Periode"), _cell(overview, f"{t.day_nl(report.period[0])} t/m "
                                                                 f"{t.day_nl(report.period[1])}")])
    overview.append([_cell(overview, "Weergave"), _cell(overview, t.VIEW[report.view])])
    for line in t.car_lines(report):
        overview.append([_cell(overview, "Auto"), _cell(overview, line)])
    for label, value in t.totals_lines(report.totals):
        overview.append([_cell(overview, label), _cell(overview, value)])
    overview.append([_cell(overview, "Aantal ritten"), _cell(overview, report.totals.trips)])
    overview.append([_cell(overview, "Niet bevestigd"), _cell(overview, report.totals.unclassified)])
    for verdict in report.verdicts:
        overview.append([_cell(overview, "500 km-toets"), _cell(overview, t.verdict_line(verdict))])
    for note in report.notes:
        overview.append([_cell(overview, "Toelichting"), _cell(overview, t.NOTES.get(note, note))])
    overview.append([_cell(overview, "Gemaakt"), _cell(overview, f"{t.moment_nl(report.generated_at)} door "
                                                                 f"{report.generated_by}")])

    corrections = wb.create_sheet("Correcties")
    corrections.freeze_panes = "A2"
    corrections.append([_cell(corrections, name, bold=True) for name in t.CORRECTION_COLUMNS])
    moment_column = t.CORRECTION_COLUMNS.index("Tijdstip")
    for correction in report.corrections:
        values = [_cell(corrections, value) for value in t.correction_values(correction)]
        values[moment_column] = _formatted(corrections, correction.at.replace(tzinfo=None, second=0, microsecond=0),
                                           MOMENT_FORMAT)
        corrections.append(values)
    if not report.corrections:
        corrections.append([_cell(corrections, "Geen correcties.")])
    wb.save(out)
