"""The car's own odometer (OBD) from the device's trip records: stored with its source, taken as
calibration readings (source obd, no photo) so that the calibration reminder stops for that car
while readings keep coming. Uploaded for real: signed records through POST /api/v1/trips."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from backend.db import db
from tests.backend.fleet_helpers import chain_hash, make_record
from tests.backend.odometer_fixtures import T0, car


@pytest.fixture
def people(make_user):
    return {"finance": make_user("fatima@example.nl", "finance", name="Fatima"),
            "driver": make_user("daan@example.nl", "driver", name="Daan")}


@pytest.fixture
def golf(app, client, people):
    return car(app, client, driver_email="daan@example.nl", odometer=48_210.0)


def obd_trips(golf, trips: list[tuple], source: str | None = "obd"):
    """Upload trips (start, GPS km, car km); the car's odometer as the record's odometer."""
    records = []
    for started, gps_km, car_km in trips:
        golf.seq += 1
        record = make_record(golf.seq, golf.prev_hash, started=started, odometer=golf.odometer, km=gps_km)
        body = {k: v for k, v in record.items() if k != "hash"}
        body["odometer_end_km"] = round(golf.odometer + car_km, 3)
        if source is not None:
            body["odometer_source"] = source
        record = {**body, "hash": chain_hash(golf.prev_hash, body)}
        golf.prev_hash, golf.odometer = record["hash"], record["odometer_end_km"]
        records.append(record)
    return golf.device.post(golf.client, records)


def calibrations(app):
    from backend.models.odometer import OdometerCalibration
    with app.app_context():
        return [(c.source, c.dashboard_m, c.read_at, c.photo_path, c.recorded_as)
                for c in db.session.scalars(select(OdometerCalibration).order_by(OdometerCalibration.read_at))]


def test_trips_with_the_cars_odometer_are_stored_with_their_source_and_become_a_reading(app, golf):
    from backend.models.trips import Trip

    response = obd_trips(golf, [(T0, 12.0, 12.3), (T0 + timedelta(hours=3), 20.0, 20.4)])
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        assert [t.odometer_source for t in db.session.scalars(select(Trip).order_by(Trip.seq))] == ["obd", "obd"]
    # one reading a batch: the latest trip end, the car's own figure, no photo, booked by the system
    assert calibrations(app) == [("obd", 48_242_700, T0 + timedelta(hours=3, minutes=20), None, "cli")]


def test_the_reminder_stops_while_the_car_reports_and_returns_when_readings_stop(app, golf):
    from backend import jobs

    obd_trips(golf, [(T0, 12.0, 12.3)])
    week = 0
    with app.app_context():
        for week in range(1, 12):  # driven weekly for almost three months: never due
            obd_trips(golf, [(T0 + timedelta(days=7 * week), 12.0, 12.3)])
            assert jobs.odometer_reminders(now=T0 + timedelta(days=7 * week + 1)) == 0
    # one reading a week at most (not a row for every upload in the reports)
    assert len(calibrations(app)) == 12
    with app.app_context():
        last = T0 + timedelta(days=7 * week)
        assert jobs.odometer_reminders(now=last + timedelta(days=70)) == 2  # the car stopped reporting


def test_at_most_one_car_reading_a_week(app, golf):
    obd_trips(golf, [(T0, 12.0, 12.3)])
    obd_trips(golf, [(T0 + timedelta(days=2), 12.0, 12.3)])
    obd_trips(golf, [(T0 + timedelta(days=8), 12.0, 12.3)])
    assert [row[0] for row in calibrations(app)] == ["obd", "obd"]


def test_gps_trips_make_no_reading_and_an_unknown_source_is_refused(app, golf):
    assert obd_trips(golf, [(T0, 12.0, 12.0)], source=None).status_code == 200
    assert calibrations(app) == []
    response = obd_trips(golf, [(T0 + timedelta(hours=2), 12.0, 12.0)], source="dashboard")
    assert response.status_code == 400
    assert response.get_json()["field"] == "trips[0].odometer_source"


def test_the_odometer_page_and_the_report_say_the_reading_is_the_cars_own(app, client, golf, login):
    from backend.models.accounts import User
    from backend.reports import model as m
    from backend.reports.build import build_report

    obd_trips(golf, [(T0, 12.0, 12.3)])
    obd_trips(golf, [(T0 + timedelta(days=8), 12.0, 15.0)])  # GPS and car differ: flagged on the device
    login("fatima@example.nl")
    page = client.get("/finance/calibrations?vehicle=GBXJ12")
    assert page.status_code == 200
    assert "de kilometerteller van de auto zelf (OBD)".encode() in page.data
    from backend.models.fleet import Vehicle

    with app.app_context():
        finance = db.session.scalar(select(User).where(User.email == "fatima@example.nl"))
        vehicle_id = db.session.scalar(select(Vehicle.id).where(Vehicle.kenteken == "GBXJ12"))
        report = build_report(finance, year=T0.year, vehicle_id=vehicle_id)
    readings = [r for r in report.rows if r.kind in (m.ODOMETER_READING, m.ODOMETER_CORRECTION)]
    assert len(readings) == 2 and all("kilometerteller van de auto zelf (OBD)" in r.note for r in readings)
    # between two car readings nothing is corrected: the trips' km are the car's already
    assert readings[1].correction == 0
    trips = [r for r in report.rows if r.kind == m.TRIP]
    assert [r.distance for r in trips] == [Decimal("12.3"), Decimal("15.0")]


def test_obd_flags_reach_the_report_in_dutch_never_as_a_code(app, golf):
    from backend.models.accounts import User
    from backend.models.fleet import Vehicle
    from backend.reports import model as m
    from backend.reports import texts
    from backend.reports.build import build_report

    golf.seq += 1
    record = make_record(golf.seq, golf.prev_hash, started=T0, odometer=golf.odometer, km=12.0)
    body = {k: v for k, v in record.items() if k != "hash"}
    body.update(flags=["engine_off", "odometer_gps_disagree", "vin_changed"], odometer_source="obd")
    assert golf.device.post(golf.client, [{**body, "hash": chain_hash(golf.prev_hash, body)}]).status_code == 200
    with app.app_context():
        finance = db.session.scalar(select(User).where(User.email == "fatima@example.nl"))
        vehicle_id = db.session.scalar(select(Vehicle.id).where(Vehicle.kenteken == "GBXJ12"))
        report = build_report(finance, year=T0.year, vehicle_id=vehicle_id)
    (trip,) = [r for r in report.rows if r.kind == m.TRIP]
    shown = texts.flag_texts(trip.flags)
    assert not {"engine_off", "odometer_gps_disagree", "vin_changed"} & set(shown)
    assert any("andere auto" in text for text in shown)
