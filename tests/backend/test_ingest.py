"""POST /api/v1/trips: signed, validated, idempotent, chain-verified; every bad input is answered
and stores nothing."""
from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from backend.db import db
from backend.models.fleet import ApiRequestSeen
from backend.models.trips import ChainEvent, Trip, TripTrack
from tests.backend.fleet_helpers import (GENESIS, DeviceClient, canonical, chain_hash, enrolled_device, make_chain,
                                         make_record)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def sealing_key_file(app, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")


@pytest.fixture
def device(app, client, make_user):
    make_user("daan@example.nl", "driver", name="Daan")
    return enrolled_device(app, client, driver_email="daan@example.nl", assigned_from="2026-01-01")


def _counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(Trip)),
                db.session.scalar(select(func.count()).select_from(TripTrack)),
                db.session.scalar(select(func.count()).select_from(ChainEvent)))


def _trips(app) -> list[Trip]:
    with app.app_context():
        rows = db.session.scalars(select(Trip).order_by(Trip.seq, Trip.id)).all()
        db.session.expunge_all()
        return rows


def _events(app) -> list[tuple[str, int, int]]:
    with app.app_context():
        return [(e.kind, e.seq_from, e.seq_to) for e in db.session.scalars(select(ChainEvent).order_by(ChainEvent.id))]


# ---------------------------------------------------------------------------------- chain rules

def test_the_backend_chain_matches_the_test_vector_in_docs_device_store():
    from backend.ingest import chain
    text = (ROOT / "docs" / "device-store.md").read_text(encoding="utf-8")
    vector = text[text.index("## Test vector"):]
    blocks = re.findall(r"```(?:text|json)\n(.*?)\n```", vector, re.S)
    prev_hash, canonical_text, expected = blocks[0].strip(), blocks[1].strip(), blocks[2].strip()
    body = json.loads(canonical_text)
    assert chain.canonical_json(body) == canonical_text
    assert chain.record_hash(prev_hash, canonical_text) == expected
    head = chain.ChainHead()
    link = chain.link_next(head, {**body, "hash": expected})
    assert link.flags == [] and link.events == [] and head.seq == 1 and head.hash == expected


# ---------------------------------------------------------------------------------- happy path

def test_a_batch_is_stored_as_facts_with_driver_tracks_and_hashes(app, client, device):
    records = make_chain(3)
    response = device.post(client, records)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert (answer["stored"], answer["duplicates"], answer["highest_seq"]) == (3, 0, 3)
    assert answer["policy"] == {"private_positions": "sealed"}
    assert abs(datetime.fromisoformat(answer["server_time"].replace("Z", "+00:00"))
               - datetime.now(timezone.utc)) < timedelta(seconds=30)
    trips = _trips(app)
    assert [t.seq for t in trips] == [1, 2, 3]
    for trip, record in zip(trips, records):
        body = {k: v for k, v in record.items() if k != "hash"}
        assert trip.device_trip_id == record["trip_id"]
        assert trip.record_hash == record["hash"] and trip.prev_hash == record["prev_hash"]
        assert trip.body == canonical(body)
        assert (trip.odometer_start_km, trip.odometer_end_km, trip.distance_km) == (
            record["odometer_start_km"], record["odometer_end_km"], record["distance_km"])
        assert trip.started_at.strftime("%Y-%m-%dT%H:%M:%SZ") == record["started_at"]
        assert (trip.start_lat, trip.start_lon) == tuple(record["start"])
        assert trip.driver_id is not None and trip.ingest_flags == []
        assert trip.device_id == device.device_id
    assert _counts(app) == (3, 9, 0)


