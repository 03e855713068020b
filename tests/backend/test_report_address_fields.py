"""Issue 13 item 7: addresses as the Belastingdienst's list asks (street, number, postcode and
place as separate fields in CSV, XLSX and XML, all of it visible in the PDF, never cut), an
incomplete address said so and completed by the driver through a revision, XLSX values that
are real Excel values, and one rounding of every number on screen and in every format.

Trips are ingested for real (report_fixtures) a few days before today, so the driver is still
inside the correction window; both databases."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backend.db import db
from backend.models.accounts import User
from tests.backend import report_fixtures as rf

XSD = Path(__file__).resolve().parents[2] / "backend" / "reports" / "ritbox-report.xsd"
NS = {"r": "urn:ritbox:report:1"}
REASON = "wegwerkzaamheden op de A2 bij Vianen, omgereden via de A27, Lexmond en Hagestein"
OFFICE_LINE = "Kantoor Utrecht (Croeselaan 1, 3521 BJ Utrecht)"


def _days() -> list[date]:
    today = date.today()
    return [max(today - timedelta(days=n), date(today.year, 1, 1)) for n in (3, 2, 1)]


@pytest.fixture
def fleet(app, client, make_user, tmp_path):
    """The office (OFFICE) is a named place with its full address; the customer (CUSTOMER,
    Amsterdam) is known to the offline geocoder only as its town. 30.25 km rounds half up."""
    from backend.models.org_places import OrgPlace
    with app.app_context():
        db.session.add(OrgPlace(name="Kantoor Utrecht", lat=rf.OFFICE[0], lon=rf.OFFICE[1], radius_m=150,
                                street="Croeselaan", number="1", postcode="3521BJ", city="Utrecht"))
        db.session.commit()
    first, second, third = _days()
    plan = [rf.Planned(first, 12.5, hour=8), rf.Planned(second, 30.25, hour=9),
            rf.Planned(third, 7.4, mode="private", hour=10)]
    return rf.fleet(app, client, make_user, tmp_path, year=first.year, plan=plan,
                    assigned_from=f"{first.year}-01-01")


def _trip_ids(app) -> list[int]:
    from sqlalchemy import select
    from backend.models.trips import Trip
    with app.app_context():
        return list(db.session.scalars(select(Trip.id).order_by(Trip.started_at)))


def _finance_revises(app, fleet, trip_id: int, changes: dict) -> None:
    from backend.trips import revisions
    with app.app_context():
        revisions.revise(db.session.get(User, fleet.finance), [trip_id], changes, reason="bon van de bestuurder")


def _render(app, user_id: int, fmt: str, fleet) -> bytes:
    from backend.fleet import service
    from backend.reports.export import export
    out = io.BytesIO()
    with app.app_context():
        vehicle_id = service.find_vehicle(rf.KENTEKEN).id
        export(db.session.get(User, user_id), out, fmt=fmt, year=fleet.year, vehicle_id=vehicle_id)
    return out.getvalue()


def _csv_trips(data: bytes) -> tuple[list[str], list[dict]]:
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    header = lines[0]
    return header, [dict(zip(header, line)) for line in lines[1:] if line and line[0] == "rit"]


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())  # a wrapped cell reads as one line


# ------------------------------------------------------------------- 1. separate fields, no cuts

def test_street_number_postcode_and_place_are_separate_fields_and_the_pdf_cuts_nothing(app, fleet):
    from lxml import etree
    first = _trip_ids(app)[0]
    _finance_revises(app, fleet, first, {"detour": REASON})

    header, trips = _csv_trips(_render(app, fleet.finance, "csv", fleet))
    for side in ("Vertrek", "Aankomst"):
        assert {f"{side} straat", f"{side} huisnummer", f"{side} postcode", f"{side} plaats"} <= set(header)
    trip = next(t for t in trips if t["Ritnummer"] == "1")
    assert (trip["Vertrek straat"], trip["Vertrek huisnummer"], trip["Vertrek postcode"],
            trip["Vertrek plaats"]) == ("Croeselaan", "1", "3521 BJ", "Utrecht")
    assert (trip["Aankomst straat"], trip["Aankomst huisnummer"], trip["Aankomst plaats"]) == ("", "", "Amsterdam")
    assert trip["Reden afwijking"] == REASON

    import openpyxl
    sheet = openpyxl.load_workbook(io.BytesIO(_render(app, fleet.finance, "xlsx", fleet)))["Ritten"]
    names = [c.value for c in sheet[1]]
    rows = [dict(zip(names, (c.value for c in row))) for row in sheet.iter_rows(min_row=2)]
    first_row = next(r for r in rows if r["Soort"] == "rit" and r["Ritnummer"] == 1)
    assert (first_row["Vertrek straat"], first_row["Vertrek huisnummer"], first_row["Vertrek postcode"],
            first_row["Vertrek plaats"]) == ("Croeselaan", "1", "3521 BJ", "Utrecht")

    data = _render(app, fleet.finance, "xml", fleet)
    document = etree.fromstring(data)
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(document), schema.error_log
    departure = document.find("r:entries/r:trip/r:departure", NS)
    assert [departure.findtext(f"r:{name}", namespaces=NS) for name in ("street", "number", "postcode", "place")] \
        == ["Croeselaan", "1", "3521 BJ", "Utrecht"]
    assert document.find("r:entries/r:trip/r:arrival/r:street", NS) is None
    assert document.findtext("r:entries/r:trip/r:arrival/r:place", namespaces=NS) == "Amsterdam"

    text = _pdf_text(_render(app, fleet.finance, "pdf", fleet))
    assert OFFICE_LINE in text
    assert REASON in text
    assert "..." not in text


# ------------------------------------------------------------------ 2. incomplete, and completed

def test_an_address_with_only_a_town_is_reported_incomplete_and_the_driver_completes_it(app, client, login, fleet):
    from sqlalchemy import select
    from backend.models.audit import AuditEvent
    from backend.models.revisions import TripRevision
    header, trips = _csv_trips(_render(app, fleet.finance, "csv", fleet))
    trip = next(t for t in trips if t["Ritnummer"] == "1")
    assert "adres onvolledig" in trip["Aankomstadres"] and "adres onvolledig" not in trip["Vertrekadres"]
    pdf = _pdf_text(_render(app, fleet.finance, "pdf", fleet))
    assert "Amsterdam (52.37022, 4.89517) - adres onvolledig" in pdf
    assert "adres onvolledig: alleen de plaats of de coördinaten bekend, de bestuurder kan" in pdf

    first = _trip_ids(app)[0]
    login(rf.DRIVER_EMAIL)
    page = client.get(f"/me/trips/{first}").get_data(as_text=True)
    assert 'data-testid="complete-end"' in page and 'data-testid="complete-start"' not in page
    refused = client.post(f"/me/trips/{first}/address", data={"side": "end", "street": "Damrak", "number": "1",
                                                               "postcode": "1012", "place": "Amsterdam"})
    assert refused.status_code == 400
    done = client.post(f"/me/trips/{first}/address", data={"side": "end", "street": "Damrak", "number": "1",
                                                            "postcode": "1012lg", "place": "Amsterdam"})
    assert done.status_code == 302, done.get_data(as_text=True)
    with app.app_context():
        revision = db.session.scalars(select(TripRevision).where(TripRevision.trip_id == first)).one()
        assert (revision.field, revision.new_value, revision.author_id) == (
            "end_address", "Damrak 1, 1012 LG Amsterdam", fleet.driver)
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "address_completed")).one()
        assert event.actor_id == fleet.driver and str(first) in event.details

    header, trips = _csv_trips(_render(app, fleet.finance, "csv", fleet))
    trip = next(t for t in trips if t["Ritnummer"] == "1")
    assert (trip["Aankomst straat"], trip["Aankomst huisnummer"], trip["Aankomst postcode"],
            trip["Aankomst plaats"]) == ("Damrak", "1", "1012 LG", "Amsterdam")
    assert "adres onvolledig" not in trip["Aankomstadres"]
    assert "Damrak 1, 1012 LG Amsterdam" in _pdf_text(_render(app, fleet.finance, "pdf", fleet))


# ----------------------------------------------------------------------- 3. real Excel values

def test_xlsx_dates_times_and_numbers_are_excel_values_with_dutch_formats(app, fleet):
    import openpyxl
    workbook = openpyxl.load_workbook(io.BytesIO(_render(app, fleet.finance, "xlsx", fleet)))
    sheet = workbook["Ritten"]
    names = [c.value for c in sheet[1]]
    trips = [dict(zip(names, row)) for row in sheet.iter_rows(min_row=2) if row[0].value == "rit"]
    assert len(trips) == 3
    for trip in trips:
        assert isinstance(trip["Datum"].value, datetime) and trip["Datum"].number_format == "dd-mm-yyyy"
        assert isinstance(trip["Vertrek"].value, time) and trip["Vertrek"].number_format == "hh:mm"
        assert isinstance(trip["Aankomst"].value, time) and trip["Aankomst"].number_format == "hh:mm"
        assert isinstance(trip["Ritnummer"].value, int)
        for name in ("Beginstand km", "Eindstand km", "Afstand km"):
            # a number cell (openpyxl reads 20000.0 back as the int 20000), shown as 0,0
            assert trip[name].data_type == "n" and isinstance(trip[name].value, (int, float)), name
            assert trip[name].number_format == "0.0", name
    assert sorted(t["Datum"].value.date() for t in trips) == _days()
    assert sorted(t["Vertrek"].value for t in trips) == [time(8, 0), time(9, 0), time(10, 0)]
    overview = {row[0].value: row[1] for row in workbook["Overzicht"].iter_rows() if len(row) > 1}
    assert isinstance(overview["Totaal km"].value, float) and overview["Totaal km"].number_format == "0.0"
    assert isinstance(overview["Aantal ritten"].value, int)


# ----------------------------------------------------------------- 4. one rounding everywhere

def _screen_km(html: str, testid: str = "trip-km") -> list[str]:
    return re.findall(rf'data-testid="{testid}">([^<]*)<', html)


def test_screen_and_every_report_agree_to_the_last_decimal(app, client, login, fleet):
    """30.25 km (20012.5 -> 20042.75) rounds half up to 30,3; a private detour of 0,25 km
    counts, and reads, as 0,3."""
    from lxml import etree
    ids = _trip_ids(app)
    _finance_revises(app, fleet, ids[1], {"private_detour_km": "0,25"})
    expected = ["12,5", "30,3", "7,4"]

    login(rf.DRIVER_EMAIL)
    detail = client.get(f"/me/trips/{ids[1]}").get_data(as_text=True)
    assert _screen_km(detail, "km") == ["30,3"]
    listing = client.get(f"/me/trips?month={_days()[1]:%Y-%m}").get_data(as_text=True)
    if _days()[0].month != _days()[2].month:
        listing += client.get(f"/me/trips?month={_days()[0]:%Y-%m}").get_data(as_text=True)
    assert sorted(_screen_km(listing)) == sorted(expected)
    counter = client.get(f"/me/counter?year={fleet.year}").get_data(as_text=True)
    screen_private = re.search(r'data-testid="private-km">([^<]*)<', counter).group(1)
    assert screen_private == "7,7"  # 7,4 private trip + 0,3 detour

    header, trips = _csv_trips(_render(app, fleet.finance, "csv", fleet))
    assert sorted(t["Afstand km"] for t in trips) == sorted(expected)
    assert [t["Privé-omrijkilometers"] for t in trips if t["Ritnummer"] == "2"] == ["0,3"]

    import openpyxl
    from backend.numbers import km_nl
    sheet = openpyxl.load_workbook(io.BytesIO(_render(app, fleet.finance, "xlsx", fleet)))["Ritten"]
    names = [c.value for c in sheet[1]]
    rows = [dict(zip(names, (c.value for c in row))) for row in sheet.iter_rows(min_row=2) if row[0].value == "rit"]
    assert sorted(km_nl(r["Afstand km"]) for r in rows) == sorted(expected)

    document = etree.fromstring(_render(app, fleet.finance, "xml", fleet))
    distances = [Decimal(d.text) for d in document.findall("r:entries/r:trip/r:distance", NS)]
    assert sorted(f"{d:.1f}".replace(".", ",") for d in distances) == sorted(expected)
    assert document.findtext("r:privateUseVerdicts/r:verdict/r:privateKm", namespaces=NS) == "7.7"

    text = _pdf_text(_render(app, fleet.finance, "pdf", fleet))
    for value in expected:
        assert f" {value} " in text, value
    assert " 30,2 " not in text
    assert "7,7 km privé" in text
    # Km, odometer figures and corrections with a Dutch comma; only coordinates (5 decimals)
    # keep the point a map needs.
    assert not re.findall(r"(?<![\d.])\d+\.\d{1,3}(?![\d])", text)
