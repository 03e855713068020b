"""Trip facts are immutable in the database itself: triggers refuse UPDATE and DELETE on trips,
trip_tracks and chain_events (and TRUNCATE on PostgreSQL), whatever the code tries."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.backend.fleet_helpers import enrolled_device, make_chain

STATEMENTS = [
    ("trips", "UPDATE trips SET distance_km = 0"),
    ("trips", "UPDATE trips SET driver_id = NULL WHERE seq = 1"),
    ("trips", "DELETE FROM trips"),
    # Clearing the sealed private positions is retention's alone (docs/retention.md), inside a run.
    ("trips", "UPDATE trips SET start_sealed = NULL, end_sealed = NULL"),
    ("trip_tracks", "UPDATE trip_tracks SET lat = 0"),
    ("trip_tracks", "DELETE FROM trip_tracks WHERE idx = 0"),
    ("chain_events", "UPDATE chain_events SET detail = 'nothing to see'"),
    ("chain_events", "DELETE FROM chain_events"),
]


@pytest.fixture
def stored(app, client, make_user, tmp_path, database_url):
    """A database holding trips, track points and a chain event, uploaded through the API."""
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    make_user("daan@example.nl", "driver")
    device = enrolled_device(app, client, driver_email="daan@example.nl")
    records = make_chain(4)
    assert device.post(client, [records[0], records[2], records[3]]).get_json()["chain_events"] == 1
    return database_url


def _snapshot(connection) -> str:
    rows = {}
    for table in ("trips", "trip_tracks", "chain_events"):
        rows[table] = [tuple(map(str, r)) for r in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
    return json.dumps(rows, sort_keys=True)


@pytest.mark.parametrize("table, statement", STATEMENTS)
def test_raw_sql_cannot_change_or_delete_trip_facts(stored, table, statement):
    engine = create_engine(stored)
    try:
        with engine.connect() as connection:
            before = _snapshot(connection)
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() > 0
        with engine.connect() as connection:
            with pytest.raises(DBAPIError, match="immutable"):
                connection.execute(text(statement))
            connection.rollback()
        with engine.connect() as connection:
            assert _snapshot(connection) == before
    finally:
        engine.dispose()


def test_emptying_a_whole_table_is_refused(stored):
    """PostgreSQL's TRUNCATE fires no row trigger, so it has a statement trigger of its own;
    SQLite's unqualified DELETE (its truncate optimisation) is switched off by the row trigger."""
    engine = create_engine(stored)
    empty = "TRUNCATE {} CASCADE" if stored.startswith("postgresql") else "DELETE FROM {}"
    try:
        with engine.connect() as connection:
            for table in ("trip_tracks", "chain_events", "trips"):
                with pytest.raises(DBAPIError, match="immutable"):
                    connection.execute(text(empty.format(table)))
                connection.rollback()
            assert connection.execute(text("SELECT count(*) FROM trip_tracks")).scalar() > 0
    finally:
        engine.dispose()


def test_inserting_stays_possible_and_a_plaintext_private_position_is_refused_by_the_database(stored):
    engine = create_engine(stored)
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT device_id, vehicle_id FROM trips LIMIT 1")).one()
            values = {"device": row[0], "vehicle": row[1]}
            insert = ("INSERT INTO trips (device_id, vehicle_id, device_trip_id, seq, started_at, ended_at, "
                      "odometer_start_km, odometer_end_km, distance_km, mode, flags, ingest_flags, gaps, "
                      "start_lat, start_lon, record_hash, prev_hash, body, received_at) VALUES (:device, :vehicle, "
                      ":trip, 99, '2026-03-05 08:00:00+00:00', '2026-03-05 09:00:00+00:00', 1, 2, 1, :mode, '[]', "
                      "'[]', '[]', :lat, :lon, :h, :h, '{}', '2026-03-05 09:00:00+00:00')")
            with pytest.raises(DBAPIError):
                connection.execute(text(insert), {**values, "trip": "t1", "mode": "private", "lat": 52.1, "lon": 5.1,
                                                  "h": "0" * 64})
            connection.rollback()
            connection.execute(text(insert), {**values, "trip": "t2", "mode": "business", "lat": 52.1, "lon": 5.1,
                                              "h": "0" * 64})
            connection.commit()
            assert connection.execute(text("SELECT count(*) FROM trips")).scalar() == 4
    finally:
        engine.dispose()


@pytest.mark.parametrize("change", ["device_signature = 'forged'", "odometer_source = 'obd'", "distance_km = 0"])
def test_attributing_a_driver_changes_nothing_else_of_the_trip(app, client, make_user, database_url, change):
    """The one UPDATE a trip allows (a driver attributed to a trip that had none) is refused when
    it changes anything else too: also the columns later migrations added (the device's kept
    signature, the odometer's source), whose SQLite rule is rebuilt after each column."""
    driver = make_user("daan@example.nl", "driver")
    device = enrolled_device(app, client, kenteken="12-ABC-3", driver_email=None)
    assert device.post(client, make_chain(2)).status_code == 200
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM trips WHERE driver_id IS NULL")).scalar() == 2
            with pytest.raises(DBAPIError, match="immutable"):
                connection.execute(text(f"UPDATE trips SET driver_id = {driver}, {change} WHERE seq = 1"))
            connection.rollback()
            assert connection.execute(text("SELECT count(*) FROM trips WHERE driver_id IS NULL")).scalar() == 2
    finally:
        engine.dispose()
