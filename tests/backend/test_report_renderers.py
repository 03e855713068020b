"""Renderers: CSV, XLSX, PDF and XML from reports built over trips ingested for real (both
databases). Private addresses are checked absent from the bytes of every employer-format file."""
from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from backend.db import db
from backend.models.accounts import User
from backend.reports import model as m
from backend.reports.build import build_report
from tests.backend import report_fixtures as rf

XSD = Path(__file__).resolve().parents[2] / "backend" / "reports" / "ritbox-report.xsd"


@pytest.fixture
def fleet(app, client, make_user, tmp_path):
    return rf.fleet(app, client, make_user, tmp_path)


def _render(app, user_id: int, fmt: str, **kwargs) -> tuple[bytes, m.Report]:
    from backend.reports.export import export
    out = io.BytesIO()
    with app.app_context():
        report = export(db.session.get(User, user_id), out, fmt=fmt, **kwargs)
    return out.getvalue(), report


def _vehicle_id(app) -> int:
    from backend.fleet import service
    with app.app_context():
        return service.find_vehicle(rf.KENTEKEN).id


def _assert_no_private_address(data: bytes) -> None:
    for marker in rf.PRIVATE_MARKERS:
        assert marker.encode() not in data, marker


# ------------------------------------------------------------------------------------------ CSV

def test_csv_is_utf8_semicolon_separated_with_dutch_decimals_and_totals(app, fleet):
    data, report = _render(app, fleet.finance, "csv", year=fleet.year, vehicle_id=_vehicle_id(app))
    assert data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    header = lines[0]
    assert header[:4] == ["Soort", "Kenteken", "Ritnummer", "Datum"]
    body = lines[1:1 + len(report.rows)]
    trips = [dict(zip(header, line)) for line in body if line[0] == "rit"]
    assert len(trips) == report.totals.trips
    assert {t["Afstand km"] for t in trips} >= {"12,5", "30,3", "7,4"}  # 30.25 rounds half up
    assert all("." not in t["Afstand km"] for t in trips)
    assert any(line[0] == "kilometerstandverschil" and line[9] == "3,2" for line in body)
    assert any(line[0] == "ketenonderbreking" for line in body)
    totals = {line[0]: line[1] for line in lines if line and line[0].startswith("Totaal")}
    summed = sum(Decimal(t["Afstand km"].replace(",", ".")) for t in trips if t["Karakter"] == "zakelijk"
                 and t["Bevestigd"] == "ja")
    assert totals["Totaal zakelijk km"] == f"{summed:.1f}".replace(".", ",")
    open_km = sum(Decimal(t["Afstand km"].replace(",", ".")) for t in trips if t["Bevestigd"] == "nee")
    assert totals["Totaal niet ingedeeld km"] == f"{open_km:.1f}".replace(".", ",") != "0,0"
    assert Decimal(totals["Totaal privé km"].replace(",", ".")) == sum(
        Decimal(t["Afstand km"].replace(",", ".")) for t in trips if t["Karakter"] == "privé")
    private = [t for t in trips if t["Karakter"] == "privé"]
    assert private and all(t["Vertrekadres"] == "" and t["Aankomstadres"] == "" for t in private)
    _assert_no_private_address(data)


def test_csv_neutralises_formula_cells():
    from backend.reports import csv as render_csv
    from datetime import date, datetime, timezone
    row = m.Row(kind=m.TRIP, kenteken="GB-XJ-12", day=date(2025, 1, 2), trip_number=1, driver_name="=HYPERLINK(1)",
                character=m.BUSINESS, note="@SUM(A1)", distance=Decimal("-1.0"))
    report = m.Report(subject=m.BY_VEHICLE, view=m.EMPLOYER, year=2025, title="+31", cars=[], rows=[row],
                      corrections=[], totals=m.Totals(Decimal(0), Decimal(0), Decimal(0), 1, 0, 0, Decimal(0)),
                      verdicts=[], generated_at=datetime.now(timezone.utc), generated_by="-x")
    out = io.BytesIO()
    render_csv.render(report, out)
    lines = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig")), delimiter=";"))
    cells = [cell for line in lines for cell in line]
    assert "'=HYPERLINK(1)" in cells and "'@SUM(A1)" in cells and "'-x" in cells
    assert "-1,0" in cells  # numbers stay numbers
    assert not any(cell[:1] in ("=", "@", "+") for cell in cells)


