"""Issue #13 item 6: the device's own events (power lost, receiver lost, private switch, ...) are
uploaded with the trips, kept as chain events and shown as readable Dutch lines in date order in
every report format and on finance's pages; no flag code reaches a person."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree, html

from tests.backend import report_year as ry
from tests.backend.fleet_helpers import enrolled_device, iso, make_chain
from tests.backend.test_report_year import replayed, year  # noqa: F401 (fixtures)

FORMATS = ("csv", "xlsx", "pdf", "xml")


def _codes() -> set[str]:
    """Every code value of the enums involved: the device's trip flags and event kinds, the
    backend's ingest flags and chain event kinds."""
    import device.pipeline
    import device.store
    import device.trips
    from backend.models.trips import ChainEventKind, IngestFlag

    codes = {value for module in (device.trips, device.store, device.pipeline)
             for name, value in vars(module).items()
             if isinstance(value, str) and (name.startswith("FLAG_") or name.startswith("EVENT_"))}
    codes |= {flag.value for flag in IngestFlag} | {kind.value for kind in ChainEventKind}
    codes |= {"gap", "resumed", "open_trip_unreadable", "mode_switched"}  # store/pipeline event kinds
    assert {"closed_by_gap", "end_of_input", "split_private_switch", "chain_gap", "power_loss"} <= codes
    return {code for code in codes if "_" in code}  # "gap" alone is a word, not a code


def _text(fmt: str, data: bytes) -> str:
    """What a person reads in a file: XLSX cells, PDF text, CSV and XML as they are."""
    if fmt == "xlsx":
        import openpyxl
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        return "\n".join(str(value) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                         for value in row if value is not None)
    if fmt == "pdf":
        from pypdf import PdfReader
        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return data.decode("utf-8-sig")


def _export(app, user_id: int, fmt: str, year: int, **subject) -> bytes:
    from backend.db import db
    from backend.models.accounts import User
    from backend.reports.export import export

    out = io.BytesIO()
    with app.app_context():
        export(db.session.get(User, user_id), out, fmt=fmt, year=year, **subject)
    return out.getvalue()


def _events_body(records: list[dict], events: list[dict]) -> bytes:
    return json.dumps({"trips": records, "events": events}).encode()


def _device_events(day: datetime) -> list[dict]:
    """One of each kind the device records, with the members it writes (device/store.py)."""
    return [
        {"id": 1, "kind": "gap", "at": iso(day + timedelta(hours=1)),
         "body": {"started_at": iso(day + timedelta(hours=1)), "ended_at": iso(day + timedelta(hours=1, minutes=13)),
                  "distance_km": 2.4, "bridged": False}},
        {"id": 2, "kind": "power_loss", "at": iso(day + timedelta(hours=3)),
         "body": {"started_at": iso(day + timedelta(hours=2, minutes=40)), "mode": "business"}},
        {"id": 3, "kind": "mode_switched", "at": iso(day + timedelta(hours=4)), "body": {"mode": "private"}},
        {"id": 4, "kind": "mode_switched", "at": iso(day + timedelta(hours=5)), "body": {"mode": "business"}},
        {"id": 5, "kind": "resumed", "at": iso(day + timedelta(hours=6)), "body": {"pause_s": 42.0}},
        {"id": 6, "kind": "closed_standing_at_start", "at": iso(day + timedelta(hours=7)),
         "body": {"started_at": iso(day + timedelta(hours=6, minutes=30)), "mode": "private"}},
        {"id": 7, "kind": "open_trip_unreadable", "at": None, "body": {}},
    ]


def test_no_flag_code_reaches_a_person_in_any_format_or_finance_page(app, client, login, year):
    """The generated year (real recordings: end_of_input, closed_by_gap, ...; a chain hole) and
    the device's events: no code value of the enums involved in the four formats, per car and per
    driver, nor on finance's pages or the driver's trip page."""
    codes = _codes()
    head = year.records[-1]
    events = _device_events(datetime(ry.YEAR, 6, 3, 9, 0, tzinfo=timezone.utc))
    response = year.device.post(client, body=_events_body([head], events))
    assert response.status_code == 200, response.get_json()
    pattern = re.compile(r"\b(" + "|".join(sorted(codes)) + r")\b")
    seen_flags = {flag for record in year.records for flag in record["flags"]}
    assert {"end_of_input"} <= seen_flags  # the check can fail: the codes are in the data
    for fmt in FORMATS:
        for subject in ({"vehicle_id": year.vehicle_id}, {"driver_id": year.driver}):
            text = _text(fmt, _export(app, year.finance, fmt, ry.YEAR, **subject))
            assert not pattern.findall(text), (fmt, subject, sorted(set(pattern.findall(text))))
            if "vehicle_id" in subject:
                assert "Privéschakelaar aan" in text.replace("\n", " "), fmt
    login(ry.FINANCE_EMAIL)
    pages = [f"/finance/verdicts?year={ry.YEAR}", f"/finance/events?vehicle={year.vehicle_id}&year={ry.YEAR}"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        text = html.fromstring(response.get_data(as_text=True)).text_content()
        assert not pattern.findall(text), (url, sorted(set(pattern.findall(text))))
    client.post("/logout")
    login(ry.DRIVER_EMAIL)
    flagged = [trip_id for trip_id, record in zip(year.trip_ids, year.records) if record["flags"]]
    text = html.fromstring(client.get(f"/me/trips/{flagged[0]}").get_data(as_text=True)).text_content()
    assert not pattern.findall(text), sorted(set(pattern.findall(text)))


def _csv_rows(data: bytes) -> list[dict]:
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    header = lines[0]
    rows = []
    for line in lines[1:]:
        if not line or len(line) < len(header):
            break
        rows.append(dict(zip(header, line)))
    return rows


@pytest.fixture
def car(app, client, make_user):
    make_user("jan@example.nl", "driver", name="Jan Jansen")
    finance = make_user("fenna@example.nl", "finance", name="Fenna de Boer")
    device = enrolled_device(app, client, kenteken="GB-XJ-12", driver_email="jan@example.nl",
                             assigned_from="2026-01-01")
    return device, finance


def _vehicle_id(app) -> int:
    from backend.fleet import service
    with app.app_context():
        return service.find_vehicle("GB-XJ-12").id


def test_device_events_are_stored_once_and_shown_in_dutch_in_date_order_in_every_format(app, client, login, car):
    device, finance = car
    records = make_chain(4, start=datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc))
    day = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
    events = _device_events(day)
    response = device.post(client, body=_events_body(records, events))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["device_events"] == len(events)
    # Sent again (the device did not see the answer): nothing new is stored.
    again = device.post(client, body=_events_body(records[-1:], events))
    assert again.status_code == 200 and again.get_json()["device_events"] == 0
    with app.app_context():
        from sqlalchemy import func, select

        from backend.db import db
        from backend.models.trips import ChainEvent, ChainEventKind
        kinds = db.session.scalars(select(ChainEvent.kind)).all()
        assert kinds.count(ChainEventKind.DEVICE.value) == len(events)
        assert db.session.scalar(select(func.count()).select_from(ChainEvent)) == len(events)
    vehicle_id = _vehicle_id(app)
    rows = _csv_rows(_export(app, finance, "csv", 2026, vehicle_id=vehicle_id))
    lines = [(r["Soort"], r["Datum"], r["Vertrek"], r["Opmerking"]) for r in rows]
    events_shown = [line for line in lines if line[0] == "gebeurtenis kastje"]
    assert len(events_shown) == len(events)
    texts = [line[3] for line in events_shown]
    # Every kind in Dutch: the 13-minute gap with its duration, the private switch both ways.
    assert any("Geen GPS-ontvangst" in t and "13 min" in t and "2,4 km" in t for t in texts), texts
    assert any("Stroom" in t for t in texts) and any("Privéschakelaar aan" in t for t in texts)
    assert any("Privéschakelaar uit" in t for t in texts) and any("herstart" in t for t in texts)
    # Date order: trips and events by their time (an event without a time goes last).
    timed = [(line[1], line[2]) for line in lines if line[0] in ("rit", "gebeurtenis kastje") and line[2]]
    as_moments = [datetime.strptime(f"{d} {t}", "%d-%m-%Y %H:%M") for d, t in timed]
    assert as_moments == sorted(as_moments)
    # The first event (09:00 local) sits between the 08:30 and the 09:30 trip.
    assert [line[0] for line in lines].index("gebeurtenis kastje") == 1
    # The XML: one deviceEvent per event, Dutch description, valid against the XSD.
    from backend.reports import xml as xml_renderer
    data = _export(app, finance, "xml", 2026, vehicle_id=vehicle_id)
    schema = etree.XMLSchema(etree.parse(str(xml_renderer.SCHEMA_PATH)))
    document = etree.fromstring(data)
    schema.assertValid(document)
    descriptions = document.xpath("//r:deviceEvent/r:description/text()", namespaces={"r": "urn:ritbox:report:1"})
    assert len(descriptions) == len(events) and any("Privéschakelaar uit" in d for d in descriptions)
    for fmt in ("xlsx", "pdf"):
        assert "Geen GPS-ontvangst" in _text(fmt, _export(app, finance, fmt, 2026, vehicle_id=vehicle_id))
    # Finance's events page: the same lines, in Dutch by default and in English on request.
    login("fenna@example.nl")
    verdicts = html.fromstring(client.get("/finance/verdicts?year=2026").get_data(as_text=True))
    assert verdicts.xpath('//*[@data-testid="event-links"]//a/@href') == [
        f"/finance/events?vehicle={vehicle_id}&year=2026"]
    page = client.get(f"/finance/events?vehicle={vehicle_id}&year=2026").get_data(as_text=True)
    items = html.fromstring(page).xpath('//*[@data-testid="event"]')
    assert len(items) == len(events)
    assert "Geen GPS-ontvangst" in page and "Privéschakelaar aan" in page
    client.post("/language", data={"language": "en"})
    english = client.get(f"/finance/events?vehicle={vehicle_id}&year=2026").get_data(as_text=True)
    assert "No GPS reception" in english and "Private switch on" in english


