"""CSV: UTF-8 (with BOM, so Excel in Dutch opens it right), `;` separated, Dutch decimals.

The first line is the header; one line per row; after an empty line the totals, the 500 km
verdicts, the corrections and notes follow as labelled sections."""
from __future__ import annotations

import codecs
import csv
from decimal import Decimal
from typing import BinaryIO

from backend.numbers import km_nl
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
        return km_nl(value)
    if kind is int:
        return str(value)
    return t.safe_text(str(value))


_km = km_nl  # the one rounding and format of every figure (backend/numbers.py)


_CLOCK = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]


def _lines(rows: list[m.Row]):
    """The row lines as strings, the same cells as t.row_values() through _cell() but without
    the per-cell type dispatch: a year of a busy car is tens of thousands of cells. Texts that
    people wrote (names, addresses, notes, reasons) are neutralised; fixed labels need not be."""
    kinds, characters, safe, trip, chain_gap = t.KIND, t.CHARACTER, t.safe_text, m.TRIP, (m.CHAIN_GAP, m.DEVICE_EVENT)
    days: dict = {}
    places: dict[int, tuple[str, ...]] = {}  # id(address) -> its neutralised cells: reports share Address objects
    withheld, nothing = (t.WITHHELD_BY_DRIVER, "", "", "", ""), ("",) * 5

    def place(address: m.Address | None, withheld_by_driver: bool) -> tuple[str, ...]:
        if address is None:
            return withheld if withheld_by_driver else nothing
        cells = places.get(id(address))
        if cells is None:
            cells = places[id(address)] = tuple(safe(text) for text in (t.address_text(address),
                                                                        *t.address_fields(address)))
        return cells

    for row in rows:
        kind = row.kind
        day = days.get(row.day)
        if day is None:
            day = days[row.day] = t.day_nl(row.day)
        started, ended, departure, arrival = row.started_at, row.ended_at, row.departure, row.arrival
        is_trip = kind == trip
        yield (kinds[kind], safe(row.kenteken), "" if row.trip_number is None else str(row.trip_number), day,
               _CLOCK[started.hour * 60 + started.minute] if started else "",
               _CLOCK[ended.hour * 60 + ended.minute] if ended else "",
               safe(row.driver_name), _km(row.odometer_start), _km(row.odometer_end),
               "" if kind in chain_gap else _km(row.distance),
               *place(departure, row.addresses_withheld_by_driver),
               *place(arrival, row.addresses_withheld_by_driver),
               characters[row.character], ("ja" if row.classified else "nee") if is_trip else "",
               safe(row.route_deviation), safe(row.deviation_reason),
               _km(row.private_detour) if is_trip else "", _km(row.original_distance), safe(row.note),
               safe(", ".join(t.flag_texts(row.flags))) if row.flags else "")


class _Sink:
    """The csv writer's file: lines collected and handed to `out` encoded in chunks of
    CHUNK_LINES (a TextIOWrapper encodes, and resets its encoder, once per line)."""

    CHUNK_LINES = 1000

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.parts = out, []
        out.write(codecs.BOM_UTF8)  # so Excel in Dutch reads UTF-8

    def write(self, text: str) -> None:
        self.parts.append(text)
        if len(self.parts) >= self.CHUNK_LINES:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.out.write("".join(self.parts).encode("utf-8"))
            self.parts = []


def render(report: m.Report, out: BinaryIO) -> None:
    text = _Sink(out)
    try:
        writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
        writer.writerow(t.COLUMNS)
        writer.writerows(_lines(report.rows))
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