def test_the_drivers_own_csv_holds_their_private_addresses(app, fleet):
    data, _ = _render(app, fleet.driver, "csv", year=fleet.year, driver_id=fleet.driver, view=m.DRIVER)
    assert b"52.24681, 4.93116" in data and b"51.98215, 5.91187" in data


# ------------------------------------------------------------------------------ XLSX, PDF, XML

def _xlsx_bytes(data: bytes) -> bytes:
    """Every member of the XLSX zip, inflated: what a private address would have to hide in."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


def test_xlsx_has_a_frozen_bold_header_numeric_km_and_totals(app, fleet):
    import openpyxl
    data, report = _render(app, fleet.finance, "xlsx", year=fleet.year, vehicle_id=_vehicle_id(app))
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["Ritten", "Overzicht", "Correcties"]
    sheet = workbook["Ritten"]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Soort", "Kenteken", "Ritnummer"] and sheet["A1"].font.bold
    km_col = header.index("Afstand km")
    lines = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    trips = [line for line in lines if line[0] == "rit"]
    assert len(trips) == report.totals.trips
    assert all(isinstance(line[km_col], float) for line in trips)
    assert sheet.cell(row=2, column=km_col + 1).number_format == "0.0"
    character, confirmed = header.index("Karakter"), header.index("Bevestigd")
    totals = {line[0]: line[km_col] for line in lines if line[0] and str(line[0]).startswith("Totaal")}
    assert totals["Totaal privé km"] == pytest.approx(
        sum(line[km_col] for line in trips if line[character] == "privé"))
    assert totals["Totaal zakelijk km"] == pytest.approx(
        sum(line[km_col] for line in trips if line[character] == "zakelijk" and line[confirmed] == "ja"))
    assert totals["Totaal niet ingedeeld km"] == pytest.approx(
        sum(line[km_col] for line in trips if line[confirmed] == "nee")) != 0
    overview = [[c.value for c in row] for row in workbook["Overzicht"].iter_rows()]
    # Unclassified km count against the limit too (issue #13): the outcome is the report's verdict.
    outcome = "binnen de grens" if report.verdicts[0].within_limit else "BOVEN de grens"
    assert any(row[0] == "500 km-toets" and outcome in row[1] and "niet ingedeeld" in row[1] for row in overview)
    _assert_no_private_address(_xlsx_bytes(data))


def test_xlsx_neutralises_a_formula_in_text(app):
    import openpyxl
    from datetime import date, datetime, timezone
    from backend.reports import xlsx
    row = m.Row(kind=m.TRIP, kenteken="GB-XJ-12", day=date(2025, 1, 2), trip_number=1, driver_name="=1+1",
                character=m.BUSINESS, note="+cmd|' /C calc'!A0")
    report = m.Report(subject=m.BY_VEHICLE, view=m.EMPLOYER, year=2025, title="x", cars=[], rows=[row],
                      corrections=[], totals=m.Totals(Decimal(0), Decimal(0), Decimal(0), 1, 0, 0, Decimal(0)),
                      verdicts=[], generated_at=datetime.now(timezone.utc), generated_by="x")
    out = io.BytesIO()
    xlsx.render(report, out)
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue()))["Ritten"]
    values = [c.value for c in sheet[2]]
    assert "'=1+1" in values and "'+cmd|' /C calc'!A0" in values
    assert all(c.data_type != "f" for c in sheet[2])


def test_pdf_is_a4_with_header_page_numbers_totals_and_corrections_section(app, fleet):
    from pypdf import PdfReader
    data, report = _render(app, fleet.finance, "pdf", year=fleet.year, vehicle_id=_vehicle_id(app))
    pdf = PdfReader(io.BytesIO(data))
    box = pdf.pages[0].mediabox
    assert sorted((round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72))) == [210, 297]
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert f"Rittenregistratie {fleet.year} - auto {rf.KENTEKEN}" in text
    assert f"Periode 01-01-{fleet.year} t/m 31-12-{fleet.year}" in text
    assert "Volkswagen Golf" in text and f"Pagina 1 van {len(pdf.pages)}" in text
    assert f"Totaal privé km {report.totals.private:.1f}".replace(".", ",") in text.replace("\n", " ")
    assert "Correcties" in text and "500 km-toets" in text and "kilometerstandverschil" in text
    assert "afgeschermd" in text
    _assert_no_private_address(data)
    for marker in rf.PRIVATE_MARKERS:
        assert marker not in text


def test_the_drivers_own_pdf_shows_their_private_addresses(app, fleet):
    from pypdf import PdfReader
    data, _ = _render(app, fleet.driver, "pdf", year=fleet.year, driver_id=fleet.driver, view=m.DRIVER)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "52.24681, 4.93116" in text and "eigen export" in text


@pytest.mark.parametrize("view", [m.EMPLOYER, m.DRIVER])
def test_xml_validates_against_the_published_xsd(app, fleet, view):
    from lxml import etree
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    actor = fleet.finance if view == m.EMPLOYER else fleet.driver
    data, report = _render(app, actor, "xml", year=fleet.year, driver_id=fleet.driver, view=view)
    document = etree.fromstring(data)
    assert schema.validate(document), schema.error_log
    ns = {"r": "urn:ritbox:report:1"}
    trips = document.findall("r:entries/r:trip", ns)
    assert len(trips) == report.totals.trips
    assert sum(Decimal(t.findtext("r:distance", namespaces=ns)) for t in trips
               if t.findtext("r:character", namespaces=ns) == "private") == Decimal(
        document.findtext("r:totals/r:privateKm", namespaces=ns))
    private = [t for t in trips if t.findtext("r:character", namespaces=ns) == "private"]
    if view == m.EMPLOYER:
        assert all(t.get("addressesWithheld") == "true" and t.find("r:departure", ns) is None for t in private)
        _assert_no_private_address(data)
    else:
        assert all("52.24681, 4.93116" in t.findtext("r:departure/r:text", namespaces=ns) for t in private)


def test_the_schema_refuses_a_report_that_breaks_it(app, fleet):
    from lxml import etree
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    data, _ = _render(app, fleet.finance, "xml", year=fleet.year, vehicle_id=_vehicle_id(app))
    broken = data.replace(b"<character>private</character>", b"<character>holiday</character>", 1)
    assert broken != data and not schema.validate(etree.fromstring(broken))
    broken = data.replace(b"<distance>12.5</distance>", b"<distance>12,5</distance>", 1)
    assert broken != data and not schema.validate(etree.fromstring(broken))


def test_every_export_is_audited_with_its_format(app, fleet):
    from sqlalchemy import select
    from backend.models.audit import AuditEvent
    for fmt in ("csv", "xml"):
        _render(app, fleet.finance, fmt, year=fleet.year, vehicle_id=_vehicle_id(app))
    with app.app_context():
        exports = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "finance_export")).all()
    assert [e.details.count(f'"{fmt}"') for e, fmt in zip(exports, ("csv", "xml"))] == [1, 1]
    assert all(e.actor_id == fleet.finance and e.subject_vehicle_id == _vehicle_id(app) for e in exports)


def test_a_trip_no_car_could_make_reads_in_dutch_with_a_note(app, client, make_user, tmp_path):
    """Issue 15: the device flags motion beyond a road vehicle (an aircraft); the report says so
    in Dutch on the trip and in a note, and the trip is not counted as confirmed business."""
    from datetime import date

    plan = [rf.Planned(date(2025, 3, 3), 12.5), rf.Planned(date(2025, 3, 4), 13.9, flags=("implausible_motion",))]
    fleet = rf.fleet(app, client, make_user, tmp_path, plan=plan)
    data, report = _render(app, fleet.finance, "csv", year=fleet.year, vehicle_id=_vehicle_id(app))
    text = data.decode("utf-8-sig")
    assert "implausible_motion" not in text
    lines = list(csv.reader(io.StringIO(text), delimiter=";"))
    header = lines[0]
    trips = [dict(zip(header, line)) for line in lines[1:] if line and line[0] == "rit"]
    (flown,) = [t for t in trips if t["Afstand km"] == "13,9"]
    assert flown["Kenmerken"] == "beweging niet mogelijk voor een auto: controleren"
    assert flown["Bevestigd"] == "nee"
    assert any(line[:1] == ["Toelichting"] and "beweging niet mogelijk voor een auto" in line[1] for line in lines)


def test_every_format_in_the_table_is_a_renderer_the_pages_and_the_cli_offer(app):
    """A format is its module and its line in export.FORMATS (docs/architecture.md): the table
    names modules that render, and the finance form and `flask report` offer exactly the table."""
    from backend.finance.forms import ReportForm
    from backend.reports import export
    from backend.reports.cli import report_command

    for fmt in export.FORMATS:
        module = export.renderer(fmt)
        assert callable(module.render) and module.EXTENSION == fmt and module.CONTENT_TYPE
    with app.test_request_context():
        assert ReportForm().format.choices == list(export.FORMATS.items())
    (option,) = [p for p in report_command.params if p.name == "fmt"]
    assert list(option.type.choices) == list(export.FORMATS)
