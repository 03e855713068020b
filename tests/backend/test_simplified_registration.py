"""The simplified van registration (issue #19): per day date, working hours, start and end
odometer, business address reference; private trips in full. Checked against the plan of the
van, written out here, in CSV, XLSX, XML (against its XSD) and PDF."""
from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from lxml import etree
from pypdf import PdfReader

from backend.db import db
from backend.models.accounts import User
from tests.backend.fleet_helpers import enrolled_device
from tests.conftest import TEST_PASSWORD
from tests.backend.report_fixtures import Planned, upload

XSD = Path(__file__).resolve().parents[2] / "backend" / "reports" / "ritbox-simplified.xsd"
NS = {"s": "urn:ritbox:simplified:1"}
ODOMETER = 20000.0  # report_fixtures.records starts here

# Sanne's van: simplified registration from 1 April (full before), working hours 07:30-16:30.
PLAN = [Planned(date(2025, 3, 20), 15.0),  # before the simplified regime: not in this report
        Planned(date(2025, 4, 1), 70.0), Planned(date(2025, 4, 1), 12.0, hour=13),
        Planned(date(2025, 4, 5), 30.0, mode="private", hour=18),
        Planned(date(2025, 4, 7), 44.0)]
# date, start, end (odometer chain: 20000 + cumulative km)
EXPECTED_DAYS = [("01-04-2025", "20015,0", "20097,0"), ("05-04-2025", "20097,0", "20127,0"),
                 ("07-04-2025", "20127,0", "20171,0")]


def _build(app, client, make_user, tmp_path):
    from backend.fleet import regimes

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "keys.pem")
    make_user("sanne@example.nl", "driver", name="Sanne")
    finance = make_user("fin@example.nl", "finance", name="Fien")
    device = enrolled_device(app, client, kenteken="VC-123-D", driver_email="sanne@example.nl",
                             assigned_from="2025-01-01")
    with app.app_context():
        regimes.set_regime("VC-123-D", "van", "van_full", date(2025, 1, 1))
        regimes.set_regime("VC-123-D", "van", "van_simplified", date(2025, 4, 1), working_hours="07:30-16:30")
    upload(app, client, device, PLAN)
    return finance


def _confirm_as_driver(client, app):
    """Sanne confirms 7 April with her own hours on her van-days page; a day that was not hers is refused."""
    from backend.fleet.service import get_vehicle

    with app.app_context():
        vehicle_id = get_vehicle("VC-123-D").id
    client.post("/login", data={"email": "sanne@example.nl", "password": TEST_PASSWORD})
    page = client.get("/me/van-days?month=2025-04").get_data(as_text=True)
    assert [day for day in ("2025-04-01", "2025-04-05", "2025-04-07") if f'data-day="{day}"' in page] == [
        "2025-04-01", "2025-04-05", "2025-04-07"]
    assert 'data-day="2025-03-20"' not in client.get("/me/van-days?month=2025-03").get_data(as_text=True)
    bad = client.post("/me/van-days", data={"day": "2025-04-07", "vehicle": vehicle_id, "working_hours": "17:00-08:00"})
    assert bad.status_code == 400 and "Werktijden als UU:MM-UU:MM" in bad.get_data(as_text=True)
    wrong_regime = client.post("/me/van-days", data={"day": "2025-03-20", "vehicle": vehicle_id})
    assert wrong_regime.status_code == 400
    done = client.post("/me/van-days", data={"day": "2025-04-07", "vehicle": vehicle_id, "working_hours": "08:00-17:00",
                                             "month": "2025-04"})
    assert done.status_code == 302
    client.post("/logout")


