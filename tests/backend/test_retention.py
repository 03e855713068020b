"""Retention deletes exactly what is due, and logs it (issue #5, section 6; docs/retention.md).

Trips are uploaded through the API (tests/backend/trip_factory.py); the run is given a `now`
years ahead, so the boundaries fall where the test puts them. Every test runs on SQLite and
PostgreSQL.
"""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from backend import audit
from backend.db import db
from tests.backend.access_support import LOCAL, agreement_in_force, example_text, make_people, user
from tests.backend.trip_factory import AMSTERDAM, UTRECHT, TripFactory, TripSpec

UTC = timezone.utc
NEW_YEAR_2026 = datetime(2026, 1, 1, tzinfo=LOCAL).astimezone(UTC)  # 2025-12-31T23:00:00Z
SECOND = timedelta(seconds=1)


def _agreement_text(*, summaries: int = 2922, tracks: int = 90, private: int = 2922) -> str:
    text_ = example_text()
    for key, value in (("trip_summaries", summaries), ("business_tracks", tracks),
                       ("private_trip_details", private)):
        start = text_.index(f"  {key}: ", text_.index("retention_days:"))
        end = text_.index("\n", start)
        text_ = text_[:start] + f"  {key}: {value}" + text_[end:]
    return text_


@pytest.fixture
def world(app, client, make_user, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from="2025-01-01")
    return people, factory


def _consent(app, people, **days):
    with app.app_context():
        agreement_in_force(people, _agreement_text(**days))


def _close(app, *months: str, vehicle_id: int | None = None) -> None:
    from backend.periods import service
    with app.app_context():
        for month in months:
            service.close_month(service.parse_month(month), vehicle_id=vehicle_id, via="cli")


def _trip_ids(app) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(text("SELECT id FROM trips")))


def _count(app, sql: str) -> int:
    with app.app_context():
        return db.session.execute(text(sql)).scalar_one()


def _retention_events(app) -> list[dict]:
    from backend.models.audit import AuditEvent
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == audit.RETENTION_DELETED)
                                  .order_by(AuditEvent.seq)).all()
        return [{"seq": r.seq, "actor_id": r.actor_id, **json.loads(r.details)} for r in rows]


def _run(app, now: datetime, **kwargs):
    from backend.access import retention
    with app.app_context():
        return retention.run(now, **kwargs)


def _chain_ok(app) -> None:
    with app.app_context():
        result = audit.verify()
        assert result.ok, result.message()


def test_tracks_go_n_days_after_the_trip_ended_to_the_second(app, world):
    people, factory = world
    _consent(app, people, tracks=90)
    now = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    cutoff = now - timedelta(days=90)
    twenty = timedelta(minutes=20)  # TripSpec's duration: ended_at = started + 20 minutes
    before, exact, after = factory.upload(TripSpec(cutoff - SECOND - twenty), TripSpec(cutoff - twenty),
                                          TripSpec(cutoff + SECOND - twenty))
    private = factory.upload(TripSpec(cutoff - timedelta(days=3), mode="private"))[0]
    tracks_before = _count(app, "SELECT count(*) FROM trip_tracks")

    result = _run(app, now)

    with app.app_context():
        left = dict(db.session.execute(text("SELECT trip_id, count(*) FROM trip_tracks GROUP BY trip_id")).all())
    assert left == {after: 3}
    assert result.track_points == tracks_before - 3 == 6 and result.track_trips == 2
    assert _trip_ids(app) == {before, exact, after, private}  # the trips themselves stay
    assert result.trips_deleted == 0 and result.seals_cleared == 0
    [event] = _retention_events(app)
    assert event["category"] == "business_tracks" and event["trips"] == 2
    assert event["rows"] == {"trip_tracks": 6}
    assert event["trip_ids"] == [[before, exact]] and event["days"] == 90
    assert event["before"] == cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event["actor_id"] is None  # the system
    with app.app_context():
        run = db.session.execute(text("SELECT tracks_deleted, trips_deleted, open_sentinel, audit_seqs "
                                      "FROM retention_runs")).one()
    assert (run[0], run[1], run[2]) == (6, 0, None)
    seqs = json.loads(run[3]) if isinstance(run[3], str) else run[3]  # SQLite hands JSON back as text
    assert seqs == [event["seq"]]
    _chain_ok(app)

    # Nothing more is due: a second run deletes nothing and logs nothing.
    assert _run(app, now).total == 0
    assert len(_retention_events(app)) == 1
    assert _count(app, "SELECT count(*) FROM retention_runs") == 1


