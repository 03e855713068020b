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
    summed = sum(Decimal(t["Afstand km"].replace(",", ".")) for t in trips if t["Karakter"] == "zakelijk")
    assert totals["Totaal zakelijk km"] == f"{summed:.1f}".replace(".", ",")
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
