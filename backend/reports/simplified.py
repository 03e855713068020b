"""The simplified van registration (vereenvoudigde registratie bestelauto; docs/reports.md,
"Regimes"): for the days a van ran under the regime van_simplified, per day the date, the working
hours, the start and end odometer and a reference to the business addresses the employer holds;
each private trip in full.

It is a view of the full tax report (backend.reports.build, read through the door and audited),
so its odometers and private trips are the same figures as every other report. The working hours
are the van's setting in its regime row (backend.fleet.regimes). The business address reference
is the employer's own register: the named places (org_places) the day's business trips arrived at,
else the address the report shows.
"""
from __future__ import annotations

import csv as _csv
import io
from dataclasses import dataclass
from decimal import Decimal
from datetime import date
from typing import BinaryIO
from xml.sax.saxutils import XMLGenerator

from backend import audit
from backend.access.purposes import TAX
from backend.reports import model as m
from backend.reports import texts as t
from backend.reports.build import ReportError, build_report

FORMATS = ("csv", "xlsx", "xml", "pdf")
NAMESPACE = "urn:ritbox:simplified:1"


@dataclass(frozen=True)
class Day:
    day: date
    working_hours: str  # "07:30-16:30"; "" when neither the driver nor the van's setting gave them
    odometer_start: Decimal
    odometer_end: Decimal
    business_addresses: str  # the reference to the employer's business addresses
    confirmed: bool = False  # the driver confirmed the day (backend.fleet.regimes.confirm_van_day)


@dataclass(frozen=True)
class SimplifiedReport:
    kenteken: str
    make: str
    model: str
    year: int
    days: list[Day]
    private_trips: list[m.Row]
    generated_by: str


def build(actor, *, vehicle_id: int, year: int) -> SimplifiedReport:
    from backend.fleet.regimes import RegimeBook
    from backend.models.regimes import VAN_SIMPLIFIED

    report = build_report(actor, year=year, vehicle_id=vehicle_id)
    book = RegimeBook()
    (car,) = report.cars
    hours = _working_hours(vehicle_id)
    by_day: dict[date, list[m.Row]] = {}
    private: list[m.Row] = []
    for row in report.rows:
        if row.kind != m.TRIP or book.on(vehicle_id, row.day)[1] != VAN_SIMPLIFIED:
            continue
        by_day.setdefault(row.day, []).append(row)
        if row.character == m.PRIVATE:
            private.append(row)
    if not by_day:
        raise ReportError(f"{car.kenteken} ran under no simplified registration in {year}")
    from backend.fleet.regimes import van_days

    confirmed = van_days(vehicle_id, date(year, 1, 1), date(year, 12, 31))
    days = []
    for day in sorted(by_day):
        rows = by_day[day]
        places = dict.fromkeys(row.arrival.text for row in rows
                               if row.character != m.PRIVATE and row.arrival is not None)
        own = confirmed.get(day)
        days.append(Day(day, (own.working_hours if own else None) or _hours_on(hours, day),
                        rows[0].odometer_start, rows[-1].odometer_end, "; ".join(places), own is not None))
    return SimplifiedReport(car.kenteken, car.make, car.model, year, days, private, report.generated_by)


def _working_hours(vehicle_id: int) -> list[tuple[date, str]]:
    from backend.fleet.regimes import regime_history
    return [(row.valid_from, row.working_hours or "") for row in regime_history(vehicle_id)]


def _hours_on(history: list[tuple[date, str]], day: date) -> str:
    hours = ""
    for valid_from, value in history:
        if valid_from <= day:
            hours = value
    return hours


def export(actor, out: BinaryIO, *, fmt: str, vehicle_id: int, year: int) -> SimplifiedReport:
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    report = build(actor, vehicle_id=vehicle_id, year=year)
    {"csv": render_csv, "xlsx": render_xlsx, "xml": render_xml, "pdf": render_pdf}[fmt](report, out)
    audit.record(audit.FINANCE_EXPORT, actor=actor, subject_vehicle_id=vehicle_id, purpose=TAX,
                 details={"format": fmt, "year": year, "registration": "simplified", "days": len(report.days)})
    return report


def _km(value: Decimal | None) -> str:
    return "" if value is None else t.decimal_nl(value)


def _private_cells(row: m.Row) -> list[str]:
    return [str(row.trip_number or ""), row.day.strftime("%d-%m-%Y"),
            row.started_at.strftime("%H:%M") if row.started_at else "",
            row.ended_at.strftime("%H:%M") if row.ended_at else "",
            _km(row.odometer_start), _km(row.odometer_end), _km(row.odometer_end - row.odometer_start),
            row.departure.text if row.departure else "", row.arrival.text if row.arrival else ""]


DAY_HEADER = ["Datum", "Werktijden", "Beginstand km", "Eindstand km", "Zakelijke adressen (adresadministratie)",
              "Bevestigd door bestuurder"]
PRIVATE_HEADER = ["Ritnummer", "Datum", "Vertrek", "Aankomst", "Beginstand km", "Eindstand km", "Km",
                  "Vertrekadres", "Aankomstadres"]


def _title(report: SimplifiedReport) -> str:
    return (f"Vereenvoudigde registratie bestelauto {report.kenteken} ({report.make} {report.model}) "
            f"{report.year}")


def render_csv(report: SimplifiedReport, out: BinaryIO) -> None:
    text = io.StringIO()
    writer = _csv.writer(text, delimiter=";")
    writer.writerow([_title(report)])
    writer.writerow(DAY_HEADER)
    for d in report.days:
        writer.writerow([d.day.strftime("%d-%m-%Y"), d.working_hours, _km(d.odometer_start), _km(d.odometer_end),
                         d.business_addresses, "ja" if d.confirmed else "nee"])
    writer.writerow([])
    writer.writerow(["Privéritten"])
    writer.writerow(PRIVATE_HEADER)
    for row in report.private_trips:
        writer.writerow(_private_cells(row))
    out.write(("\ufeff" + text.getvalue()).encode("utf-8"))


def render_xlsx(report: SimplifiedReport, out: BinaryIO) -> None:
    """Two sheets: the days and the private trips; km as numbers, dates as dates."""
    from openpyxl import Workbook

    wb = Workbook()
    days = wb.active
    days.title = "Dagen"
    days.append([_title(report)])
    days.append(DAY_HEADER)
    for d in report.days:
        days.append([d.day, d.working_hours, float(d.odometer_start), float(d.odometer_end), d.business_addresses,
                     "ja" if d.confirmed else "nee"])
    private = wb.create_sheet("Privéritten")
    private.append(PRIVATE_HEADER)
    for row in report.private_trips:
        private.append([row.trip_number, row.day, row.started_at.strftime("%H:%M") if row.started_at else "",
                        row.ended_at.strftime("%H:%M") if row.ended_at else "", float(row.odometer_start),
                        float(row.odometer_end), float(row.odometer_end - row.odometer_start),
                        row.departure.text if row.departure else "", row.arrival.text if row.arrival else ""])
    wb.save(out)


def render_xml(report: SimplifiedReport, out: BinaryIO) -> None:
    g = XMLGenerator(out, encoding="utf-8", short_empty_elements=True)

    def leaf(name: str, value: object) -> None:
        g.startElement(name, {})
        g.characters(f"{value:.1f}" if isinstance(value, Decimal) else
                     value.isoformat() if isinstance(value, date) else str(value))
        g.endElement(name)

    g.startDocument()
    g.startElement("simplifiedVanRegistration", {"xmlns": NAMESPACE})
    g.startElement("vehicle", {})
    leaf("kenteken", report.kenteken)
    leaf("make", report.make)
    leaf("model", report.model)
    g.endElement("vehicle")
    leaf("year", report.year)
    g.startElement("days", {})
    for d in report.days:
        g.startElement("day", {})
        leaf("date", d.day)
        leaf("workingHours", d.working_hours)
        leaf("odometerStart", d.odometer_start)
        leaf("odometerEnd", d.odometer_end)
        leaf("businessAddresses", d.business_addresses)
        leaf("confirmedByDriver", "true" if d.confirmed else "false")
        g.endElement("day")
    g.endElement("days")
    g.startElement("privateTrips", {})
    for row in report.private_trips:
        g.startElement("trip", {})
        leaf("tripNumber", row.trip_number or 0)
        leaf("date", row.day)
        leaf("start", row.started_at.isoformat() if row.started_at else "")
        leaf("end", row.ended_at.isoformat() if row.ended_at else "")
        leaf("odometerStart", row.odometer_start)
        leaf("odometerEnd", row.odometer_end)
        leaf("departure", row.departure.text if row.departure else "")
        leaf("arrival", row.arrival.text if row.arrival else "")
        g.endElement("trip")
    g.endElement("privateTrips")
    g.endElement("simplifiedVanRegistration")
    g.endDocument()


def render_pdf(report: SimplifiedReport, out: BinaryIO) -> None:
    from fpdf import FPDF

    from backend.reports.pdf import latin1

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, latin1(_title(report)), new_x="LMARGIN", new_y="NEXT")
    for header, widths, rows in (
            (DAY_HEADER, (25, 25, 25, 25, 135, 35),
             [[d.day.strftime("%d-%m-%Y"), d.working_hours, _km(d.odometer_start), _km(d.odometer_end),
               d.business_addresses, "ja" if d.confirmed else "nee"] for d in report.days]),
            (PRIVATE_HEADER, (18, 22, 18, 18, 26, 26, 16, 66, 66), [_private_cells(r) for r in report.private_trips])):
        if header is PRIVATE_HEADER:
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", 10)
            pdf.cell(0, 6, latin1("Privéritten"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 7)
        for label, width in zip(header, widths):
            pdf.cell(width, 5, latin1(label), border=1)
        pdf.ln()
        pdf.set_font("Helvetica", "", 7)
        for cells in rows:
            for value, width in zip(cells, widths):
                pdf.cell(width, 4.6, latin1(value)[: int(width * 0.6)], border=1)
            pdf.ln()
    out.write(bytes(pdf.output()))