@pytest.mark.parametrize("days, now, due", [
    # The agreement is shorter than the law: the legal minimum (7 years after the tax year) wins.
    (30, datetime(2033, 1, 1, tzinfo=LOCAL).astimezone(UTC), {"old", "second_before"}),
    (30, datetime(2033, 1, 1, tzinfo=LOCAL).astimezone(UTC) - SECOND, set()),
    # The agreement is longer: 2922 days after the end of tax year 2025, to the second.
    (2922, NEW_YEAR_2026 + timedelta(days=2922), {"old", "second_before"}),
    (2922, NEW_YEAR_2026 + timedelta(days=2922) - SECOND, set()),
])
def test_trips_go_by_tax_year_and_never_before_the_legal_minimum(app, world, days, now, due):
    people, factory = world
    _consent(app, people, summaries=days)
    ids = dict(zip(["old", "second_before", "exact", "second_after"], factory.upload(
        TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),
        TripSpec(NEW_YEAR_2026 - SECOND, mode="private"),  # 23:59:59 on 31 December 2025 local
        TripSpec(NEW_YEAR_2026),  # 00:00:00 on 1 January 2026 local: tax year 2026
        TripSpec(NEW_YEAR_2026 + SECOND))))
    _close(app, "2025-03", "2025-12", "2026-01")

    result = _run(app, now)

    assert _trip_ids(app) == {trip_id for name, trip_id in ids.items() if name not in due}
    assert result.trips_deleted == len(due)
    events = _retention_events(app)
    if not due:
        assert [e for e in events if e["category"] != "business_tracks"] == []
        return
    [event] = [e for e in events if e["category"] == "trip_summaries"]
    assert event["trip_ids"] == [[ids["old"], ids["second_before"]]]
    assert event["trips"] == 2 and event["rows"]["trips"] == 2
    assert event["rows"]["trip_tracks"] == 3  # the business trip's track went with it
    assert event["before"] == "2025-12-31T23:00:00Z"
    _chain_ok(app)


def test_sealed_private_details_are_cleared_and_the_trip_stays(app, world):
    people, factory = world
    _consent(app, people, private=30)
    private, business = factory.upload(TripSpec(datetime(2025, 5, 2, 7, 0, tzinfo=UTC), mode="private"),
                                       TripSpec(datetime(2025, 5, 3, 7, 0, tzinfo=UTC)))
    later = factory.upload(TripSpec(datetime(2026, 2, 3, 7, 0, tzinfo=UTC), mode="private"))[0]
    _close(app, "2025-05", "2026-02")
    with app.app_context():
        from backend.access import door
        assert door.trip(user(people.driver), private).start is not None  # the driver's own, opened

    result = _run(app, datetime(2026, 3, 1, tzinfo=UTC))

    assert result.seals_cleared == 1 and result.trips_deleted == 0
    assert _trip_ids(app) == {private, business, later}
    with app.app_context():
        rows = dict(db.session.execute(text(
            "SELECT id, start_sealed IS NULL AND end_sealed IS NULL FROM trips")).all())
        assert {k: bool(v) for k, v in rows.items()} == {private: True, business: True, later: False}
        from backend.access import door
        view = door.trip(user(people.driver), private)
        assert view.start is None and view.end is None and view.distance_km == 12.5  # the km stay
        assert door.trip(user(people.driver), later).start is not None
    [event] = [e for e in _retention_events(app) if e["category"] == "private_trip_details"]
    assert event["trip_ids"] == [[private, private]] and event["rows"] == {"sealed_positions_cleared": 1}
    _chain_ok(app)


def test_a_trip_sealed_when_classified_private_loses_its_seals_with_the_private_details(app, world):
    """A business-mode trip classified private keeps its positions and track sealed in
    trip_reseals: they are private details, due with them (not with the business tracks)."""
    from backend.trips import revisions
    people, factory = world
    _consent(app, people, private=30, tracks=3000)
    sealed, business = factory.upload(TripSpec(datetime(2025, 5, 2, 7, 0, tzinfo=UTC)),
                                      TripSpec(datetime(2025, 5, 3, 7, 0, tzinfo=UTC)))
    with app.app_context():
        revisions.revise(user(people.finance), [sealed], {"classification": "private"},
                         reason="Door de bestuurder als privé gemeld.")
    _close(app, "2025-05")
    assert _count(app, f"SELECT count(*) FROM trip_reseals WHERE trip_id = {sealed}") == 1

    result = _run(app, datetime(2026, 3, 1, tzinfo=UTC))

    assert result.seals_cleared == 1 and result.trips_deleted == 0 and result.track_points == 0
    assert _trip_ids(app) == {sealed, business}
    assert _count(app, "SELECT count(*) FROM trip_reseals") == 0
    assert _count(app, f"SELECT count(*) FROM trip_tracks WHERE trip_id = {business}") == 3
    with app.app_context():
        from backend.access import door
        view = door.trip(user(people.driver), sealed)
        assert view.is_private and view.start is None and view.distance_km == 12.5
    _chain_ok(app)


def test_a_tax_year_with_a_month_not_closed_is_kept_whole(app, world):
    people, factory = world
    _consent(app, people, summaries=30, private=30)
    march, june = factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),
                                 TripSpec(datetime(2025, 6, 10, 8, 0, tzinfo=UTC), mode="private"))
    _close(app, "2025-03")  # June is not closed: finance has not finished 2025 for this car

    result = _run(app, datetime(2034, 1, 2, tzinfo=UTC))

    assert _trip_ids(app) == {march, june}
    assert result.trips_deleted == 0 and result.seals_cleared == 0 and result.held_back == 2
    assert [e["category"] for e in _retention_events(app)] == ["business_tracks"]  # tracks are no tax fact

    # Closing June (for this car) frees the year.
    with app.app_context():
        vehicle = db.session.execute(text("SELECT vehicle_id FROM trips LIMIT 1")).scalar_one()
    _close(app, "2025-06", vehicle_id=vehicle)
    assert _run(app, datetime(2034, 1, 2, tzinfo=UTC)).trips_deleted == 2
    assert _trip_ids(app) == set()


def _add_dependents(app, trip_id: int, author: int) -> None:
    """A revision chain, a calibration's correction share: rows that reference the trip."""
    from backend.models.odometer import OdometerCalibration, OdometerCorrection
    from backend.models.revisions import TripRevision
    with app.app_context():
        vehicle = db.session.execute(text("SELECT vehicle_id FROM trips WHERE id = :id"), {"id": trip_id}).scalar()
        first = TripRevision(trip_id=trip_id, field="note", new_value="klant Utrecht", author_id=author,
                             author_role="finance", batch_id=str(uuid.uuid4()))
        db.session.add(first)
        db.session.flush()
        db.session.add(TripRevision(trip_id=trip_id, field="note", new_value="klant Amsterdam", author_id=author,
                                    author_role="finance", supersedes_id=first.id, batch_id=str(uuid.uuid4())))
        base = OdometerCalibration(vehicle_id=vehicle, read_at=datetime(2025, 1, 2, tzinfo=UTC), dashboard_m=0,
                                   recorded_as="cli")
        db.session.add(base)
        db.session.flush()
        calibration = OdometerCalibration(vehicle_id=vehicle, previous_id=base.id, dashboard_m=20_000,
                                          read_at=datetime(2025, 4, 1, tzinfo=UTC), dashboard_delta_m=20_000,
                                          gps_delta_m=19_000, correction_m=1_000, recorded_as="cli")
        db.session.add(calibration)
        db.session.flush()
        db.session.add(OdometerCorrection(calibration_id=calibration.id, vehicle_id=vehicle, trip_id=trip_id,
                                          gps_distance_m=12_500, correction_m=1_000))
        db.session.commit()


def test_a_deleted_trip_takes_what_hangs_on_it_and_leaves_no_gap(app, world):
    people, factory = world
    _consent(app, people, summaries=30, tracks=3660)  # tracks kept as long as allowed
    old = factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)))[0]
    factory.seq += 1  # record 2 never arrives: record 3 reveals a chain gap (a chain event on trip 3)
    gap_revealer = factory.upload(TripSpec(datetime(2025, 3, 12, 8, 0, tzinfo=UTC)))[0]
    kept = factory.upload(TripSpec(datetime(2026, 3, 10, 8, 0, tzinfo=UTC)))[0]
    _close(app, "2025-03", "2026-03")
    _add_dependents(app, old, people.finance)
    assert _count(app, "SELECT count(*) FROM chain_events") == 1

    result = _run(app, datetime(2033, 6, 1, tzinfo=UTC))

    assert _trip_ids(app) == {kept}
    assert result.related == {"trip_disclosures": 0, "trip_reseals": 0, "trip_revisions": 2,
                              "odometer_corrections": 1, "chain_events": 1, "trip_tracks": 6}
    for table in ("trip_revisions", "odometer_corrections", "chain_events"):
        assert _count(app, f"SELECT count(*) FROM {table}") == 0, table
    assert _count(app, "SELECT count(*) FROM trip_tracks") == 3  # the kept trip's track
    assert _count(app, "SELECT count(*) FROM odometer_calibrations") == 2  # calibrations are kept
    [event] = [e for e in _retention_events(app) if e["category"] == "trip_summaries"]
    assert event["rows"] == {"trips": 2, "trip_disclosures": 0, "trip_reseals": 0, "trip_revisions": 2,
                             "odometer_corrections": 1, "chain_events": 1, "trip_tracks": 6}
    assert event["trip_ids"] == [[old, gap_revealer]]

    # The device's chain continues from its head: the next record is no gap, no break.
    factory.upload(TripSpec(datetime(2026, 4, 1, 8, 0, tzinfo=UTC)))
    assert _count(app, "SELECT count(*) FROM chain_events") == 0

    # Finance's chain view and report of the car show no gap where the deleted year was.
    with app.app_context():
        from backend.access import door
        finance = user(people.finance)
        vehicle = db.session.execute(text("SELECT vehicle_id FROM trips LIMIT 1")).scalar_one()
        assert door.chain_events_for_vehicle(finance, vehicle) == []
        assert door.tax_report_rows_with_gaps(finance, year=2025, vehicle_id=vehicle) == []
        assert [t.id for t in door.tax_report_rows_with_gaps(finance, year=2026, vehicle_id=vehicle)][0] == kept
    _chain_ok(app)



def test_a_deleted_record_sent_again_stays_deleted(app, world):
    """A device restored from an old backup sends records retention deleted long ago: they are
    answered as duplicates (so the device prunes them) and not stored again; so is a record of
    that deleted stretch that never arrived. Later records are stored as always."""
    from tests.backend.trip_factory import record

    people, factory = world
    _consent(app, people, summaries=30, tracks=3660)
    factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)), TripSpec(datetime(2025, 3, 11, 8, 0, tzinfo=UTC)))
    factory.seq += 1  # record 3 never arrived (a chain gap, revealed by record 4)
    factory.upload(TripSpec(datetime(2025, 3, 12, 8, 0, tzinfo=UTC)))
    kept = factory.upload(TripSpec(datetime(2026, 3, 10, 8, 0, tzinfo=UTC)))[0]
    _close(app, "2025-03", "2026-03")
    _run(app, datetime(2033, 6, 1, tzinfo=UTC))
    assert _trip_ids(app) == {kept}
    events_before = _count(app, "SELECT count(*) FROM chain_events")

    deleted = factory.sent[:3]
    with app.app_context():
        from backend import sealing_keys
        public = sealing_keys.current_key().public_raw
    never_arrived = record(3, deleted[1]["hash"], TripSpec(datetime(2025, 3, 11, 18, 0, tzinfo=UTC)),
                           deleted[1]["odometer_end_km"], public)
    answer = factory.device.post(factory.client, [*deleted, never_arrived]).get_json()
    assert (answer["stored"], answer["duplicates"], answer["highest_seq"]) == (0, 4, 5)
    assert _trip_ids(app) == {kept} and _count(app, "SELECT count(*) FROM chain_events") == events_before

    later = factory.upload(TripSpec(datetime(2026, 4, 1, 8, 0, tzinfo=UTC)))[0]  # the chain goes on
    assert _trip_ids(app) == {kept, later} and _count(app, "SELECT count(*) FROM chain_events") == events_before
    _chain_ok(app)

def test_the_dependents_cover_every_foreign_key_to_trips():
    """A new table referencing trips must be listed (or the run would fail on its foreign key)."""
    from backend.access.retention import DEPENDENTS
    from backend.models.trips import Trip  # noqa: F401  (registers the models)

    referencing = {fk.parent.table.name for table in db.metadata.sorted_tables for fk in table.foreign_keys
                   if fk.column.table.name == "trips"}
    assert referencing == {name for name, _ in DEPENDENTS}


def _raw(database_url: str):
    return create_engine(database_url)


def test_outside_a_run_the_database_still_refuses_and_a_closed_run_is_final(app, world, database_url):
    people, factory = world
    _consent(app, people, summaries=30, tracks=3660)
    factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),
                   TripSpec(datetime(2026, 3, 10, 8, 0, tzinfo=UTC)),
                   TripSpec(datetime(2026, 3, 11, 8, 0, tzinfo=UTC), mode="private"))
    _close(app, "2025-03", "2026-03")
    assert _run(app, datetime(2033, 6, 1, tzinfo=UTC)).trips_deleted == 1  # committed and closed

    engine = _raw(database_url)
    try:
        for statement, message in [
                ("DELETE FROM trips", "trips are immutable"),
                ("DELETE FROM trip_tracks", "trips are immutable"),
                ("UPDATE trips SET start_sealed = NULL, end_sealed = NULL", "trips are immutable"),
                ("DELETE FROM retention_runs", "retention runs are final"),
                ("UPDATE retention_runs SET open_sentinel = 1", "retention runs are final"),
                ("UPDATE retention_runs SET trips_deleted = 0", "retention runs are final")]:
            with engine.connect() as connection:
                with pytest.raises(DBAPIError, match=message):
                    connection.execute(text(statement))
                connection.rollback()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM trips WHERE start_sealed IS NOT NULL")).scalar() == 1
            assert connection.execute(text("SELECT trips_deleted FROM retention_runs")).scalar() == 1
    finally:
        engine.dispose()


def _open_run(connection) -> None:
    version = connection.execute(text("SELECT id FROM agreement_versions")).scalar()
    connection.execute(text(
        "INSERT INTO retention_runs (started_at, agreement_version_id, agreement_version, cutoffs, tracks_deleted, "
        "seals_cleared, trips_deleted, related_deleted, audit_seqs, open_sentinel) "
        "VALUES (:at, :version, 'x', '{}', 0, 0, 0, '{}', '[]', 1)"), {"at": datetime.now(UTC), "version": version})


def test_an_open_run_allows_only_retention_and_can_never_be_committed(app, world, database_url):
    people, factory = world
    _consent(app, people)
    factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),
                   TripSpec(datetime(2025, 3, 11, 8, 0, tzinfo=UTC), mode="private"))
    _close(app, "2025-03")
    _add_dependents(app, min(_trip_ids(app)), people.finance)
    engine = _raw(database_url)
    try:
        # Inside an open run, anything but a retention-shaped change is still refused.
        for statement, message in [
                ("UPDATE trips SET distance_km = 0", "trips are immutable"),
                ("UPDATE trips SET start_sealed = NULL, end_sealed = NULL, distance_km = 0", "trips are immutable"),
                ("UPDATE trip_tracks SET lat = 0", "trips are immutable"),
                ("UPDATE trip_revisions SET new_value = 'x'", "append-only"),
                ("DELETE FROM period_closings", "append-only"),
                ("DELETE FROM odometer_calibrations", "odometer calibrations are immutable"),
                ("UPDATE odometer_corrections SET correction_m = 0", "odometer calibrations are immutable")]:
            with engine.connect() as connection:
                _open_run(connection)
                with pytest.raises(DBAPIError, match=message):
                    connection.execute(text(statement))
                connection.rollback()

        # The retention shapes pass inside the run, but the open run cannot be committed:
        # the COMMIT fails and everything it did is rolled back.
        with engine.connect() as connection:
            _open_run(connection)
            connection.execute(text("UPDATE trips SET start_sealed = NULL, end_sealed = NULL"))
            for table in ("trip_revisions", "odometer_corrections", "chain_events", "trip_tracks", "trips"):
                connection.execute(text(f"DELETE FROM {table}"))
            assert connection.execute(text("SELECT count(*) FROM trips")).scalar() == 0
            with pytest.raises(DBAPIError):
                connection.commit()
            connection.rollback()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM trips")).scalar() == 2
            assert connection.execute(text("SELECT count(*) FROM trips WHERE start_sealed IS NOT NULL")).scalar() == 1
            assert connection.execute(text("SELECT count(*) FROM trip_revisions")).scalar() == 2
            assert connection.execute(text("SELECT count(*) FROM retention_runs")).scalar() == 0
    finally:
        engine.dispose()


def test_an_open_run_in_one_transaction_opens_nothing_for_another(app, world, database_url):
    """The exception is the transaction's own: another connection does not see the open run
    (and on PostgreSQL, where it can write meanwhile, its DELETE is still refused)."""
    people, factory = world
    _consent(app, people)
    factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)))
    engine = _raw(database_url)
    try:
        with engine.connect() as opener, engine.connect() as other:
            _open_run(opener)
            assert opener.execute(text("SELECT count(*) FROM retention_runs WHERE open_sentinel IS NOT NULL")
                                  ).scalar() == 1
            assert other.execute(text("SELECT count(*) FROM retention_runs WHERE open_sentinel IS NOT NULL")
                                 ).scalar() == 0
            other.rollback()
            if database_url.startswith("postgresql"):  # SQLite has one writer: other would wait
                with pytest.raises(DBAPIError, match="trips are immutable"):
                    other.execute(text("DELETE FROM trip_tracks"))
                other.rollback()
            opener.rollback()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM trip_tracks")).scalar() == 3
    finally:
        engine.dispose()


def test_two_workers_run_the_job_once(app, world):
    from backend import jobs

    people, factory = world
    _consent(app, people)
    factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),
                   TripSpec(datetime(2025, 3, 11, 8, 0, tzinfo=UTC)))  # tracks long past 90 days
    barrier = threading.Barrier(2)
    results: list[int | None] = []

    def worker() -> None:
        barrier.wait()
        results.append(jobs.run_once(app, "retention"))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results, key=lambda r: r is None) == [6, None]  # 6 track points, once
    assert _count(app, "SELECT count(*) FROM trip_tracks") == 0
    assert _count(app, "SELECT count(*) FROM retention_runs") == 1
    assert len(_retention_events(app)) == 1
    # Later in the day the job finds its daily lock taken and does nothing.
    with app.app_context():
        assert jobs.retention() == 0
    _chain_ok(app)


def test_dry_run_deletes_nothing_and_the_cli_prints_counts_only(app, world, runner):
    people, factory = world
    _consent(app, people)
    factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),
                   TripSpec(datetime(2025, 3, 11, 8, 0, tzinfo=UTC), mode="private"))
    with app.app_context():
        events_before = db.session.scalar(text("SELECT count(*) FROM audit_events"))

    dry = runner.invoke(args=["retention", "run", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "business_tracks: would delete 3 track points of 1 trips" in dry.output
    assert "trip_summaries: would delete 0 trips" in dry.output
    assert _count(app, "SELECT count(*) FROM trip_tracks") == 3
    assert _count(app, "SELECT count(*) FROM retention_runs") == 0
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM audit_events")) == events_before

    real = runner.invoke(args=["retention", "run"])
    assert real.exit_code == 0, real.output
    assert "business_tracks: did delete 3 track points of 1 trips" in real.output
    assert _count(app, "SELECT count(*) FROM trip_tracks") == 0
    for personal in ("daan", "Daan", "GB-XJ-12", "GBXJ12", str(UTRECHT[0]), str(AMSTERDAM[0])):
        assert personal not in dry.output + real.output


def test_no_agreement_in_force_deletes_nothing(app, world):
    _, factory = world
    factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)))
    result = _run(app, datetime(2040, 1, 1, tzinfo=UTC))
    assert result.agreement_version is None and result.total == 0
    assert _count(app, "SELECT count(*) FROM trip_tracks") == 3


def test_the_driver_and_finance_no_longer_see_deleted_data(app, world, client, login):
    people, factory = world
    _consent(app, people, summaries=30)
    old, private = factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),
                                  TripSpec(datetime(2025, 3, 11, 8, 0, tzinfo=UTC), mode="private"))
    recent = factory.upload(TripSpec(datetime(2026, 3, 10, 8, 0, tzinfo=UTC)))[0]
    _close(app, "2025-03")
    login("daan@example.nl")
    assert client.get(f"/me/trips/{old}").status_code == 200

    _run(app, datetime(2033, 6, 1, tzinfo=UTC))

    # The door answers a trip it does not hold as it answers any refused read.
    assert client.get(f"/me/trips/{old}").status_code == 403
    assert client.get(f"/me/trips/{private}").status_code == 403
    assert client.get(f"/me/trips/{recent}").status_code == 200
    with app.app_context():
        from backend.access import door
        driver, finance = user(people.driver), user(people.finance)
        assert [t.id for t in door.trips_for_driver(driver, people.driver)] == [recent]
        assert door.track(driver, recent) == []  # the recent trip's track was past 90 days too
        assert door.tax_report_rows_with_gaps(finance, year=2025, driver_id=people.driver) == []


def test_a_run_refuses_to_work_when_an_open_run_was_committed(app, world, database_url):
    """Only a connection with foreign keys off (SQLite without the pragma) can commit an open run;
    the job then refuses to run instead of working next to an unguarded database."""
    import sqlite3

    from backend.access.retention import RetentionError

    people, factory = world
    _consent(app, people)
    factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)))
    if database_url.startswith("sqlite"):
        raw = sqlite3.connect(database_url.removeprefix("sqlite:///"))  # foreign keys off: SQLite's default
        try:
            version = raw.execute("SELECT id FROM agreement_versions").fetchone()[0]
            raw.execute("INSERT INTO retention_runs (started_at, agreement_version_id, agreement_version, cutoffs, "
                        "tracks_deleted, seals_cleared, trips_deleted, related_deleted, audit_seqs, open_sentinel) "
                        "VALUES ('2026-01-01 00:00:00.000000', ?, 'x', '{}', 0, 0, 0, '{}', '[]', 1)", (version,))
            raw.commit()
        finally:
            raw.close()
    else:  # PostgreSQL always checks the deferred key: the guard can only be lost by dropping it
        engine = _raw(database_url)
        try:
            with engine.begin() as connection:
                connection.execute(text("ALTER TABLE retention_runs DROP CONSTRAINT "
                                        "fk_retention_runs_open_sentinel_retention_open_sentinels"))
                _open_run(connection)
        finally:
            engine.dispose()
    with pytest.raises(RetentionError, match="still open"):
        _run(app, datetime(2026, 9, 1, tzinfo=UTC))
    assert _count(app, "SELECT count(*) FROM trip_tracks") == 3


def _fleet(app, client, make_user, world, cars: int) -> list[TripFactory]:
    """`cars` cars (the world's first), each with two trips of 2025 and one of 2026; March of both
    years closed fleet-wide."""
    people, first = world
    factories = [first]
    for n in range(1, cars):
        make_user(f"driver{n}@example.nl", "driver", name=f"Bestuurder {n}")
        factories.append(TripFactory(app, client, driver_email=f"driver{n}@example.nl", kenteken=f"1{n}-ABC-{n}",
                                     assigned_from="2025-01-01"))
    for factory in factories:
        factory.upload(TripSpec(datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),
                       TripSpec(datetime(2025, 3, 11, 8, 0, tzinfo=UTC), mode="private"),
                       TripSpec(datetime(2026, 3, 10, 8, 0, tzinfo=UTC)))
    _close(app, "2025-03", "2026-03")
    return factories


def _vehicle_of_trips(app) -> dict[int, int]:
    with app.app_context():
        return dict(db.session.execute(text("SELECT id, vehicle_id FROM trips")).all())


def _runs(app) -> list[tuple]:
    with app.app_context():
        return db.session.execute(text("SELECT id, trips_deleted, tracks_deleted, open_sentinel, audit_seqs "
                                       "FROM retention_runs ORDER BY id")).all()


def test_a_fleet_is_deleted_in_pieces_each_with_its_own_run_and_events(app, client, make_user, world, monkeypatch):
    from backend.access import retention

    people, _ = world
    _consent(app, people, summaries=30, tracks=3660)  # only the trip facts of 2025 are due
    _fleet(app, client, make_user, world, cars=3)
    vehicle_of = _vehicle_of_trips(app)
    monkeypatch.setattr(retention, "CARS_PER_PIECE", 2, raising=False)

    result = _run(app, datetime(2033, 6, 1, tzinfo=UTC))

    assert result.trips_deleted == 6 and len(result.run_ids) == 2
    assert sorted(vehicle_of[t] for t in _trip_ids(app)) == sorted(set(vehicle_of.values()))  # 2026 stays
    runs = _runs(app)
    events = _retention_events(app)
    assert [r[0] for r in runs] == list(result.run_ids)
    pieces = []
    for run_id, trips, _, open_sentinel, seqs in runs:
        seqs = json.loads(seqs) if isinstance(seqs, str) else seqs
        [event] = [e for e in events if e["run"] == run_id]
        assert open_sentinel is None and seqs == [event["seq"]]
        assert event["category"] == "trip_summaries" and event["trips"] == trips
        ids = [t for first, last in event["trip_ids"] for t in range(first, last + 1)]
        assert len(ids) == trips  # the ranges name exactly the piece's trips
        pieces.append({vehicle_of[t] for t in ids})
    cars = sorted(set(vehicle_of.values()))
    assert pieces == [set(cars[:2]), set(cars[2:])]  # no piece holds more than its cars
    assert [r[1] for r in runs] == [4, 2]
    assert f"retention runs {runs[0][0]} to {runs[1][0]} (2 pieces), 2 audit events" in result.lines()
    _chain_ok(app)

    # Nothing more is due: no run, no event.
    assert _run(app, datetime(2033, 6, 1, tzinfo=UTC)).total == 0
    assert len(_runs(app)) == 2 and len(_retention_events(app)) == 2