@pytest.mark.parametrize("events, field", [
    ("not a list", "events"),
    ([{"id": 0, "kind": "gap", "at": None, "body": {}}], "events[0].id"),
    ([{"id": 1, "kind": "Gap!", "at": None, "body": {}}], "events[0].kind"),
    ([{"id": 1, "kind": "gap", "at": "yesterday", "body": {}}], "events[0].at"),
    ([{"id": 1, "kind": "gap", "at": None, "body": {"lat": 52.1}}], "events[0].body.lat"),
    ([{"id": 1, "kind": "gap", "at": None, "body": {"distance_km": -1}}], "events[0].body.distance_km"),
    ([{"id": 1, "kind": "gap", "at": None, "body": {"mode": "secret"}}], "events[0].body.mode"),
    ([{"id": 1, "kind": "gap", "at": None}], "events[0].body"),
    ([{"id": 1, "kind": "gap", "at": None, "body": {}}] * 2, "events[1].id"),
])
def test_bad_events_are_refused_with_a_json_400_and_nothing_is_stored(app, client, car, events, field):
    device, _finance = car
    records = make_chain(1)
    response = device.post(client, body=_events_body(records, events))
    assert response.status_code == 400
    assert response.get_json()["field"] == field
    # A device without events (older software) keeps working.
    response = device.post(client, records)
    assert response.status_code == 200 and response.get_json()["stored"] == 1


def test_a_chain_gap_filled_later_says_when_the_record_arrived_and_sits_in_date_order(app, client, car):
    device, finance = car
    records = make_chain(4, start=datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc))
    assert device.post(client, [records[0], records[1], records[3]]).status_code == 200
    vehicle_id = _vehicle_id(app)
    before = [r for r in _csv_rows(_export(app, finance, "csv", 2026, vehicle_id=vehicle_id))
              if r["Soort"] == "ketenonderbreking"]
    assert len(before) == 1 and "niet ontvangen" in before[0]["Opmerking"]
    assert device.post(client, [records[2]]).status_code == 200
    rows = _csv_rows(_export(app, finance, "csv", 2026, vehicle_id=vehicle_id))
    (gap,) = [r for r in rows if r["Soort"] == "ketenonderbreking"]
    assert "nooit" not in gap["Opmerking"] and "niet ontvangen" not in gap["Opmerking"]
    assert re.search(r"later ontvangen op \d\d-\d\d-\d{4} \d\d:\d\d", gap["Opmerking"]), gap["Opmerking"]
    # In date order: on the day of the trips it concerns, right before the trip that revealed it.
    kinds = [r["Soort"] for r in rows]
    assert kinds.index("ketenonderbreking") == 3 and gap["Datum"] == "02-03-2026"


def test_the_cars_adapter_events_are_taken_and_shown_in_dutch(app, client, login, car):
    """The OBD adapter's events (device/obd_source.py via device/pipeline.py) go up with the
    trips like the others: an adapter lost while driving, found again, a car without the odometer
    PID, and the box moved to another car (another VIN); and the ignition wire's (device/ignition.py).
    Refused, the device would drop them all."""
    device, finance = car
    records = make_chain(2, start=datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc))
    day = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
    events = [
        {"id": 1, "kind": "obd_connected", "at": iso(day), "body": {"trip_open": False}},
        {"id": 2, "kind": "obd_no_odometer", "at": iso(day + timedelta(minutes=1)), "body": {"trip_open": False}},
        {"id": 3, "kind": "obd_lost", "at": iso(day + timedelta(minutes=40)), "body": {"trip_open": True}},
        {"id": 4, "kind": "vin_changed", "at": iso(day + timedelta(hours=2)),
         "body": {"vin_was": "WVWZZZ1KZAW000001", "vin": "WVWZZZ1KZAW000002", "trip_open": False}},
        {"id": 6, "kind": "ignition_off", "at": iso(day + timedelta(hours=3)), "body": {"trip_open": True}},
        {"id": 7, "kind": "ignition_on", "at": iso(day + timedelta(hours=4)), "body": {"trip_open": False}},
    ]
    response = device.post(client, body=_events_body(records, events))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["device_events"] == len(events)
    rows = _csv_rows(_export(app, finance, "csv", 2026, vehicle_id=_vehicle_id(app)))
    texts = [r["Opmerking"] for r in rows if r["Soort"] == "gebeurtenis kastje"]
    assert len(texts) == 6, texts
    assert any("Contact uit" in t for t in texts) and any("Contact aan" in t for t in texts), texts
    assert any("andere auto" in t for t in texts) and any("verloren tijdens een rit" in t for t in texts), texts
    assert not any("onbekende soort" in t for t in texts), texts
    bad = dict(events[3], id=5, body={"vin": "<script>", "trip_open": False})
    refused = device.post(client, body=_events_body(records[-1:], [bad]))
    assert refused.status_code == 400 and refused.get_json()["field"].endswith("body.vin")
