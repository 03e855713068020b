"""The contract between device and backend: they meet only in JSON over HTTP.

A real recording goes through the device CLI (`ritbox replay`) into a trip store; the device
enrolls at a served backend (device.enroll), uploads its pending records signed with its own key
over real HTTP, prunes what the backend acknowledged, and the backend then holds exactly those
trips, with the same times, odometer and distance, sealed private positions, and an intact chain.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
RITBOX = Path(sys.executable).parent / "ritbox"
NMEA = ROOT / "tests" / "data" / "nmea"
BATCH = 2  # small batches, so the upload takes several signed requests


def _replay(recording: str, store: Path, *extra: str) -> dict:
    result = subprocess.run([str(RITBOX), "replay", str(NMEA / recording), "--fast", "--store", str(store),
                             "--json", *extra], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _upload(base_url: str, store, key) -> list[dict]:
    from device import keys

    answers = []
    while True:
        pending = store.pending(limit=BATCH)
        if not pending:
            return answers
        body = json.dumps({"trips": [trip.record() for trip in pending]}).encode()
        timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = keys.signed_headers(store.device_id, "POST", "/api/v1/trips", body, key, timestamp)
        response = requests.post(base_url + "/api/v1/trips", data=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        answer = response.json()
        answers.append(answer)
        assert answer["highest_seq"] == pending[-1].seq
        store.acknowledge(answer["highest_seq"])


@pytest.mark.parametrize("recording, extra, expected_private", [
    ("leaflet-nmealayer__test.nmea", (), 0),
    # The Garmin 3-hour drive, with the privacy switch on for half an hour: several trips,
    # two of them private.
    ("dotmorten__NmeaSampleData.nmea",
     ("--private-from", "2005-09-26T00:30:00Z", "--private-until", "2005-09-26T01:00:00Z"), 2),
])
def test_a_replayed_recording_uploads_into_exactly_those_trips(app, live_server, make_user, tmp_path,
                                                                recording, extra, expected_private):
    from backend import sealing_keys
    from backend.db import db
    from backend.fleet import service
    from backend.models import User
    from backend.models.fleet import Device
    from backend.models.trips import ChainEvent, Trip, TripTrack
    from device import enroll, keys
    from device.store import Store

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    make_user("daan@example.nl", "driver")
    with app.app_context():
        service.create_vehicle("GB-XJ-12", "Volkswagen", "Golf")
        service.create_assignment("daan@example.nl", "GB-XJ-12", date(2005, 1, 1))
        token = service.create_device("GB-XJ-12").token
        driver_id = db.session.scalar(select(User.id).where(User.email == "daan@example.nl"))

    state = tmp_path / "state"
    store_path = state / "ritbox.db"
    enrolled = enroll.enroll(live_server, token, state, store_path=store_path)
    with app.app_context():
        # The recordings are of 2005 and 2016: the device counts as enrolled before them (the
        # backend refuses trips dated long before a device's enrollment, backend/api/bounds.py).
        db.session.get(Device, enrolled.device_id).enrolled_at = datetime(2005, 1, 1, tzinfo=timezone.utc)
        db.session.commit()
    replay = _replay(recording, store_path, *extra)
    assert len(replay["trips"]) >= 1

    key = keys.load_or_create_key(state)
    with Store(store_path) as store:
        assert store.device_id == enrolled.device_id
        local = list(store.closed_trips())
        assert [t.seq for t in local] == list(range(1, len(replay["trips"]) + 1))
        answers = _upload(live_server, store, key)
        assert sum(a["stored"] for a in answers) == len(local)
        assert all(a["duplicates"] == 0 and a["chain_events"] == 0 for a in answers)
        assert store.count_pending() == 0

    with app.app_context():
        trips = db.session.scalars(select(Trip).order_by(Trip.seq)).all()
        assert [t.device_trip_id for t in trips] == [t.trip_id for t in local]
        assert db.session.scalars(select(ChainEvent)).all() == []
        previous = "0" * 64
        for trip, stored, summary in zip(trips, local, replay["trips"]):
            body = json.loads(stored.body)
            assert trip.record_hash == stored.hash and trip.body == stored.body
            assert trip.prev_hash == previous  # the chain is intact on the backend
            previous = trip.record_hash
            assert trip.device_id == enrolled.device_id and trip.driver_id == driver_id
            assert trip.ingest_flags == []
            # What the device CLI reported is what the backend holds.
            assert trip.started_at.strftime("%Y-%m-%dT%H:%M:%SZ") == summary["started_at"]
            assert trip.ended_at.strftime("%Y-%m-%dT%H:%M:%SZ") == summary["ended_at"]
            assert (trip.distance_km, trip.odometer_start_km, trip.odometer_end_km) == (
                summary["distance_km"], summary["odometer_start_km"], summary["odometer_end_km"])
            assert trip.mode == summary["mode"] and trip.flags == summary["flags"]
            points = db.session.scalars(select(TripTrack).where(TripTrack.trip_id == trip.id)
                                        .order_by(TripTrack.idx)).all()
            assert [[p.at.strftime("%Y-%m-%dT%H:%M:%S"), p.lat, p.lon] for p in points] == [
                [t[:19], lat, lon] for t, lat, lon in body["track"]]
            if trip.mode == "private":
                assert (trip.start_lat, trip.end_lat, points) == (None, None, [])
                assert trip.start_sealed is not None and trip.start_sealed["kid"] == enrolled.sealing_kid
            else:
                assert [trip.start_lat, trip.start_lon] == body["start"]
        assert sum(t.mode == "private" for t in trips) == expected_private
        # The backend can open what the device sealed, with the key it handed out at enrollment.
        for trip in trips:
            if trip.mode == "private":
                private = sealing_keys.private_key(trip.start_sealed["kid"])
                position = _open(private, trip.start_sealed)
                assert len(position) == 2 and -90 <= position[0] <= 90

    # Uploading the same records again (a device that lost the answer) stores nothing twice.
    with Store(store_path) as store:
        kept = [t.record() for t in store.closed_trips()]  # the chain head stays on the device
    body = json.dumps({"trips": kept}).encode()
    headers = keys.signed_headers(enrolled.device_id, "POST", "/api/v1/trips", body, key,
                                  str(int(datetime.now(timezone.utc).timestamp())))
    again = requests.post(live_server + "/api/v1/trips", data=body, headers=headers, timeout=30).json()
    assert (again["stored"], again["duplicates"]) == (0, len(kept))


def _open(private_key, envelope: dict) -> list[float]:
    """docs/sealed-box.md, "Opening (backend)"."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    epk = base64.b64decode(envelope["epk"])
    recipient = private_key.public_key().public_bytes_raw()
    okm = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ritbox-sealed-box-v1" + epk + recipient
               ).derive(private_key.exchange(X25519PublicKey.from_public_bytes(epk)))
    return json.loads(ChaCha20Poly1305(okm).decrypt(base64.b64decode(envelope["nonce"]),
                                                    base64.b64decode(envelope["ct"]), None))