def test_the_simplified_registration_in_csv_xml_and_pdf(app, client, make_user, tmp_path, runner):
    from backend.fleet.service import get_vehicle
    from backend.reports import simplified

    finance = _build(app, client, make_user, tmp_path)
    _confirm_as_driver(client, app)
    outputs = {}
    with app.app_context():
        actor = db.session.get(User, finance)
        vehicle_id = get_vehicle("VC-123-D").id
        for fmt in ("csv", "xlsx", "xml", "pdf"):
            out = io.BytesIO()
            simplified.export(actor, out, fmt=fmt, vehicle_id=vehicle_id, year=2025)
            outputs[fmt] = out.getvalue()
    rows = list(csv.reader(io.StringIO(outputs["csv"].decode("utf-8-sig")), delimiter=";"))
    days = [r for r in rows if r and r[0][:2].isdigit() and len(r) == 6]
    assert [(r[0], r[2], r[3]) for r in days] == EXPECTED_DAYS
    # the driver's own hours for 7 April, the van's setting for the others
    assert [(r[1], r[5]) for r in days] == [("07:30-16:30", "nee"), ("07:30-16:30", "nee"), ("08:00-17:00", "ja")]
    private = rows[rows.index(["Privéritten"]) + 2:]
    assert [(r[1], r[4], r[5], r[6]) for r in private] == [("05-04-2025", "20097,0", "20127,0", "30,0")]

    document = etree.fromstring(outputs["xml"])
    etree.XMLSchema(etree.parse(str(XSD))).assertValid(document)
    assert [d.findtext("s:date", namespaces=NS) for d in document.findall(".//s:day", NS)] == [
        "2025-04-01", "2025-04-05", "2025-04-07"]
    assert len(document.findall(".//s:privateTrips/s:trip", NS)) == 1
    assert [d.findtext("s:confirmedByDriver", namespaces=NS) for d in document.findall(".//s:day", NS)] == [
        "false", "false", "true"]

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(outputs["pdf"])).pages)
    assert "Vereenvoudigde registratie bestelauto VC-123-D" in text and "20171,0" in text

    from openpyxl import load_workbook
    workbook = load_workbook(io.BytesIO(outputs["xlsx"]))
    sheet_days = [r for r in workbook["Dagen"].iter_rows(min_row=3, values_only=True)]
    assert [(r[0].date(), r[2], r[3]) for r in sheet_days] == [
        (date(2025, 4, 1), 20015.0, 20097.0), (date(2025, 4, 5), 20097.0, 20127.0), (date(2025, 4, 7), 20127.0, 20171.0)]
    assert [r[5] for r in sheet_days] == ["nee", "nee", "ja"]
    assert [r[6] for r in workbook["Privéritten"].iter_rows(min_row=2, values_only=True)] == [30.0]

    out = tmp_path / "van.csv"
    result = runner.invoke(args=["report-simplified", "--vehicle", "VC-123-D", "--year", "2025", "--format", "csv",
                                 "--out", str(out), "--as", "fin@example.nl"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == outputs["csv"]
    refused = runner.invoke(args=["report-simplified", "--vehicle", "VC-123-D", "--year", "2024", "--format", "csv",
                                  "--out", str(tmp_path / "none.csv"), "--as", "fin@example.nl"])
    assert refused.exit_code != 0


def test_the_inspector_package_of_a_van_carries_its_simplified_registration(app, client, make_user, tmp_path,
                                                                             runner):
    """Issue 19, item 2: the simplified registration goes into the inspector package too (XML and
    PDF, listed and signed in the manifest), and the package still verifies offline."""
    import subprocess
    import sys
    import zipfile

    _build(app, client, make_user, tmp_path)
    out = tmp_path / "package.zip"
    result = runner.invoke(args=["inspector-package", "--year", "2025", "--vehicle", "VC-123-D", "--out", str(out),
                                 "--as", "fin@example.nl"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        document = etree.fromstring(archive.read("simplified-registration.xml"))
        manifest = archive.read("manifest.json").decode()
    assert {"simplified-registration.xml", "simplified-registration.pdf"} <= names
    assert "simplified-registration.xml" in manifest
    etree.XMLSchema(etree.parse(str(XSD))).assertValid(document)
    days = [d.findtext("s:date", namespaces=NS) for d in document.iterfind(".//s:day", NS)]
    assert len(days) == len(EXPECTED_DAYS), days
    checked = subprocess.run([sys.executable, "-m", "ritbox_verify", str(out)], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr

