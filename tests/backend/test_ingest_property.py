"""Property: no generated upload makes POST /api/v1/trips answer 5xx or store a value outside the
bounds of backend/api/bounds.py (issue 15, item 5).

Hypothesis generates trip records (times from year 1 to 9999 and near the bounds, numbers of any
size, floats up to 1e308, integers of thousands of digits, junk text) and headers (timestamps
of any shape, the device's real signature or garbage). Most requests are signed with the key of
a device enrolled through the API, so that they reach validation and ingest, not only the
signature check. The database persists across examples; each example checks the trips it stored.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from backend.api import bounds
from backend.db import db
from backend.models.fleet import Device
from backend.models.trips import Trip, TripTrack
from tests.backend.fleet_helpers import GENESIS, chain_hash, enrolled_device, iso, make_record

NOW = datetime.now(timezone.utc)
ENROLLED = datetime(2026, 1, 1, tzinfo=timezone.utc)  # enrolled_device's default: assigned_from


@pytest.fixture(autouse=True)
def sealing_key_file(app, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc)


times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(_utc).map(iso),
    st.datetimes(min_value=(ENROLLED - timedelta(days=40)).replace(tzinfo=None),
                 max_value=(NOW + timedelta(hours=1)).replace(tzinfo=None)).map(_utc).map(iso),
    st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-02-30T07:00:00Z",
                     "2026-03-02T07:30:00.000Z", "2026-03-02 07:30:00"]),
    st.text(max_size=25),
)
kilometres = st.one_of(
    st.floats(min_value=0, max_value=6_000), st.floats(min_value=0, max_value=2e7),
    st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=-10, max_value=10**400),
    st.sampled_from([1e308, -0.0, 5000.0, 5000.000001, 10_000_000.0]),
)
coordinates = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=-10**30, max_value=10**30),
                        st.floats(min_value=-90, max_value=90))
junk = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=10), lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=6)
positions = st.one_of(st.none(), st.lists(coordinates, min_size=2, max_size=2), junk)


def _same_time(body: dict, moment: str) -> None:
    body["started_at"] = body["ended_at"] = moment
    body["track"] = [[moment, lat, lon] for _, lat, lon in body["track"]]


def _km(body: dict, km) -> None:
    body["distance_km"] = km
    if isinstance(km, (int, float)) and not isinstance(km, bool) and abs(km) < 1e300:
        body["odometer_end_km"] = body["odometer_start_km"] + km


# member (or a consistent group of members) -> what may replace it
POISON = {
    "started_at": (times, None), "ended_at": (times, None), "times": (times, _same_time),
    "distance_km": (kilometres, None), "km": (kilometres, _km),
    "odometer_start_km": (kilometres, None), "odometer_end_km": (kilometres, None),
    "start": (positions, None), "end": (positions, None),
    "track": (st.lists(st.tuples(times, coordinates, coordinates).map(list), max_size=3), None),
    "gaps": (st.lists(st.fixed_dictionaries({"started_at": times, "ended_at": times, "distance_km": kilometres,
                                             "bridged": st.booleans()}), max_size=2), None),
    "seq": (st.integers(min_value=-5, max_value=2**40), None), "v": (st.sampled_from([2, 10**30, "1"]), None),
    "mode": (st.sampled_from(["private", "commute"]), None),
    "trip_id": (st.just("6f1c1c5e-2a57-4f8e-9a55-5b0c7f2f0d11"), None),  # the same id in every example
    "flags": (st.lists(st.sampled_from(["power_loss", "gps_gap", "Bad Flag"]), max_size=2), None),
    "junk": (junk, None),
}


@st.composite
def records(draw, seq: int) -> dict:
    """A valid record of a day inside the bounds, with 0 to 2 members poisoned."""
    started = _utc(draw(st.datetimes(min_value=(ENROLLED - timedelta(days=29)).replace(tzinfo=None),
                                     max_value=(NOW - timedelta(days=1)).replace(tzinfo=None))))
    body = {k: v for k, v in make_record(seq, GENESIS, started=started, odometer=draw(st.floats(0, 900_000)),
                                         km=draw(st.floats(0, 4_000))).items() if k != "hash"}
    for member in draw(st.lists(st.sampled_from(sorted(POISON)), max_size=2, unique=True)):
        strategy, apply = POISON[member]
        value = draw(strategy)
        if apply is not None:
            apply(body, value)
        elif member == "junk":
            body[draw(st.sampled_from(sorted(body)))] = value
        else:
            body[member] = value
    return {**body, "hash": chain_hash(GENESIS, body)}


@st.composite
def uploads(draw) -> tuple[bytes, str, str]:
    """(body, timestamp, signature kind)."""
    batch = [draw(records(seq)) for seq in range(1, draw(st.integers(min_value=1, max_value=3)) + 1)]
    text = json.dumps({"trips": batch}, allow_nan=True)
    member = draw(st.sampled_from([None, None, None, "distance_km", "odometer_start_km", "seq"]))
    if member:
        # An integer too long for a float, or for Python's int() (4300 digits): JSON allows it.
        digits = "9" * draw(st.integers(min_value=300, max_value=6000))
        text = re.sub(rf'"{member}": [^,}}\]]+', lambda _: f'"{member}": {digits}', text, count=1)
    timestamp = "now" if draw(st.integers(0, 4)) else draw(st.one_of(
        st.sampled_from(["999999999999", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "1e9", "-1",
                         "0000-01-01T00:00:00Z", "99999999999999999999"]),
        st.integers(min_value=0, max_value=10**15).map(str),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
            lambda d: d.strftime("%Y-%m-%dT%H:%M:%S") + draw(st.sampled_from(["Z", "+23:59", "-23:59", "+00:00"]))),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=30),
    ))
    return text.encode("utf-8"), timestamp, "garbage" if not draw(st.integers(0, 7)) else "valid"


def _last_trip_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.max(Trip.id))) or 0


def _stored_out_of_bounds(app, device_id: str, after_trip_id: int) -> list[str]:
    """Trips stored after `after_trip_id` (by this example) with a value outside the bounds."""
    with app.app_context():
        enrolled = db.session.get(Device, device_id).enrolled_at
        earliest = enrolled - bounds.BEFORE_ENROLLMENT
        latest = datetime.now(timezone.utc) + timedelta(seconds=app.config.get("API_TIMESTAMP_WINDOW_SECONDS", 300))
        wrong = []
        for trip in db.session.scalars(select(Trip).where(Trip.id > after_trip_id)):
            if not 0 <= trip.distance_km <= bounds.MAX_TRIP_KM:
                wrong.append(f"trip {trip.id}: distance_km {trip.distance_km}")
            for value in (trip.odometer_start_km, trip.odometer_end_km):
                if not 0 <= value <= bounds.MAX_ODOMETER_KM:
                    wrong.append(f"trip {trip.id}: odometer {value}")
            for moment in (trip.started_at, trip.ended_at):
                if not earliest <= moment <= latest:
                    wrong.append(f"trip {trip.id}: time {moment}")
        for point in db.session.scalars(select(TripTrack).where(TripTrack.trip_id > after_trip_id)):
            if not earliest <= point.at <= latest:
                wrong.append(f"track point of trip {point.trip_id}: time {point.at}")
        return wrong


@pytest.fixture
def device(app, client, make_user):
    make_user("daan@example.nl", "driver", name="Daan")
    return enrolled_device(app, client, driver_email="daan@example.nl", assigned_from=ENROLLED.date().isoformat())


def test_no_generated_upload_gives_a_5xx_or_stores_a_value_out_of_bounds(app, client, device):
    counter = itertools.count()
    answered: dict[int, int] = {}

    @settings(max_examples=60,
              suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
    @given(uploads())
    def upload(drawn: tuple[bytes, str, str]) -> None:
        body, timestamp, signature = drawn
        if timestamp == "now":
            # Unique per example, so the replay check never hides what ingest would do.
            timestamp = f"{time.time() + next(counter) / 1000:.3f}"
        headers = device.headers(body, timestamp=timestamp)
        if signature == "garbage":
            headers["X-Ritbox-Signature"] = base64.b64encode(hashlib.sha512(body).digest()).decode()
        before = _last_trip_id(app)
        response = client.post("/api/v1/trips", data=body, headers=headers)
        answered[response.status_code] = answered.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.data[:500]
        assert response.is_json and "error" in response.get_json() or response.status_code == 200, response.data[:500]
        assert _stored_out_of_bounds(app, device.device_id, before) == []

    upload()
    # The generator reaches ingest, not only the signature check.
    assert answered.get(400, 0) > 0 and answered.get(200, 0) > 0, answered