def test_a_crash_in_a_piece_keeps_the_pieces_before_it_and_the_next_run_finishes(app, client, make_user, world,
                                                                                 monkeypatch):
    from backend.access import retention

    people, _ = world
    _consent(app, people, summaries=30, tracks=3660)
    _fleet(app, client, make_user, world, cars=3)
    vehicle_of = _vehicle_of_trips(app)
    cars = sorted(set(vehicle_of.values()))
    monkeypatch.setattr(retention, "CARS_PER_PIECE", 1, raising=False)
    calls = []
    real_raise = retention._raise_deleted_through

    def crash_in_the_second_piece(trip_ids):
        calls.append(trip_ids)
        real_raise(trip_ids)  # the piece has deleted its dependents by now
        if len(calls) == 2:
            raise RuntimeError("worker killed")

    monkeypatch.setattr(retention, "_raise_deleted_through", crash_in_the_second_piece)
    with pytest.raises(RuntimeError, match="worker killed"):
        _run(app, datetime(2033, 6, 1, tzinfo=UTC))

    # The first piece is deleted and logged; the second rolled back whole; the third never started.
    left = {t: vehicle_of[t] for t in _trip_ids(app)}
    assert sorted(left.values()) == [cars[0], cars[1], cars[1], cars[1], cars[2], cars[2], cars[2]]
    runs = _runs(app)
    assert len(runs) == 1 and runs[0][1] == 2 and runs[0][3] is None
    assert _count(app, "SELECT count(*) FROM retention_runs WHERE open_sentinel IS NOT NULL") == 0
    [event] = _retention_events(app)
    assert event["run"] == runs[0][0] and event["trips"] == 2
    _chain_ok(app)

    monkeypatch.setattr(retention, "_raise_deleted_through", real_raise)
    result = _run(app, datetime(2033, 6, 1, tzinfo=UTC))
    assert result.trips_deleted == 4 and len(result.run_ids) == 2
    assert sorted(vehicle_of[t] for t in _trip_ids(app)) == cars  # each car keeps its 2026 trip
    assert [e["trips"] for e in _retention_events(app)] == [2, 2, 2]
    _chain_ok(app)


def _statements(app):
    """The SQL statements the app's engine runs, as a list that grows while listened to."""
    from sqlalchemy import event
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    return seen, lambda: event.remove(engine, "before_cursor_execute", listen)


def test_the_dry_run_counts_in_the_database_what_the_real_run_deletes(app, client, make_user, world, monkeypatch):
    from backend.access import retention

    people, first = world
    # Private details go after 2 years, the trips after the legal 7, tracks after 90 days.
    _consent(app, people, summaries=30, tracks=90, private=730)
    factories = _fleet(app, client, make_user, world, cars=3)
    first.seq += 1  # a chain gap: a chain event on the next trip
    first.upload(TripSpec(datetime(2025, 3, 12, 8, 0, tzinfo=UTC)))
    factories[2].upload(TripSpec(datetime(2025, 6, 1, 8, 0, tzinfo=UTC)))  # June 2025 is not closed
    with app.app_context():
        old = db.session.execute(text("SELECT min(id) FROM trips")).scalar_one()
    _add_dependents(app, old, people.finance)
    monkeypatch.setattr(retention, "CARS_PER_PIECE", 2, raising=False)

    # First the tracks and the private details are due, years later the trips.
    for now in (datetime(2028, 2, 1, tzinfo=UTC), datetime(2033, 6, 1, tzinfo=UTC)):
        seen, stop = _statements(app)
        try:
            dry = _run(app, now, dry_run=True)
        finally:
            stop()
        # Counted by the database: no statement hands the due trips' ids to Python.
        loads = [s for s in seen if s.lstrip().upper().startswith(("SELECT TRIPS.ID", "SELECT TRIP_TRACKS.TRIP_ID"))]
        assert loads == []
        real = _run(app, now)
        assert dry.total > 0 and dry.run_ids == () and real.run_ids
        for name in ("track_trips", "track_points", "seals_cleared", "trips_deleted", "held_back"):
            assert getattr(dry, name) == getattr(real, name), name
        assert {k: v for k, v in dry.related.items() if v} == {k: v for k, v in real.related.items() if v}
        assert dry.lines()[4:] == [line.replace("did ", "would ") for line in real.lines()[4:7]] + real.lines()[7:-1]
    assert real.held_back == 3  # 2025 of the third car: June is not closed, so its March trips stay too
    _chain_ok(app)


def test_a_day_with_nothing_due_does_no_work_per_car(app, client, make_user, world):
    people, _ = world
    _consent(app, people)
    now = datetime(2025, 4, 1, tzinfo=UTC)  # nothing is due yet
    statements = []
    for cars in (1, 3):
        if cars == 3:
            _fleet(app, client, make_user, world, cars=3)
        seen, stop = _statements(app)
        try:
            result = _run(app, now)
        finally:
            stop()
        assert result.total == 0
        statements.append(len(seen))
    assert statements[0] == statements[1]