def test_a_private_trip_keeps_only_its_seals_and_a_trip_without_assignment_is_flagged(app, client, make_user):
    device = enrolled_device(app, client, kenteken="12-ABC-3")  # nobody assigned
    record = make_record(1, GENESIS, started=datetime(2026, 5, 1, 8, tzinfo=timezone.utc), odometer=50.0,
                         mode="private")
    assert device.post(client, [record]).status_code == 200
    (trip,) = _trips(app)
    assert trip.mode == "private"
    assert (trip.start_lat, trip.start_lon, trip.end_lat, trip.end_lon) == (None, None, None, None)
    assert trip.start_sealed == record["start_sealed"] and trip.end_sealed is None
    assert trip.driver_id is None and trip.ingest_flags == ["no_assignment"]
    assert _counts(app)[1] == 0


def test_the_driver_is_the_one_assigned_on_the_local_day_the_trip_started(app, client, make_user):
    from datetime import date

    from backend.fleet import service
    from backend.models import User
    make_user("a@example.nl", "driver")
    make_user("b@example.nl", "driver")
    with app.app_context():
        service.create_vehicle("GB-XJ-12", "VW", "Golf")
        service.create_assignment("a@example.nl", "GB-XJ-12", date(2026, 1, 1), date(2026, 3, 31))
        service.create_assignment("b@example.nl", "GB-XJ-12", date(2026, 4, 1))
        ids = {u.email: u.id for u in db.session.scalars(select(User))}
    device = enrolled_device(app, client, kenteken="GB-XJ-12")
    # 22:30 UTC on 31 March is 00:30 on 1 April in Amsterdam (summer time): driver b.
    first = make_record(1, GENESIS, started=datetime(2026, 3, 31, 21, 0, tzinfo=timezone.utc), odometer=1.0)
    second = make_record(2, first["hash"], started=datetime(2026, 3, 31, 22, 30, tzinfo=timezone.utc), odometer=20.0)
    assert device.post(client, [first, second]).status_code == 200
    assert [t.driver_id for t in _trips(app)] == [ids["a@example.nl"], ids["b@example.nl"]]


# ---------------------------------------------------------------------------- idempotency

def test_a_replayed_batch_counts_as_duplicates_and_stores_nothing_twice(app, client, device):
    records = make_chain(3)
    assert device.post(client, records).get_json()["stored"] == 3
    later = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    again = device.post(client, records, timestamp=later)
    assert again.status_code == 200
    assert (again.get_json()["stored"], again.get_json()["duplicates"], again.get_json()["highest_seq"]) == (0, 3, 3)
    more = make_chain(2, first_seq=4, prev_hash=records[-1]["hash"])
    mixed = device.post(client, records[1:] + more)
    assert (mixed.get_json()["stored"], mixed.get_json()["duplicates"], mixed.get_json()["highest_seq"]) == (2, 2, 5)
    assert _counts(app) == (5, 15, 0)


def test_the_exact_same_signed_request_twice_is_refused_as_a_replay(app, client, device):
    body = json.dumps({"trips": make_chain(1)}).encode()
    headers = device.headers(body)
    assert client.post("/api/v1/trips", data=body, headers=headers).status_code == 200
    replay = client.post("/api/v1/trips", data=body, headers=headers)
    assert replay.status_code == 401 and replay.get_json()["error"] == "replayed_request"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiRequestSeen)) == 1


# ---------------------------------------------------------------------------------- chain events

def test_a_missing_range_is_a_chain_gap_event_and_the_later_trips_are_still_stored(app, client, device):
    records = make_chain(6)
    assert device.post(client, records[:2]).get_json()["highest_seq"] == 2
    answer = device.post(client, records[4:]).get_json()
    assert (answer["stored"], answer["highest_seq"], answer["chain_events"]) == (2, 6, 1)
    assert _events(app) == [("chain_gap", 3, 4)]
    flags = {t.seq: t.ingest_flags for t in _trips(app)}
    assert flags == {1: [], 2: [], 5: ["chain_gap"], 6: []}
    # The missing trips arrive after all: they link in, and the gap stays on record.
    late = device.post(client, records[2:4]).get_json()
    assert (late["stored"], late["highest_seq"], late["chain_events"]) == (2, 6, 0)
    assert _events(app) == [("chain_gap", 3, 4)]
    assert [t.seq for t in _trips(app)] == [1, 2, 3, 4, 5, 6]


def test_a_prev_hash_that_does_not_link_is_a_chain_break_event(app, client, device):
    records = make_chain(2)
    assert device.post(client, records).status_code == 200
    forged = make_record(3, "ab" * 32, started=datetime(2026, 3, 3, 9, tzinfo=timezone.utc), odometer=1025.0)
    answer = device.post(client, [forged]).get_json()
    assert (answer["stored"], answer["highest_seq"], answer["chain_events"]) == (1, 3, 1)
    assert _events(app) == [("chain_break", 3, 3)]
    assert _trips(app)[-1].ingest_flags == ["chain_break"]


def test_a_hash_that_does_not_match_the_body_is_a_chain_break_and_the_trip_is_kept(app, client, device):
    (record,) = make_chain(1)
    record["distance_km"] = 99.0  # changed after hashing
    answer = device.post(client, [record]).get_json()
    assert answer["stored"] == 1
    (trip,) = _trips(app)
    assert trip.ingest_flags == ["chain_break", "hash_mismatch"]
    assert trip.record_hash == chain_hash(GENESIS, {k: v for k, v in record.items() if k != "hash"})
    assert _events(app) == [("chain_break", 1, 1)]


def test_a_first_upload_that_does_not_start_at_seq_1_records_the_gap(app, client, device):
    records = make_chain(3)
    assert device.post(client, records[2:]).get_json()["highest_seq"] == 3
    assert _events(app) == [("chain_gap", 1, 2)]


# ---------------------------------------------------------------------------------- bad input

def _post_bad(app, client, device, **kwargs):
    response = device.post(client, **kwargs)
    assert _counts(app) == (0, 0, 0)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiRequestSeen)) == 0
    return response


def test_a_wrong_signature_is_a_401(app, client, device):
    impostor = DeviceClient(device.device_id, Ed25519PrivateKey.generate())
    response = _post_bad(app, client, impostor, records=make_chain(1))
    assert response.status_code == 401 and response.get_json()["error"] == "bad_signature"


def test_a_body_changed_after_signing_is_a_401(app, client, device):
    body = json.dumps({"trips": make_chain(1)}).encode()
    headers = device.headers(body)
    response = client.post("/api/v1/trips", data=body.replace(b"12.5", b"13.5"), headers=headers)
    assert response.status_code == 401 and response.get_json()["error"] == "bad_signature"
    assert _counts(app) == (0, 0, 0)


def test_a_signature_for_another_path_is_a_401(app, client, device):
    body = json.dumps({"trips": make_chain(1)}).encode()
    response = client.post("/api/v1/trips", data=body, headers=device.headers(body, path="/api/v1/enroll"))
    assert response.status_code == 401 and response.get_json()["error"] == "bad_signature"


def test_a_stale_timestamp_is_a_401_with_the_server_time_so_the_device_can_correct_its_clock(app, client, device):
    records = make_chain(1)
    booted_at_1970 = "1970-01-01T00:02:13Z"
    response = _post_bad(app, client, device, records=records, timestamp=booted_at_1970)
    assert response.status_code == 401
    answer = response.get_json()
    assert answer["error"] == "stale_timestamp"
    # The device adds the offset to its clock and signs again: accepted.
    offset = answer["server_time_unix"] - 133
    corrected = str(133 + offset)
    retry = device.post(client, records, timestamp=corrected)
    assert retry.status_code == 200 and retry.get_json()["stored"] == 1


