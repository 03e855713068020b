"""The device's word is kept (issue #14, item 4; docs/access.md, "The device's word").

Each trip keeps the body the device hashed and the device's own signature of its hash;
`flask --app backend trips verify` recomputes every chain from those bodies and checks the
signatures and the columns. Tampering is done in SQL as someone with database access would
(SQLite through a plain sqlite3 connection with foreign keys off and the triggers dropped;
PostgreSQL as the tables' owner with the triggers disabled), and the command names the trip.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from backend.db import db
from tests.backend.access_support import make_people, user
from tests.backend.test_checkpoints import _drop_triggers, owner_sql
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago


@pytest.fixture
def world(app, client, make_user):
    """Five trips of one device: business, private mode, and one business trip the driver then
    classified private (its body now sealed in trip_reseals), and a gap the device declared."""
    from backend.trips import revisions

    people = make_people(make_user)
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from="2025-01-01")
    ids = factory.upload(TripSpec(days_ago(6)), TripSpec(days_ago(5), mode="private"), TripSpec(days_ago(4)))
    factory.seq += 1  # a record that never arrives: a chain gap the backend declared at ingest
    ids += factory.upload(TripSpec(days_ago(3)), TripSpec(days_ago(2)))
    with app.app_context():
        revisions.revise(user(people.driver), [ids[2]], {"classification": "private"})  # sealed now
        assert db.session.execute(text("SELECT body FROM trips WHERE id = :id"), {"id": ids[2]}).scalar() \
            == '{"sealed":"trip_reseals"}'
    return ids


def _verify(runner):
    return runner.invoke(args=["trips", "verify"])


def _sql(database_url: str, *statements: str) -> None:
    owner_sql(database_url, *_drop_triggers(database_url, "trips"), *statements)


def test_untouched_trips_verify(world, runner):
    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert "OK: 5 trips of 1 device(s)" in result.output
    assert "1 sealed bodies opened" in result.output


def test_a_changed_km_is_named(world, runner, database_url):
    _sql(database_url, f"UPDATE trips SET distance_km = 2.5, odometer_end_km = odometer_start_km + 2.5 "
                       f"WHERE id = {world[1]}")
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"the first: trip {world[1]} " in result.output
    assert "odometer_end_km, distance_km differ from what the device signed" in result.output


def test_a_deleted_trip_is_named(world, runner, database_url):
    owner_sql(database_url, *_drop_triggers(database_url, "trip_tracks"), *_drop_triggers(database_url, "trips"),
              f"DELETE FROM trip_tracks WHERE trip_id = {world[1]}", f"DELETE FROM trips WHERE id = {world[1]}")
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"the first: trip {world[2]} " in result.output
    assert "the trips before it (seq 2) are missing and no gap is declared" in result.output


def test_a_deleted_last_trip_is_named(world, runner, database_url):
    owner_sql(database_url, *_drop_triggers(database_url, "trip_tracks"), *_drop_triggers(database_url, "trips"),
              f"DELETE FROM trip_tracks WHERE trip_id = {world[4]}", f"DELETE FROM trips WHERE id = {world[4]}")
    result = _verify(runner)
    assert result.exit_code == 1
    assert "its chain head is seq 6, but the last stored trip is seq 5" in result.output


def test_a_changed_body_is_named(world, runner, database_url):
    _sql(database_url, f"UPDATE trips SET body = replace(body, '\"distance_km\":12.5', '\"distance_km\":2.5') "
                       f"WHERE id = {world[0]}")
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"the first: trip {world[0]} " in result.output
    assert "the body is not what the device hashed" in result.output


def test_a_rewritten_body_with_recomputed_hashes_is_named(app, world, runner, database_url):
    """Body, hash and every later prev_hash rewritten consistently: only the device's
    signature, which the database cannot make, gives it away."""
    import hashlib
    import json

    with app.app_context():
        rows = db.session.execute(text("SELECT id, prev_hash, body FROM trips ORDER BY seq")).all()
    statements, prev = [], None
    for trip_id, prev_hash, body in rows:
        if prev is not None and trip_id != world[2]:
            prev_hash = prev
        if trip_id == world[0]:
            changed = json.loads(body)
            changed["distance_km"], changed["odometer_end_km"] = 2.5, changed["odometer_start_km"] + 2.5
            body = json.dumps(changed, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256((prev_hash + body).encode("ascii")).hexdigest() if body[2:8] != "sealed" else None
        if digest is None:
            prev = None
            continue
        statements.append(f"UPDATE trips SET body = '{body}', prev_hash = '{prev_hash}', record_hash = '{digest}', "
                          f"distance_km = {json.loads(body)['distance_km']}, "
                          f"odometer_end_km = {json.loads(body)['odometer_end_km']} WHERE id = {trip_id}")
        prev = digest
    _sql(database_url, *statements)
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"the first: trip {world[0]} (device" in result.output
    assert "the device's signature does not hold" in result.output


def test_a_changed_sealed_trip_is_named(world, runner, database_url):
    """The trip classified private: its columns are checked against the body opened from the seal."""
    _sql(database_url, f"UPDATE trips SET odometer_start_km = odometer_start_km + 1 WHERE id = {world[2]}")
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"the first: trip {world[2]} " in result.output
    assert "odometer_start_km differ" in result.output


def test_a_record_with_a_wrong_signature_is_refused_at_upload(app, client, make_user):
    make_user("eva@example.nl", "driver")
    factory = TripFactory(app, client, driver_email="eva@example.nl")
    from tests.backend.trip_factory import record
    rec = record(1, "0" * 64, TripSpec(days_ago(3)), 100.0, None)
    signed = factory.device.sign_record({k: v for k, v in rec.items() if k != "hash"})
    signed["distance_km"] = 1.0  # the body changed after signing (no `hash` sent: the body's is checked)
    response = factory.device.post(client, [signed])
    assert response.status_code == 400
    assert response.get_json()["field"] == "trips[0].signature"
