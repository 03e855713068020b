"""POST /api/v1/trips refuses poison (issue 15, item 5): timestamps of any shape, integers of any
length, dates and distances outside the bounds of backend/api/bounds.py. Each refusal is a 4xx
with a JSON message and stores nothing (the trip tables refuse UPDATE and DELETE: what is stored
stays)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from backend.db import db
from backend.models.fleet import ApiRequestSeen, Device
from backend.models.trips import ChainEvent, Trip, TripTrack
from tests.backend.fleet_helpers import GENESIS, DeviceClient, chain_hash, enrolled_device, iso, make_record


@pytest.fixture(autouse=True)
def sealing_key_file(app, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")


@pytest.fixture
def device(app, client, make_user):
    make_user("daan@example.nl", "driver", name="Daan")
    return enrolled_device(app, client, driver_email="daan@example.nl", assigned_from="2026-01-01")


def _stored(app) -> tuple[int, int, int, int]:
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(table))
                     for table in (Trip, TripTrack, ChainEvent, ApiRequestSeen))


def _refused(app, response, status: int, error: str) -> dict:
    assert response.status_code == status, response.data[:300]
    assert response.is_json, response.data[:300]
    answer = response.get_json()
    assert answer["error"] == error and answer["message"], answer
    assert _stored(app) == (0, 0, 0, 0)
    return answer


def _rehashed(record: dict, **changes) -> dict:
    body = {k: v for k, v in record.items() if k != "hash"} | changes
    return {**body, "hash": chain_hash(record["prev_hash"], body)}


def _one(started: datetime, **kwargs) -> dict:
    return make_record(1, GENESIS, started=started, odometer=1000.0, **kwargs)


# ---------------------------------------------------------------------------------- timestamps

@pytest.mark.parametrize("timestamp", [
    "999999999999",                      # Unix seconds in the year 33658
    "9999-12-31T23:59:59-23:59",         # a valid date whose UTC is past year 9999
    "0001-01-01T00:00:00+23:59",         # ... and one whose UTC is before year 1
    "0000-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
    "99999999999999999999", "1" * 5000, "1e9", "-1", "2026-03-02T07:30:00+99:99",
    "\u0661\u0667\u0669\u0665\u0664\u0666\u0662\u0668\u0660\u0660",  # Arabic-Indic digits
])
def test_a_timestamp_of_any_shape_is_a_401_checked_before_the_device_or_the_signature(app, client, device,
                                                                                       timestamp):
    body = json.dumps({"trips": [_one(datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc))]}).encode()
    response = client.post("/api/v1/trips", data=body, headers=device.headers(body, timestamp=timestamp))
    answer = _refused(app, response, 401, "bad_timestamp")
    assert "server_time_unix" in answer  # the device corrects its clock from it
    # Checked before any database work: an unknown device gets the same answer.
    stranger = DeviceClient("7b0c8a5e-0000-4000-8000-000000000000", device.key)
    response = client.post("/api/v1/trips", data=body, headers=stranger.headers(body, timestamp=timestamp))
    _refused(app, response, 401, "bad_timestamp")


# ---------------------------------------------------------------------------------- numbers

@pytest.mark.parametrize("digits", [5000, 400, 20])
@pytest.mark.parametrize("member", ["distance_km", "odometer_start_km", "seq", "v"])
def test_an_integer_of_any_length_is_a_400(app, client, device, member, digits):
    record = _one(datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc))
    placeholder = 123456789.5
    body = json.dumps({"trips": [_rehashed(record, **{member: placeholder})]})
    body = body.replace(str(placeholder), "9" * digits).encode()
    assert ("9" * digits).encode() in body
    answer = _refused(app, device.post(client, body=body), 400, "invalid_batch")
    assert answer["field"] in ("$", f"trips[0].{member}"), answer


@pytest.mark.parametrize("changes, field", [
    ({"distance_km": 1e308, "odometer_end_km": 1000.0 + 1e308}, "trips[0].distance_km"),
    ({"odometer_start_km": 1e308, "odometer_end_km": 1e308}, "trips[0].odometer_start_km"),
    ({"odometer_end_km": 1e308}, "trips[0].odometer_end_km"),
    ({"distance_km": 5000.001, "odometer_end_km": 6000.001}, "trips[0].distance_km"),
    ({"odometer_start_km": 10_000_000.5, "odometer_end_km": 10_000_013.0}, "trips[0].odometer_start_km"),
    ({"odometer_end_km": 1000.0 + 5000.5}, "trips[0].odometer_end_km"),  # more km than one trip can have
    ({"gaps": [{"started_at": "2026-03-02T07:35:00Z", "ended_at": "2026-03-02T07:36:00Z",
                "distance_km": 1e308, "bridged": True}]}, "trips[0].gaps[0].distance_km"),
])
def test_distances_and_odometers_outside_physical_bounds_are_a_400(app, client, device, changes, field):
    record = _rehashed(_one(datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc)), **changes)
    answer = _refused(app, device.post(client, [record]), 400, "invalid_batch")
    assert answer["field"] == field, answer


# ---------------------------------------------------------------------------------- dates

def _enrolled_at(app, device) -> datetime:
    with app.app_context():
        return db.session.get(Device, device.device_id).enrolled_at


def _dated(started: datetime, ended: datetime | None = None) -> dict:
    record = _one(datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc), track=False)
    return _rehashed(record, started_at=iso(started), ended_at=iso(ended or started + timedelta(minutes=20)))


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"])
def test_a_trip_dated_far_outside_the_calendar_is_a_400(app, client, device, when):
    record = _one(datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc), track=False)
    record = _rehashed(record, started_at=when, ended_at=when)
    answer = _refused(app, device.post(client, [record]), 400, "invalid_batch")
    assert answer["field"] == "trips[0].started_at", answer


def test_a_trip_dated_before_the_enrollment_margin_is_a_400_and_one_inside_it_is_stored(app, client, device):
    enrolled = _enrolled_at(app, device)
    too_early = _dated(enrolled - timedelta(days=30, minutes=1))
    answer = _refused(app, device.post(client, [too_early]), 400, "invalid_batch")
    assert answer["field"] == "trips[0].started_at" and "enrol" in answer["reason"], answer
    inside = _dated(enrolled - timedelta(days=29, hours=23))
    response = device.post(client, [inside])
    assert response.status_code == 200 and response.get_json()["stored"] == 1, response.get_json()


def test_a_trip_in_the_future_beyond_the_clock_skew_is_a_400(app, client, device):
    now = datetime.now(timezone.utc)
    future = _dated(now + timedelta(minutes=6), now + timedelta(minutes=7))
    answer = _refused(app, device.post(client, [future]), 400, "invalid_batch")
    assert answer["field"] == "trips[0].started_at", answer
    ends_later = _dated(now - timedelta(minutes=10), now + timedelta(hours=1))
    answer = _refused(app, device.post(client, [ends_later]), 400, "invalid_batch")
    assert answer["field"] == "trips[0].ended_at", answer
    just_now = _dated(now - timedelta(minutes=20), now + timedelta(seconds=60))  # inside the skew
    assert device.post(client, [just_now]).status_code == 200


def test_track_and_gap_times_are_bounded_like_the_trip(app, client, device):
    record = _one(datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc))
    track = [list(point) for point in record["track"]]
    track[1][0] = "9999-12-31T23:59:59Z"
    answer = _refused(app, device.post(client, [_rehashed(record, track=track)]), 400, "invalid_batch")
    assert answer["field"] == "trips[0].track[1][0]", answer
    gap = {"started_at": "0001-01-01T00:00:00Z", "ended_at": "2026-03-02T07:36:00Z", "distance_km": 1.0,
           "bridged": True}
    answer = _refused(app, device.post(client, [_rehashed(record, gaps=[gap])]), 400, "invalid_batch")
    assert answer["field"] == "trips[0].gaps[0].started_at", answer


# ---------------------------------------------------------------------------------- re-sent trip ids

def _audit_kinds(app) -> list[tuple[str, dict]]:
    from backend.models.audit import AuditEvent
    with app.app_context():
        return [(e.event_type, json.loads(e.details)) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def test_a_trip_id_sent_again_with_another_body_is_a_409_audited_and_nothing_is_stored(app, client, device):
    from tests.backend.fleet_helpers import make_chain
    first, second, third = make_chain(3)
    assert device.post(client, [first, second]).get_json()["stored"] == 2
    before = _stored(app)

    altered = _rehashed(second, distance_km=second["distance_km"] + 1, odometer_end_km=second["odometer_end_km"] + 1)
    response = device.post(client, [altered, third])
    assert response.status_code == 409 and response.is_json, response.data[:300]
    answer = response.get_json()
    assert answer["error"] == "trip_id_conflict" and answer["message"], answer
    assert answer["field"] == "trips[0].trip_id" and answer["reason"], answer
    assert _stored(app) == before  # not the altered record, not the fresh one beside it
    kinds = _audit_kinds(app)
    assert kinds[-1][0] == "trip_id_conflict", kinds
    assert kinds[-1][1]["trip_id"] == second["trip_id"] and kinds[-1][1]["seq"] == 2, kinds

    # The same body again (with or without its hash member) is still a plain duplicate.
    plain = {k: v for k, v in second.items() if k != "hash"}
    again = device.post(client, [first, plain, third])
    assert again.status_code == 200, again.get_json()
    assert (again.get_json()["stored"], again.get_json()["duplicates"]) == (1, 2)


def test_one_trip_id_twice_in_a_batch_with_different_bodies_is_a_409(app, client, device):
    from tests.backend.fleet_helpers import make_chain
    first, second = make_chain(2)
    twin = _rehashed(second, trip_id=first["trip_id"])
    response = device.post(client, [first, twin])
    assert response.status_code == 409 and response.get_json()["error"] == "trip_id_conflict"
    assert response.get_json()["field"] == "trips[1].trip_id"
    assert _stored(app)[:3] == (0, 0, 0)
    assert [kind for kind, _ in _audit_kinds(app)].count("trip_id_conflict") == 1


# ---------------------------------------------------------------------------------- every /api/ error is JSON

@pytest.mark.parametrize("method, path, status, error", [
    ("GET", "/api/v1/trips", 405, "method_not_allowed"),
    ("PUT", "/api/v1/enroll", 405, "method_not_allowed"),
    ("POST", "/api/v1/openapi.json", 405, "method_not_allowed"),
    ("GET", "/api/v1/nothing-here", 404, "not_found"),
    ("GET", "/api/v2/trips", 404, "not_found"),
])
def test_every_error_of_an_api_route_is_json(app, client, method, path, status, error):
    response = client.open(path, method=method)
    assert response.status_code == status and response.is_json, response.data[:300]
    answer = response.get_json()
    assert answer["error"] == error and answer["message"], answer


def test_an_unexpected_error_in_an_api_route_is_a_json_500(app, client, device, monkeypatch):
    from backend.api import views

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the error handler answers
    monkeypatch.setattr(views, "ingest", broken)
    response = device.post(client, [_one(datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc))])
    assert response.status_code == 500 and response.is_json, response.data[:300]
    assert response.get_json()["error"] == "internal_error"
    assert "a bug" not in response.get_data(as_text=True)  # no internals to the caller


def test_an_over_long_body_is_a_413_however_it_is_sent(app, live_server, device):
    """Over real HTTP: with a Content-Length and chunked (no length), 20 MB against 16 MiB."""
    import requests
    size = 20 * 1024 * 1024
    chunk = b" " * (1024 * 1024)
    headers = device.headers(b"")  # the signature is not even looked at
    declared = requests.post(live_server + "/api/v1/trips", data=b" " * size, headers=headers, timeout=60)
    assert declared.status_code == 413 and declared.json()["error"] == "too_large", declared.text[:300]
    chunked = requests.post(live_server + "/api/v1/trips", data=(chunk for _ in range(size // len(chunk))),
                            headers=headers, timeout=60)
    assert chunked.status_code == 413 and chunked.json()["error"] == "too_large", chunked.text[:300]
    assert _stored(app) == (0, 0, 0, 0)


@pytest.mark.parametrize("device_id", ["\x00", "7b0c8a5e-0000-4000-8000-00000000000\x00", "x" * 5000, "ü"])
def test_a_device_id_that_is_no_uuid_is_an_unknown_device(app, client, device, device_id):
    body = json.dumps({"trips": [_one(datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc))]}).encode()
    headers = {**device.headers(body), "X-Ritbox-Device": device_id}
    _refused(app, client.post("/api/v1/trips", data=body, headers=headers), 401, "unknown_device")
