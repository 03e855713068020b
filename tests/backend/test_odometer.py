"""Odometer calibration: the proportional spread (exact to the metre), first calibration, the GPS
originals staying as uploaded, refused readings, photos, the reminder job, the page and the CLI,
on SQLite and PostgreSQL, with trips ingested through the real signed upload."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from backend.db import db
from backend.odometer.spread import km_to_m, spread
from tests.backend.odometer_fixtures import T0, car, hourly

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 32
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


# ------------------------------------------------------------------------ the spread (pure)

distances = st.lists(st.integers(min_value=0, max_value=2_000_000), min_size=1, max_size=60).filter(
    lambda ds: sum(ds) > 0)
corrections = st.integers(min_value=-5_000_000, max_value=5_000_000)


@given(corrections, distances)
@example(1000, [1, 1, 1])
@example(-1, [5, 5])
@example(7, [0, 3, 0, 4])
def test_spread_sums_exactly_and_is_proportional_within_a_metre(correction, ds):
    shares = spread(correction, ds)
    assert len(shares) == len(ds)
    assert sum(shares) == correction
    total = sum(ds)
    for share, distance in zip(shares, ds):
        exact = Fraction(correction * distance, total)
        assert abs(share - exact) < 1  # rounded down or up, never further
        if distance == 0:
            assert share == 0


@given(corrections, distances)
def test_spread_of_a_negative_correction_mirrors_the_positive_one(correction, ds):
    assert spread(-correction, ds) == [-share for share in spread(correction, ds)]


@given(st.integers(min_value=0, max_value=5_000_000), distances)
def test_a_longer_trip_never_gets_a_smaller_share(correction, ds):
    shares = spread(correction, ds)
    for i in range(len(ds)):
        for j in range(len(ds)):
            if ds[i] > ds[j]:
                assert shares[i] >= shares[j]
            if ds[i] == ds[j]:
                assert abs(shares[i] - shares[j]) <= 1


def test_spread_hand_worked_examples():
    assert spread(1000, [1, 1, 1]) == [334, 333, 333]  # the remainder metre to the earliest tie
    assert spread(-1000, [1, 1, 1]) == [-334, -333, -333]
    assert spread(10, [0, 5, 5]) == [0, 5, 5]
    assert spread(100, [1, 2]) == [33, 67]  # 33.33 and 66.67: the larger remainder gets the metre
    assert spread(0, [0, 0]) == [0, 0]
    with pytest.raises(ValueError):
        spread(5, [0, 0])
    with pytest.raises(ValueError):
        spread(5, [3, -1])


def test_km_to_m_rounds_the_device_figures_to_whole_metres():
    assert km_to_m(12.345) == 12345
    assert km_to_m(0.1 + 0.2) == 300
    assert km_to_m(20_012.5) == 20_012_500


# ------------------------------------------------------------------------ fixtures

@pytest.fixture
def people(make_user):
    return {"finance": make_user("fatima@example.nl", "finance", name="Fatima"),
            "driver": make_user("daan@example.nl", "driver", name="Daan"),
            "other": make_user("eva@example.nl", "driver", name="Eva")}


@pytest.fixture
def golf(app, client, people):
    return car(app, client, driver_email="daan@example.nl")


def _user(email):
    from backend.accounts import find_user
    return find_user(email)


def _vehicle(kenteken="GB-XJ-12"):
    from backend.fleet.service import get_vehicle
    return get_vehicle(kenteken)


def _record(km, at, email="fatima@example.nl", **kwargs):
    from backend.odometer import service
    return service.record(_vehicle(), km, at, _user(email) if email else None, now=NOW, **kwargs)


# ------------------------------------------------------------------------ booking

def test_the_first_calibration_establishes_the_offset_and_books_nothing(app, golf):
    golf.drive(*hourly(T0, [12.5, 30.25, 7.0]))  # device odometer 20000 -> 20049.75
    with app.app_context():
        calibration = _record("61.234,5", T0 + timedelta(hours=5))
        assert calibration.is_first and calibration.previous_id is None
        assert calibration.dashboard_m == 61_234_500
        assert calibration.gps_odometer_m == 20_049_750
        assert calibration.offset_m == 61_234_500 - 20_049_750
        assert calibration.correction_m is None and calibration.corrections == []
        assert calibration.recorded_as == "finance"


def test_a_later_reading_spreads_the_difference_over_the_trips_since_exact_to_the_metre(app, golf):
    from backend.access import door
    from backend.models.odometer import OdometerCorrection
    from backend.odometer import service

    before = golf.drive(*hourly(T0, [10.0, 20.0]))
    with app.app_context():
        first = _record(50_000, T0 + timedelta(hours=3))
    since = golf.drive(*hourly(T0 + timedelta(days=1), [12.345, 30.001, 0.0, 57.654]))  # 100.000 km GPS
    later = golf.drive((T0 + timedelta(days=3), 5.0))  # after the reading: not part of it
    with app.app_context():
        second = _record(50_101.234, T0 + timedelta(days=2))
        assert second.previous_id == first.id
        assert (second.dashboard_delta_m, second.gps_delta_m) == (101_234, 100_000)
        assert second.correction_m == 1_234 and second.trips_spread == 4
        rows = db.session.scalars(select(OdometerCorrection).where(OdometerCorrection.calibration_id == second.id)
                                  .order_by(OdometerCorrection.id)).all()
        assert [r.trip_id for r in rows] == since
        assert [r.gps_distance_m for r in rows] == [12_345, 30_001, 0, 57_654]
        assert [r.correction_m for r in rows] == spread(1_234, [12_345, 30_001, 0, 57_654])
        assert sum(r.correction_m for r in rows) == second.dashboard_delta_m - second.gps_delta_m
        # The rows for the reports carry the originals next to the share.
        report_rows = door.correction_rows(_vehicle().id)
        assert [(r.trip_id, r.gps_distance_m, r.correction_m) for r in report_rows] == [
            (r.trip_id, r.gps_distance_m, r.correction_m) for r in rows]
        assert {r.dashboard_m for r in report_rows} == {50_101_234}
        totals = door.corrections_by_trip(_vehicle().id)
        assert set(totals) == set(since) and not (set(totals) & set(before + later))


def test_the_gps_originals_stay_as_uploaded_and_visible_through_the_door(app, golf, people):
    from backend.access import door
    from backend.models.trips import Trip

    golf.drive(*hourly(T0, [10.0]))
    with app.app_context():
        _record(30_000, T0 + timedelta(hours=2))
    ids = golf.drive(*hourly(T0 + timedelta(days=1), [40.0, 60.0]))
    with app.app_context():
        before = {t.id: (t.odometer_start_km, t.odometer_end_km, t.distance_km) for t in db.session.scalars(select(Trip))}
        calibration = _record(30_110, T0 + timedelta(days=2), confirm_reason="10% meer op het dashboard")
        assert calibration.correction_m == 10_000
        db.session.expire_all()
        after = {t.id: (t.odometer_start_km, t.odometer_end_km, t.distance_km) for t in db.session.scalars(select(Trip))}
        assert after == before
        views = {v.id: v for v in door.trips_for_vehicle(_user("fatima@example.nl"), _vehicle().id)}
        assert (views[ids[0]].distance_km, views[ids[1]].distance_km) == (40.0, 60.0)
        assert views[ids[1]].odometer_end_km == 20_110.0


def test_a_reading_with_no_trip_since_books_the_whole_difference_as_one_row(app, golf):
    golf.drive(*hourly(T0, [10.0]))
    with app.app_context():
        _record(30_000, T0 + timedelta(hours=2))
        second = _record(30_003.5, T0 + timedelta(days=10), confirm_reason="kastje los tijdens onderhoud")
        assert second.trips_spread == 0
        assert [(c.trip_id, c.gps_distance_m, c.correction_m) for c in second.corrections] == [(None, 0, 3_500)]


def test_a_first_reading_of_a_car_without_trips_has_no_offset_yet(app, golf):
    with app.app_context():
        calibration = _record(12_000, T0)
        assert calibration.gps_odometer_m is None and calibration.offset_m is None


@pytest.mark.parametrize("km, at_delta, message", [
    ("29999", timedelta(days=5), "lower than the previous reading"),
    ("90000", timedelta(days=5), "implausibly high"),  # 60,000 km in 5 days
    ("30100", timedelta(hours=-1), "later than the car's last calibration"),
    ("-5", timedelta(days=5), "cannot be negative"),
    ("3000000", timedelta(days=5), "implausibly high for an odometer"),
    ("veel", timedelta(days=5), "is not a number"),
])
def test_implausible_readings_are_refused_with_the_reason(app, golf, km, at_delta, message):
    from backend.models.odometer import OdometerCalibration
    from backend.odometer.service import CalibrationError

    golf.drive(*hourly(T0, [10.0]))
    with app.app_context():
        first = _record(30_000, T0 + timedelta(hours=2))
        with pytest.raises(CalibrationError, match=message):
            _record(km, first.read_at + at_delta)
        with pytest.raises(CalibrationError, match="future"):
            _record(30_100, NOW + timedelta(hours=1))
        assert db.session.scalar(select(func.count()).select_from(OdometerCalibration)) == 1


def test_only_finance_or_the_cars_driver_may_calibrate_and_a_refusal_is_audited(app, golf):
    from backend.access.door import AccessDenied
    from backend.models.audit import AuditEvent

    golf.drive(*hourly(T0, [10.0]))
    with app.app_context():
        with pytest.raises(AccessDenied):
            _record(30_000, T0 + timedelta(hours=2), email="eva@example.nl")  # not her car
        denied = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "read_denied")).all()
        assert len(denied) == 1 and denied[0].subject_vehicle_id == _vehicle().id
        calibration = _record(30_000, T0 + timedelta(hours=2), email="daan@example.nl")  # his car
        assert calibration.recorded_as == "driver"
        events = [e.event_type for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        assert events[-2:] == ["read", "odometer_calibrated"]


def test_calibrations_and_corrections_cannot_be_changed_or_deleted(app, golf):
    golf.drive(*hourly(T0, [10.0]))
    with app.app_context():
        _record(30_000, T0 + timedelta(hours=2))
        golf_id = _vehicle().id
    golf.drive((T0 + timedelta(days=1), 10.0))
    with app.app_context():
        _record(30_011, T0 + timedelta(days=2))
        for statement in ("UPDATE odometer_calibrations SET dashboard_m = 1",
                          "DELETE FROM odometer_calibrations",
                          "UPDATE odometer_corrections SET correction_m = 0",
                          "DELETE FROM odometer_corrections"):
            with pytest.raises(Exception, match="immutable"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert db.session.execute(text("SELECT count(*) FROM odometer_corrections WHERE vehicle_id = :v"),
                                  {"v": golf_id}).scalar() == 1


# ------------------------------------------------------------------------ photos

def test_photo_validation_by_content_and_size(app):
    from backend.odometer.photos import PhotoError, validate

    assert validate(JPEG, 1000) == ("image/jpeg", "jpg")
    assert validate(PNG, 1000) == ("image/png", "png")
    assert validate(b"RIFF\x10\x00\x00\x00WEBPVP8 ", 1000) == ("image/webp", "webp")
    for data, message in ((b"", "empty"), (b"GIF89a" + b"\x00" * 20, "JPEG, PNG or WebP"),
                          (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "JPEG, PNG or WebP"),
                          (JPEG + b"\x00" * 1000, "larger than")):
        with pytest.raises(PhotoError, match=message):
            validate(data, 1000)


def test_a_photo_is_stored_in_the_instance_folder_and_a_bad_one_stores_nothing(app, golf, tmp_path):
    import os

    from backend.odometer.photos import PhotoError

    app.instance_path = str(tmp_path / "instance")
    golf.drive(*hourly(T0, [10.0]))
    with app.app_context():
        with pytest.raises(PhotoError):
            _record(30_000, T0 + timedelta(hours=2), photo=b"%PDF-1.7 not a photo")
        assert not os.path.exists(tmp_path / "instance" / "odometer_photos")
        calibration = _record(30_000, T0 + timedelta(hours=2), photo=JPEG)
        assert calibration.photo_path.startswith("odometer_photos/") and calibration.photo_type == "image/jpeg"
        with open(os.path.join(app.instance_path, calibration.photo_path), "rb") as handle:
            assert handle.read() == JPEG


# ------------------------------------------------------------------------ reminders

def test_the_reminder_job_reminds_finance_and_the_driver_once_and_a_reading_resolves_it(app, golf, people):
    from backend import jobs
    from backend.models.odometer import OdometerReminder
    from backend.odometer import service

    golf.drive(*hourly(T0, [10.0]))
    with app.app_context():
        # Never calibrated and in use: due at once.
        assert jobs.odometer_reminders(now=T0 + timedelta(days=1)) == 2
        assert jobs.odometer_reminders(now=T0 + timedelta(days=1, hours=1)) == 0  # once, not every run
        first = _record(30_000, datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc))
        assert db.session.scalar(select(func.count()).select_from(OdometerReminder)
                                 .where(OdometerReminder.resolved_at.is_(None))) == 0
        # Two calendar months later is the due day itself: not yet overdue.
        assert service.due_on(first).isoformat() == "2026-05-10"
        assert jobs.odometer_reminders(now=datetime(2026, 5, 10, 20, 0, tzinfo=timezone.utc)) == 0
        assert jobs.odometer_reminders(now=datetime(2026, 5, 11, 8, 0, tzinfo=timezone.utc)) == 2
        reminders = db.session.scalars(select(OdometerReminder).where(OdometerReminder.resolved_at.is_(None))).all()
        assert {r.user_id for r in reminders} == {people["finance"], people["driver"]}
        assert {r.last_calibration_id for r in reminders} == {first.id}
        assert people["other"] not in {r.user_id for r in reminders}
        assert [r.vehicle.kenteken for r in service.open_reminders(_user("daan@example.nl"))] == ["GBXJ12"]
        assert service.open_reminders(_user("eva@example.nl")) == []


def test_the_reminder_job_runs_under_the_schedulers_lock(app, golf, people):
    from backend import jobs
    from backend.models.odometer import OdometerReminder

    assert "odometer_reminders" in jobs.JOBS
    assert jobs.run_once(app, "odometer_reminders") == 2  # never calibrated, active device
    assert jobs.run_once(app, "odometer_reminders") is None  # another run holds the lock
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OdometerReminder)) == 2


# ------------------------------------------------------------------------ the page

def test_finance_records_readings_on_the_page_and_sees_the_history(app, client, golf, login):
    golf.drive(*hourly(T0, [10.0]))
    golf.drive(*hourly(T0 + timedelta(days=1), [30.0, 70.0]))
    login("fatima@example.nl")
    page = client.get("/finance/calibrations")
    assert page.status_code == 200
    assert b"GB-XJ-12" in page.data and b"Nooit gekalibreerd" in page.data
    response = client.post("/finance/calibrations", data={
        "vehicle": "GBXJ12", "km": "30.000", "read_at": "2026-03-02T12:00"})
    assert response.status_code == 302, response.data
    response = client.post("/finance/calibrations", data={
        "vehicle": "GBXJ12", "km": "30.102,5", "read_at": "2026-03-05T12:00",
        "photo": (io.BytesIO(PNG), "dashboard.png")}, content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert "+2,5".encode() in response.data  # 102.5 km dashboard - 100 km GPS
    with app.app_context():
        from backend.odometer import service
        latest = service.latest(_vehicle().id)
        assert latest.correction_m == 2_500 and latest.trips_spread == 2 and latest.photo_type == "image/png"
        photo_id = latest.id
    photo = client.get(f"/finance/calibrations/{photo_id}/photo")
    assert photo.status_code == 200 and photo.data == PNG and photo.mimetype == "image/png"
    refused = client.post("/finance/calibrations", data={
        "vehicle": "GBXJ12", "km": "100", "read_at": "2026-03-06T12:00"})
    assert refused.status_code == 400 and "lager dan de vorige".encode() in refused.data


def test_a_driver_records_only_for_their_own_car(app, client, golf, login, make_user):
    car(app, client, kenteken="12-ABC-3", driver_email="eva@example.nl")
    golf.drive(*hourly(T0, [10.0]))
    login("daan@example.nl")
    page = client.get("/finance/calibrations")
    assert page.status_code == 200
    assert b"GB-XJ-12" in page.data and b"12-ABC-3" not in page.data
    other = client.post("/finance/calibrations", data={"vehicle": "12ABC3", "km": "500", "read_at": "2026-03-02T12:00"})
    assert other.status_code == 400
    own = client.post("/finance/calibrations", data={"vehicle": "GBXJ12", "km": "500", "read_at": "2026-03-02T12:00"})
    assert own.status_code == 302
    with app.app_context():
        from backend.models.odometer import OdometerCalibration
        rows = db.session.scalars(select(OdometerCalibration)).all()
        assert [(r.vehicle.kenteken, r.recorded_as) for r in rows] == [("GBXJ12", "driver")]
        calibration_id = rows[0].id
    client.post("/logout")
    login("eva@example.nl")
    assert client.get("/finance/calibrations").status_code == 200
    assert client.get(f"/finance/calibrations/{calibration_id}/photo").status_code == 404  # no photo
    make_user("admin@example.nl", "admin")
    client.post("/logout")
    login("admin@example.nl")
    assert client.get("/finance/calibrations").status_code == 403


def test_the_navigation_shows_the_calibration_page_to_finance(client, login, people):
    login("fatima@example.nl")
    assert b'data-endpoint="finance.calibrations"' in client.get("/").data


# ------------------------------------------------------------------------ the CLI

def test_cli_records_and_lists(app, runner, golf, tmp_path):
    golf.drive(*hourly(T0, [10.0]))
    photo = tmp_path / "dash.jpg"
    photo.write_bytes(JPEG)
    result = runner.invoke(args=["odometer", "record", "--vehicle", "GB-XJ-12", "--km", "30000",
                                 "--at", "2026-03-02T12:00", "--photo", str(photo)])
    assert result.exit_code == 0, result.output
    assert "first reading of GB-XJ-12" in result.output and "+9990.000 km" in result.output
    golf.drive((T0 + timedelta(days=1), 25.0))
    result = runner.invoke(args=["odometer", "record", "--vehicle", "GB-XJ-12", "--km", "30026",
                                 "--at", "2026-03-04T12:00", "--by", "fatima@example.nl"])
    assert result.exit_code == 0, result.output
    assert "+1.000 km booked over 1 trip(s)" in result.output
    result = runner.invoke(args=["odometer", "record", "--vehicle", "GB-XJ-12", "--km", "100",
                                 "--at", "2026-03-05T12:00"])
    assert result.exit_code != 0 and "lower than the previous reading" in result.output
    result = runner.invoke(args=["odometer", "list", "--vehicle", "GB-XJ-12"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert "next calibration due 2026-05-04" in lines[0]
    assert len(lines) == 3 and "dashboard 30026.000" in lines[1] and "photo" in lines[2]
    assert "cli" in lines[2] and "finance" in lines[1]
    result = runner.invoke(args=["odometer", "list", "--vehicle", "ZZ-99-ZZ"])
    assert result.exit_code != 0 and "no vehicle" in result.output


@pytest.mark.parametrize("text, metres", [("48213", 48_213_000), ("48.213", 48_213_000), ("48.213,4", 48_213_400),
                                          ("48213.4", 48_213_400), ("48213,45", 48_213_450), (" 1.048.213 ", 1_048_213_000),
                                          (48213.4, 48_213_400), ("0", 0)])
def test_dashboard_readings_are_read_the_dutch_way(text, metres):
    from backend.odometer.service import parse_km
    assert parse_km(text) == metres


def test_calibrated_odometers_close_the_chain_and_end_on_the_dashboard_figure(app, golf, people):
    from backend.access import door
    from backend.odometer import service

    before = golf.drive(*hourly(T0, [10.0]))  # GPS 20000 -> 20010
    with app.app_context():
        _record("30.000", T0 + timedelta(hours=2))  # offset 9990 km
    window = golf.drive(*hourly(T0 + timedelta(days=1), [30.0, 70.0]))  # GPS 20010 -> 20110
    with app.app_context():
        _record("30.102,5", T0 + timedelta(days=2))  # +2.5 km: 750 m and 1750 m
    after = golf.drive((T0 + timedelta(days=3), 5.0))
    with app.app_context():
        trips = door.trips_for_vehicle(_user("fatima@example.nl"), _vehicle().id)
        figures = service.calibrated_odometers(_vehicle().id, trips)
    assert figures[before[0]] == (29_990_000, 30_000_000)
    assert figures[window[0]] == (30_000_000, 30_030_750)
    assert figures[window[1]] == (30_030_750, 30_102_500)  # ends on the dashboard reading
    assert figures[after[0]] == (30_102_500, 30_107_500)
    # The GPS originals are untouched in what the door returns.
    assert [(t.odometer_start_km, t.odometer_end_km) for t in trips] == [
        (20_000.0, 20_010.0), (20_010.0, 20_040.0), (20_040.0, 20_110.0), (20_110.0, 20_115.0)]


def test_a_car_never_calibrated_has_no_calibrated_figures(app, golf):
    from backend.odometer import service
    from backend.odometer.service import TripOdometer

    with app.app_context():
        assert service.calibrated_odometers(_vehicle().id, [TripOdometer(1, T0, 1.0, 2.0)]) == {}


def test_the_navigation_offers_the_page_to_drivers_too(client, login, people):
    login("daan@example.nl")
    assert b'data-endpoint="finance.calibrations"' in client.get("/").data


def test_a_reading_far_from_the_gps_km_needs_a_reason_on_the_page_and_in_the_cli(app, client, runner, golf, login):
    """144 km driven by GPS, the dashboard says 444 (+208%): refused without a reason, booked
    with one (the reason stays with the reading); a +2% reading passes without."""
    golf.drive(*hourly(T0, [36.9, 107.1]))  # 144 km
    login("fatima@example.nl")
    assert client.post("/finance/calibrations", data={
        "vehicle": "GBXJ12", "km": "30.000", "read_at": "2026-03-02T12:00"}).status_code == 302
    golf.drive(*hourly(T0 + timedelta(days=1), [36.9, 107.1]))
    refused = client.post("/finance/calibrations", data={
        "vehicle": "GBXJ12", "km": "30.444", "read_at": "2026-03-03T18:00"})
    assert refused.status_code == 400 and "reden".encode() in refused.data
    with app.app_context():
        assert service_latest().dashboard_m == 30_000_000
    accepted = client.post("/finance/calibrations", data={
        "vehicle": "GBXJ12", "km": "30.444", "read_at": "2026-03-03T18:00",
        "confirm_reason": "teller vervangen"})
    assert accepted.status_code == 302, accepted.data
    with app.app_context():
        latest = service_latest()
        assert latest.dashboard_m == 30_444_000 and latest.confirm_reason == "teller vervangen"
    golf.drive(*hourly(T0 + timedelta(days=2), [50.0]))
    result = runner.invoke(args=["odometer", "record", "--vehicle", "GB-XJ-12", "--km", "30600",
                                 "--at", "2026-03-04T18:00"])
    assert result.exit_code != 0 and "reason" in result.output
    result = runner.invoke(args=["odometer", "record", "--vehicle", "GB-XJ-12", "--km", "30600",
                                 "--at", "2026-03-04T18:00", "--confirm-reason", "dashboard foto klopt"])
    assert result.exit_code == 0, result.output
    golf.drive(*hourly(T0 + timedelta(days=3), [100.0]))
    result = runner.invoke(args=["odometer", "record", "--vehicle", "GB-XJ-12", "--km", "30702",
                                 "--at", "2026-03-05T18:00"])
    assert result.exit_code == 0, result.output  # +2 km on 100: within 5%


def service_latest():
    from backend.odometer import service
    return service.latest(_vehicle().id)


def _statements_during(fn) -> tuple[int, object]:
    """How many SQL statements fn sends (SQLAlchemy's cursor events), and its result."""
    from sqlalchemy import event

    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = fn()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen), result