def test_the_timestamp_window_is_a_setting(app, client, device):
    app.config["API_TIMESTAMP_WINDOW_SECONDS"] = 10
    early = (datetime.now(timezone.utc) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _post_bad(app, client, device, records=make_chain(1), timestamp=early).get_json()["error"] == "stale_timestamp"


def test_missing_headers_and_an_unreadable_timestamp_are_401(app, client, device):
    body = json.dumps({"trips": make_chain(1)}).encode()
    bare = client.post("/api/v1/trips", data=body, headers={"Content-Type": "application/json"})
    assert bare.status_code == 401 and bare.get_json()["error"] == "unauthenticated"
    garbled = device.post(client, make_chain(1), timestamp="yesterday")
    assert garbled.status_code == 401 and garbled.get_json()["error"] == "bad_timestamp"
    assert _counts(app) == (0, 0, 0)


def test_unknown_pending_and_retired_devices_are_401(app, client, device):
    from backend.fleet import service
    stranger = DeviceClient("7b0c8a5e-0000-4000-8000-000000000000", device.key)
    assert _post_bad(app, client, stranger, records=make_chain(1)).get_json()["error"] == "unknown_device"
    with app.app_context():
        pending_id = service.create_device("GB-XJ-12").device.id
    pending = DeviceClient(pending_id, device.key)
    assert _post_bad(app, client, pending, records=make_chain(1)).status_code == 401
    with app.app_context():
        service.retire_device(device.device_id)
    response = _post_bad(app, client, device, records=make_chain(1))
    assert response.status_code == 401 and response.get_json()["error"] == "unknown_device"


def _mutations():
    def set_(path, value):
        def apply(batch):
            target = batch["trips"]
            *parents, last = path
            for key in parents:
                target = target[key]
            target[last] = value
        return apply

    def delete(path):
        def apply(batch):
            target = batch["trips"]
            *parents, last = path
            for key in parents:
                target = target[key]
            del target[last]
        return apply

    return [
        (set_([1, "seq"], "2"), "trips[1].seq"),
        (set_([0, "seq"], 0), "trips[0].seq"),
        (set_([0, "seq"], True), "trips[0].seq"),
        (set_([0, "trip_id"], "not-a-uuid"), "trips[0].trip_id"),
        (set_([0, "started_at"], "2026-03-02 07:30:00"), "trips[0].started_at"),
        (set_([0, "started_at"], "2026-02-30T07:30:00Z"), "trips[0].started_at"),
        (set_([0, "ended_at"], "2026-03-02T07:00:00Z"), "trips[0].ended_at"),
        (set_([0, "prev_hash"], "XYZ"), "trips[0].prev_hash"),
        (set_([0, "mode"], "commute"), "trips[0].mode"),
        (set_([0, "v"], 2), "trips[0].v"),
        (set_([0, "odometer_end_km"], 10.0), "trips[0].odometer_end_km"),
        (set_([0, "distance_km"], -1.0), "trips[0].distance_km"),
        (set_([0, "start"], [91.0, 5.0]), "trips[0].start[0]"),
        (set_([0, "start"], [52.0]), "trips[0].start"),
        (set_([0, "flags"], ["ok", "ok"]), "trips[0].flags"),
        (set_([0, "flags"], ["Bad Flag"]), "trips[0].flags[0]"),
        (set_([0, "gaps"], [{"started_at": "2026-03-02T07:31:00Z"}]), "trips[0].gaps[0].bridged"),  # first missing member, by name
        (set_([0, "track", 1, 2], "5.0"), "trips[0].track[1][2]"),
        (set_([0, "start_sealed"], {"v": 1}), "trips[0].start_sealed.alg"),
        (set_([0, "hash"], "short"), "trips[0].hash"),
        (set_([0, "extra"], 1), "trips[0].extra"),
        (delete([0, "gaps"]), "trips[0].gaps"),
        (set_([0, "mode"], "private"), "trips[0].start"),  # a plaintext private position
    ]


@pytest.mark.parametrize("mutate, field", _mutations(), ids=[m[1] + f"#{i}" for i, m in enumerate(_mutations())])
def test_a_malformed_batch_is_a_400_naming_the_field_and_stores_nothing(app, client, device, mutate, field):
    batch = {"trips": copy.deepcopy(make_chain(2))}
    mutate(batch)
    response = _post_bad(app, client, device, body=json.dumps(batch).encode())
    assert response.status_code == 400, response.get_json()
    answer = response.get_json()
    assert answer["error"] == "invalid_batch"
    assert answer["field"] == field, answer
    assert answer["reason"]


@pytest.mark.parametrize("body, field", [
    (b"not json", "$"),
    (b'{"trips": [{"seq": NaN}]}', "$"),
    (b'{"trips": [], "trips": []}', "$"),
    (b'{"trips": []}', "trips"),
    (b'{"trips": {}}', "trips"),
    (b'[]', "$"),
    (b'{"trip": []}', "$.trips"),
    ("{\"trips\": \"\u00e9\"}".encode("latin-1"), "$"),
])
def test_a_body_that_is_not_a_batch_is_a_400(app, client, device, body, field):
    response = _post_bad(app, client, device, body=body)
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_an_oversized_body_is_a_413(app, client, device):
    app.config["INGEST_MAX_BODY_BYTES"] = 2000
    response = _post_bad(app, client, device, records=make_chain(5))
    assert response.status_code == 413 and response.get_json()["error"] == "too_large"


def test_too_many_trips_in_one_batch_is_a_413(app, client, device):
    app.config["INGEST_MAX_BATCH_TRIPS"] = 3
    response = _post_bad(app, client, device, records=make_chain(4))
    assert response.status_code == 413 and response.get_json()["error"] == "batch_too_large"
    assert device.post(client, make_chain(3)).get_json()["stored"] == 3


# ---------------------------------------------------------------------------------- OpenAPI

def test_every_api_route_is_in_the_openapi_document(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    routes = [(re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")
              for method in rule.methods - {"HEAD", "OPTIONS"}]
    assert len(routes) >= 3
    for path, method in routes:
        assert method in document["paths"].get(path, {}), f"{method.upper()} {path} missing from openapi.json"
    schemes = document["components"]["securitySchemes"]
    assert {s["name"] for s in schemes.values()} == {"X-Ritbox-Device", "X-Ritbox-Timestamp", "X-Ritbox-Signature"}
    record = document["components"]["schemas"]["TripRecord"]
    doc_members = set(re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "docs" / "device-store.md").read_text(), re.M))
    flags = {"power_loss", "positions_dropped_no_key", "track_dropped_store_full"}  # the doc's flag table
    assert set(record["required"]) == doc_members - flags


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has one writer anyway
def test_a_change_of_the_cars_assignments_waits_for_an_upload_that_has_read_them(app, client, device, database_url,
                                                                                 monkeypatch):
    """PostgreSQL: an upload that has read the car's assignments to attribute its trips holds the
    car's row (share lock) until it commits, so a change of those assignments (which locks the
    row for update, then checks that no stored trip falls outside the new period) cannot slip in
    between and cut the period short under the trips being stored."""
    import threading

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from backend.models.fleet import Vehicle
    from backend.ingest import records as ingest

    with app.app_context():
        vehicle_id = db.session.scalar(select(Vehicle.id))
    attributed, go_on = threading.Event(), threading.Event()
    real_driver_for = ingest._driver_for

    def driver_for_then_pause(assignments, started_at):
        attributed.set()  # the assignments are read and used: hold the upload here
        go_on.wait(30)
        return real_driver_for(assignments, started_at)

    monkeypatch.setattr(ingest, "_driver_for", driver_for_then_pause)
    result: dict = {}
    uploader = threading.Thread(target=lambda: result.update(response=device.post(app.test_client(), make_chain(1))))
    uploader.start()
    engine = create_engine(database_url)
    try:
        assert attributed.wait(30)
        with engine.connect() as change:
            with pytest.raises(OperationalError, match="could not obtain lock"):
                change.execute(text("SELECT id FROM vehicles WHERE id = :id FOR UPDATE NOWAIT"), {"id": vehicle_id})
    finally:
        go_on.set()
        uploader.join(60)
        engine.dispose()
    assert result["response"].status_code == 200 and _counts(app)[0] == 1