def test_the_reminder_job_does_no_work_per_car_when_nothing_is_new(app, client, people):
    """At 200,000 cars a run that visits every car takes half an hour (issue 20: 8.7 ms a car
    with nothing to do): the job asks the database which cars are due, so its statements do not
    grow with the fleet, neither when every car is freshly calibrated nor when all were reminded."""
    from backend import jobs

    fleet = [car(app, client, kenteken=f"GB-XJ-{10 + n}") for n in range(6)]
    later = T0 + timedelta(days=1)
    with app.app_context():
        assert jobs.odometer_reminders(now=later) == 6  # finance, once per car never calibrated
        reminded_again, created = _statements_during(lambda: jobs.odometer_reminders(now=later))
        assert created == 0
    for n in range(6, 30):
        fleet.append(car(app, client, kenteken=f"GB-XJ-{10 + n}"))
    with app.app_context():
        assert jobs.odometer_reminders(now=later) == 24
        statements, created = _statements_during(lambda: jobs.odometer_reminders(now=later))
        assert created == 0
        assert statements == reminded_again, (statements, reminded_again)
        for vehicle in fleet:
            from backend.odometer import service
            from backend.fleet.service import get_vehicle
            service.record(get_vehicle(vehicle.kenteken), 30_000, T0 + timedelta(hours=20), _user("fatima@example.nl"),
                           now=NOW)
        calibrated, created = _statements_during(lambda: jobs.odometer_reminders(now=later))
        assert created == 0
        assert calibrated <= reminded_again, (calibrated, reminded_again)
