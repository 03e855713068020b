"""The store: chained records, sealed private trips, batched writes, crash safety."""
from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

import pynmea2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device import chain, sealing
from device.model import Gap, PrivatePositions, TrackPoint, TripMode, TripRecord
from device.store import (
    CHUNK_POINT,
    FLAG_NO_KEY,
    FLAG_POWER_LOSS,
    FLAG_STORE_FULL,
    SCHEMA_VERSION,
    Store,
    StoreError,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "nmea"
DOC = REPO / "docs" / "device-store.md"
GENESIS = "0" * 64


def real_drive(name: str = "leaflet-nmealayer__test.nmea") -> list[TrackPoint]:
    """Valid RMC fixes of a real recording (6 min of city driving at 1 Hz)."""
    points = []
    for line in (DATA / name).read_text(encoding="ascii", errors="replace").splitlines():
        if "RMC" not in line:
            continue
        try:
            msg = pynmea2.parse(line.strip(), check=True)
        except pynmea2.ParseError:
            continue
        if msg.status == "A" and msg.datestamp and msg.timestamp:
            when = datetime.combine(msg.datestamp, msg.timestamp).replace(tzinfo=timezone.utc)
            points.append(TrackPoint(when, msg.latitude, msg.longitude))
    return points


DRIVE = real_drive()


def record_of(points: list[TrackPoint], mode: TripMode, odometer: float = 1000.0, **extra) -> TripRecord:
    distance = sum(
        _haversine(a, b) for a, b in zip(points, points[1:])
    )
    return TripRecord(
        started_at=points[0].time,
        ended_at=points[-1].time,
        start=(points[0].lat, points[0].lon),
        end=(points[-1].lat, points[-1].lon),
        distance_km=distance,
        odometer_start_km=odometer,
        odometer_end_km=odometer + distance,
        mode=mode,
        track=list(points[::30]) + [points[-1]] if mode is TripMode.BUSINESS else [],
        **extra,
    )


def _haversine(a: TrackPoint, b: TrackPoint) -> float:
    import math

    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def drive(store: Store, points: list[TrackPoint], mode: TripMode, odometer: float = 1000.0) -> None:
    """Feed a trip to the store the way the daemon does: open, per fix point + snapshot."""
    store.open_trip_started(points[0].time, (points[0].lat, points[0].lon), mode, odometer)
    km = 0.0
    for prev, point in zip([points[0], *points], points):
        km += _haversine(prev, point)
        if mode is TripMode.BUSINESS:
            store.add_point(point)
        store.save_progress(time=point.time, position=(point.lat, point.lon), distance_km=km)


def shifted(points: list[TrackPoint], by: timedelta) -> list[TrackPoint]:
    return [TrackPoint(p.time + by, p.lat, p.lon) for p in points]


@pytest.fixture
def key():
    return sealing.generate_private_key()


@pytest.fixture
def store(tmp_path: Path, key) -> Store:
    # The tightest flush interval allowed (5 s, 720 fsyncs/h): the tests count its commits.
    s = Store(tmp_path / "ritbox.db", flush_interval_s=5.0)
    s.set_sealing_key(sealing.public_key_raw(key))
    yield s
    s.close()


def raw_bytes(path: Path) -> bytes:
    """The database file and its WAL, as bytes on disk."""
    data = path.read_bytes()
    wal = Path(str(path) + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def plaintext_forms(lat: float, lon: float) -> list[bytes]:
    """Ways a position could leak: decimal text at several precisions, micro-degrees, packed floats."""
    forms: list[bytes] = []
    for value in (lat, lon):
        for text in (f"{value:.4f}", f"{value:.5f}", f"{value:.6f}", repr(value), repr(round(value, 6)),
                     str(int(round(value * 1e6)))):
            forms.append(text.encode())
        for v in (value, round(value, 6)):
            for fmt in ("<d", ">d", "<f", ">f"):
                forms.append(struct.pack(fmt, v))
    return forms


# ------------------------------------------------------------------------- records and the chain

def test_business_trip_round_trip(store: Store, tmp_path: Path) -> None:
    drive(store, DRIVE, TripMode.BUSINESS, odometer=12000.0)
    record = record_of(DRIVE, TripMode.BUSINESS, odometer=12000.0, flags=["z_flag", "a_flag", "a_flag"],
                       gaps=[Gap(DRIVE[10].time, DRIVE[20].time, 0.0512345, True)])
    stored = store.close_trip(record)

    assert (stored.seq, stored.prev_hash) == (1, GENESIS)
    assert stored.hash == hashlib.sha256((GENESIS + stored.body).encode("ascii")).hexdigest()
    body = json.loads(stored.body)
    assert json.dumps(body, sort_keys=True, separators=(",", ":")) == stored.body
    assert str(uuid.UUID(body["trip_id"], version=4)) == body["trip_id"] == stored.trip_id
    assert body["started_at"] == DRIVE[0].time.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["start"] == [round(DRIVE[0].lat, 6), round(DRIVE[0].lon, 6)]
    assert body["end"] == [round(DRIVE[-1].lat, 6), round(DRIVE[-1].lon, 6)]
    assert body["distance_km"] == round(record.distance_km, 3) > 1.0
    assert body["odometer_end_km"] == round(12000.0 + record.distance_km, 3)
    assert body["flags"] == ["a_flag", "z_flag"]
    assert body["gaps"] == [{"started_at": chain.iso_utc(DRIVE[10].time), "ended_at": chain.iso_utc(DRIVE[20].time),
                             "distance_km": 0.051, "bridged": True}]
    assert len(body["track"]) == len(record.track)
    assert body["track"][0] == [chain.iso_utc(DRIVE[0].time), round(DRIVE[0].lat, 6), round(DRIVE[0].lon, 6)]
    assert body["start_sealed"] is None and body["end_sealed"] is None and body["mode"] == "business"
    assert stored.record() == {**body, "hash": stored.hash}

    store.close()
    again = Store(tmp_path / "ritbox.db")
    assert again.pending(10) == [stored]
    assert again.chain_head() == (1, stored.hash)
    assert again.odometer_km == round(12000.0 + record.distance_km, 3)
    assert again.pending_open_trip() is None
    db = sqlite3.connect(tmp_path / "ritbox.db")
    assert db.execute("SELECT COALESCE(SUM(LENGTH(points)), 0) / 24 FROM open_chunks").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM open_trip").fetchone()[0] == 0
    again.close()


def test_records_chain_and_verify(store: Store) -> None:
    stored = [store.close_trip(record_of(shifted(DRIVE, timedelta(hours=i)), TripMode.BUSINESS)) for i in range(4)]
    assert [s.seq for s in stored] == [1, 2, 3, 4]
    for prev, cur in zip(stored, stored[1:]):
        assert cur.prev_hash == prev.hash == json.loads(cur.body)["prev_hash"]
    assert store.verify_chain() is None
    assert [s.seq for s in store.closed_trips()] == [1, 2, 3, 4]


TAMPERS = {
    "edited distance": ("UPDATE trips SET body = replace(body, '\"distance_km\":', '\"distance_km\":1') WHERE seq = 3", 3),
    "edited hash": ("UPDATE trips SET hash = '" + "a" * 64 + "' WHERE seq = 2", 2),
    "edited prev_hash": ("UPDATE trips SET prev_hash = '" + "b" * 64 + "' WHERE seq = 4", 4),
    "deleted middle": ("DELETE FROM trips WHERE seq = 3", 4),
    "deleted newest": ("DELETE FROM trips WHERE seq = 5", 5),
    "private made business": ("UPDATE trips SET body = replace(body, '\"private\"', '\"business\"') WHERE seq = 5", 5),
}


@pytest.mark.parametrize("tamper", TAMPERS, ids=list(TAMPERS))
def test_verify_chain_names_the_first_broken_record(tmp_path: Path, key, tamper: str) -> None:
    path = tmp_path / "ritbox.db"
    store = Store(path)
    store.set_sealing_key(sealing.public_key_raw(key))
    for i in range(5):
        mode = TripMode.PRIVATE if i == 4 else TripMode.BUSINESS
        store.close_trip(record_of(shifted(DRIVE, timedelta(hours=i)), mode))
    assert store.verify_chain() is None
    store.close()

    statement, broken = TAMPERS[tamper]
    db = sqlite3.connect(path)
    assert db.execute(statement).rowcount == 1
    db.commit()
    db.close()
    assert Store(path).verify_chain() == broken


def test_acknowledge_prunes_but_keeps_the_chain_head(store: Store, tmp_path: Path) -> None:
    stored = [store.close_trip(record_of(shifted(DRIVE, timedelta(hours=i)), TripMode.BUSINESS)) for i in range(5)]
    assert store.count_pending() == 5
    assert store.acknowledge(3) == 3
    assert [s.seq for s in store.pending(10)] == [4, 5]
    assert [s.seq for s in store.closed_trips()] == [4, 5]
    assert store.verify_chain() is None

    assert store.acknowledge(5) == 2
    assert store.count_pending() == 0
    assert [s.seq for s in store.closed_trips()] == [5]  # the head stays so the chain continues
    assert store.chain_head() == (5, stored[-1].hash)
    nxt = store.close_trip(record_of(shifted(DRIVE, timedelta(hours=9)), TripMode.BUSINESS))
    assert (nxt.seq, nxt.prev_hash) == (6, stored[-1].hash)
    assert store.verify_chain() is None

    # The pruned link is remembered: rewriting the oldest kept row is still caught.
    db = sqlite3.connect(tmp_path / "ritbox.db")
    db.execute("UPDATE trips SET prev_hash = ? WHERE seq = 5", ("c" * 64,))
    db.commit()
    db.close()
    assert store.verify_chain() == 5


def test_two_writers_on_one_file_do_not_fork_the_chain(store: Store, tmp_path: Path) -> None:
    """E.g. `ritbox replay --store` pointed at the daemon's file: the head is read in the transaction."""
    other = Store(tmp_path / "ritbox.db")
    seqs = []
    for i in range(4):
        writer = store if i % 2 == 0 else other
        seqs.append(writer.close_trip(record_of(shifted(DRIVE, timedelta(hours=i)), TripMode.BUSINESS)).seq)
    assert seqs == [1, 2, 3, 4]
    assert store.verify_chain() is None and other.verify_chain() is None
    assert store.chain_head() == other.chain_head()
    other.close()


def test_record_matches_the_documented_test_vector(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    vector = text[text.index("## Test vector"):]
    blocks = re.findall(r"```(?:text|json)\n(.*?)\n```", vector, re.S)
    prev_hash, canonical, digest = blocks[:3]
    # The documented rules alone reproduce the hash...
    assert hashlib.sha256((prev_hash + canonical).encode("ascii")).hexdigest() == digest
    body = json.loads(canonical)
    assert json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True) == canonical
    # ...and the store produces exactly this body from the trip record the page describes.
    t0 = datetime(2016, 4, 11, 14, 19, 17, tzinfo=timezone.utc)
    end = t0 + timedelta(minutes=5, seconds=59, milliseconds=500)
    record = TripRecord(
        started_at=t0, ended_at=end, start=(60.0219125, 30.2325072), end=(60.0113303, 30.2469721),
        distance_km=2.4561234, odometer_start_km=12000.0, odometer_end_km=12002.4561234,
        mode=TripMode.BUSINESS, flags=["gap_bridged"],
        gaps=[Gap(t0 + timedelta(minutes=2), t0 + timedelta(minutes=2, seconds=20), 0.2104, True)],
        track=[TrackPoint(t0, 60.0219125, 30.2325072),
               TrackPoint(t0 + timedelta(minutes=3), 60.0160211, 30.2401003),
               TrackPoint(end, 60.0113303, 30.2469721)],
    )
    store = Store(tmp_path / "vector.db")
    with mock.patch("device.store.outbox.uuid.uuid4", return_value=uuid.UUID(body["trip_id"])):
        stored = store.close_trip(record)
    assert (stored.prev_hash, stored.body, stored.hash) == (prev_hash, canonical, digest)
    store.close()


def test_documented_members_are_exactly_the_body_members(store: Store) -> None:
    stored = store.close_trip(record_of(DRIVE, TripMode.BUSINESS))
    table = DOC.read_text(encoding="utf-8").split("## The record body")[1].split("###")[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    assert documented == set(json.loads(stored.body))


@settings(max_examples=250, deadline=None)
@given(
    st.lists(st.floats(min_value=-180, max_value=180, allow_nan=False), min_size=2, max_size=6),
    st.floats(min_value=0, max_value=1e7, allow_nan=False),
    st.datetimes(min_value=datetime(1999, 8, 22), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
)
def test_canonical_bodies_survive_a_json_round_trip(coords: list[float], km: float, when: datetime) -> None:
    """What the backend relies on: parse + re-serialise gives the hashed text back, byte for byte."""
    body = {
        "track": [[chain.iso_utc(when), chain.coord(c), chain.coord(-c)] for c in coords],
        "distance_km": chain.km(km),
        "start": [chain.coord(coords[0]), chain.coord(coords[1])],
        "started_at": chain.iso_utc(when),
    }
    text = chain.canonical_json(body)
    assert json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=True) == text
    assert text.isascii() and " " not in text
    assert chain.parse_iso_utc(body["started_at"]) == when.replace(microsecond=when.microsecond // 1000 * 1000)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", body["started_at"])
    # The hash ignores a `hash` member and covers everything else.
    linked = {**body, "prev_hash": "f" * 64}
    expected = hashlib.sha256(("f" * 64 + chain.canonical_json(linked)).encode("ascii")).hexdigest()
    assert chain.body_hash({**linked, "hash": "whatever"}) == expected


def test_a_record_with_a_non_finite_number_is_a_store_error(store: Store) -> None:
    record = record_of(DRIVE, TripMode.BUSINESS)
    record.distance_km = float("nan")
    with pytest.raises(StoreError, match="non-finite"):
        store.close_trip(record)
    assert store.chain_head() == (0, GENESIS) and store.verify_chain() is None
    assert store.close_trip(record_of(DRIVE, TripMode.BUSINESS)).seq == 1


def test_gps_time_stepping_back_does_not_stall_flushing(store: Store) -> None:
    store.open_trip_started(DRIVE[0].time, (DRIVE[0].lat, DRIVE[0].lon), TripMode.BUSINESS, 0.0)
    back = shifted(DRIVE[:20], timedelta(hours=-1))  # a receiver glitch an hour back
    commits = store.commit_count
    for p in back:
        store.add_point(p)
    assert store.commit_count - commits == 3  # every 5 s of the new time line: 5, 10, 15


def test_the_store_folder_is_created(tmp_path: Path) -> None:
    store = Store(tmp_path / "var" / "lib" / "ritbox" / "ritbox.db")
    assert store.close_trip(record_of(DRIVE, TripMode.BUSINESS)).seq == 1
    store.close()


# ------------------------------------------------------------------------------- private trips

def test_private_trip_leaves_no_plaintext_position_on_disk(store: Store, key, tmp_path: Path) -> None:
    path = tmp_path / "ritbox.db"
    trip = DRIVE[:120]
    drive(store, trip, TripMode.PRIVATE)
    # While the trip is open its state is on disk (flushed every 5 s of driving)...
    assert store.commit_count >= len(trip) // 5
    opened = Store(path).pending_open_trip()
    assert opened is not None and opened.mode is TripMode.PRIVATE and opened.start_sealed and opened.last_sealed
    assert opened.start is None and opened.last_position is None and opened.points == []
    stored = store.close_trip(record_of(trip, TripMode.PRIVATE))

    body = json.loads(stored.body)
    assert body["start"] is None and body["end"] is None and body["track"] == []
    assert json.loads(sealing.open_sealed(key, body["start_sealed"])) == [round(trip[0].lat, 6), round(trip[0].lon, 6)]
    assert json.loads(sealing.open_sealed(key, body["end_sealed"])) == [round(trip[-1].lat, 6), round(trip[-1].lon, 6)]
    # The sealed last position of the open trip opens to where the car was at the last flush.
    assert json.loads(sealing.open_sealed(key, opened.last_sealed)) in [[round(p.lat, 6), round(p.lon, 6)] for p in trip]

    assert Path(str(path) + "-wal").stat().st_size > 0  # the WAL is there and was searched too
    disk = raw_bytes(path)
    leaks = [form for p in trip for form in plaintext_forms(p.lat, p.lon) if form in disk]
    assert leaks == []


def test_the_plaintext_search_finds_business_positions(store: Store, tmp_path: Path) -> None:
    """Control for the test above: the same search does find positions of a business trip."""
    trip = DRIVE[:120]
    drive(store, trip, TripMode.BUSINESS)
    store.close_trip(record_of(trip, TripMode.BUSINESS))
    disk = raw_bytes(tmp_path / "ritbox.db")
    assert f"{trip[0].lat:.6f}".encode() in disk or repr(round(trip[0].lat, 6)).encode() in disk
    assert struct.pack("<d", trip[1].lat) in disk  # persisted open points: packed little-endian


def test_policy_none_records_no_positions(store: Store, tmp_path: Path) -> None:
    store.set_policy(PrivatePositions.NONE)
    trip = DRIVE[:60]
    drive(store, trip, TripMode.PRIVATE)
    stored = store.close_trip(record_of(trip, TripMode.PRIVATE))
    body = json.loads(stored.body)
    assert [body[k] for k in ("start", "end", "start_sealed", "end_sealed", "track")] == [None, None, None, None, []]
    assert FLAG_NO_KEY not in body["flags"]
    assert body["distance_km"] > 0
    disk = raw_bytes(tmp_path / "ritbox.db")
    assert b'"kid"' not in disk
    assert [f for p in trip for f in plaintext_forms(p.lat, p.lon) if f in disk] == []


def test_private_trip_without_a_sealing_key_drops_positions(tmp_path: Path) -> None:
    store = Store(tmp_path / "ritbox.db")
    trip = DRIVE[:60]
    drive(store, trip, TripMode.PRIVATE)
    stored = store.close_trip(record_of(trip, TripMode.PRIVATE))
    body = json.loads(stored.body)
    assert FLAG_NO_KEY in body["flags"]
    assert [body[k] for k in ("start", "end", "start_sealed", "end_sealed", "track")] == [None, None, None, None, []]
    store.close()
    disk = raw_bytes(tmp_path / "ritbox.db")
    assert [f for p in trip for f in plaintext_forms(p.lat, p.lon) if f in disk] == []


def test_a_private_trip_never_stores_a_track(store: Store) -> None:
    trip = DRIVE[:30]
    store.open_trip_started(trip[0].time, (trip[0].lat, trip[0].lon), TripMode.PRIVATE, 0.0)
    for p in trip:
        store.add_point(p)  # a confused caller: the store still refuses
    record = record_of(trip, TripMode.PRIVATE)
    record.track = list(trip)
    body = json.loads(store.close_trip(record).body)
    assert body["track"] == []
    assert store.counters["store_point_dropped"] == len(trip)


# ----------------------------------------------------------------------------- batched writes

def test_one_hour_of_business_driving_costs_at_most_720_fsyncs(tmp_path: Path) -> None:
    store = Store(tmp_path / "ritbox.db", flush_interval_s=5.0)  # the tightest interval allowed
    laps = [shifted(DRIVE, timedelta(seconds=lap * len(DRIVE))) for lap in range(3600 // len(DRIVE))]
    hour = [p for lap in laps for p in lap]
    assert len(hour) == 3600 and (hour[-1].time - hour[0].time).total_seconds() == 3599
    drive(store, hour, TripMode.BUSINESS)
    # At most 5 s of driving is only in memory.
    persisted = sqlite3.connect(tmp_path / "ritbox.db").execute("SELECT COALESCE(SUM(LENGTH(points)), 0) / 24 FROM open_chunks").fetchone()[0]
    assert len(hour) - 5 <= persisted < len(hour)
    store.close_trip(record_of(hour, TripMode.BUSINESS))
    assert store.fsync_estimate <= 720
    assert store.commit_count >= 700  # it did persist every 5 s, it did not just skip writing
    store.close()


@pytest.mark.parametrize("durable", [True, False])
def test_commits_are_the_fsyncs_and_durable_false_skips_them(tmp_path: Path, durable: bool) -> None:
    """synchronous=FULL makes each commit one fsync; where strace exists the syscalls are counted too."""
    store = Store(tmp_path / "pragma.db", durable=durable)
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == (2 if durable else 0)  # FULL / OFF
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    if shutil.which("strace") is None:
        return  # the PRAGMA above is the whole check on a machine without strace
    script = (
        "import sys\n"
        "from datetime import timedelta\n"
        "from tests.device.test_store import DRIVE, drive, record_of, shifted\n"
        "from device.model import TripMode\n"
        "from device.store import Store\n"
        f"store = Store(sys.argv[1], durable={durable}, flush_interval_s=5.0)\n"
        "print('MARK', flush=True)\n"
        "points = DRIVE + shifted(DRIVE, timedelta(seconds=len(DRIVE)))\n"
        "drive(store, points, TripMode.BUSINESS)\n"
        "store.close_trip(record_of(points, TripMode.BUSINESS))\n"
        "print('MARK', store.commit_count, flush=True)\n"
        "store._db.close()\n"
    )
    run = subprocess.run(
        ["strace", "-f", "-e", "trace=fsync,fdatasync,write", "-e", "signal=none", sys.executable, "-c", script,
         str(tmp_path / "ritbox.db")], capture_output=True, text=True, cwd=REPO, timeout=120, check=True)
    # Syncs between the two MARK writes are those of the drive and the close.
    syncs = len(re.findall(r"\bf(?:data)?sync\(", run.stderr.split("MARK")[1]))
    commits = int(run.stdout.split()[-1])
    assert commits == 720 * 12 // 60  # 12 min at one commit per 5 s of driving
    assert syncs == (commits if durable else 0)


def test_flushes_follow_fix_time_not_the_wall_clock(store: Store) -> None:
    store.open_trip_started(DRIVE[0].time, (DRIVE[0].lat, DRIVE[0].lon), TripMode.BUSINESS, 0.0)
    before = store.commit_count
    for p in DRIVE[1:5]:  # 4 s of fixes, however long the wall clock takes
        store.add_point(p)
    assert store.commit_count == before
    store.add_point(DRIVE[5])  # the 5th second
    assert store.commit_count == before + 1


def test_counters_ride_along_with_the_next_commit(store: Store, tmp_path: Path) -> None:
    store.add_counters({"bad_checksum": 3, "not_nmea": 1})
    store.add_counters({"bad_checksum": 2})
    commits = store.commit_count
    assert store.counters == {"bad_checksum": 5, "not_nmea": 1}
    store.close_trip(record_of(DRIVE, TripMode.BUSINESS))
    assert store.commit_count == commits + 1
    store.close()
    assert Store(tmp_path / "ritbox.db").counters == {"bad_checksum": 5, "not_nmea": 1}


# ------------------------------------------------------------------------------- power loss

def test_power_loss_closes_the_business_trip_from_what_was_persisted(store: Store, tmp_path: Path) -> None:
    trip = DRIVE  # 6 min with turns; its first 200 s are one straight road
    drive(store, trip, TripMode.BUSINESS, odometer=500.0)
    store.record_gap(Gap(trip[50].time, trip[60].time, 0.1, True))
    store.save_progress(time=trip[-1].time, flags=["gap_bridged"])
    store.flush()
    # The process dies here: a second Store on the same file is the restarted daemon.
    restarted = Store(tmp_path / "ritbox.db")
    pending = restarted.pending_open_trip()
    assert pending is not None and pending.mode is TripMode.BUSINESS
    assert [p.time for p in pending.points] == [p.time for p in trip]
    assert pending.start == (round(trip[0].lat, 6), round(trip[0].lon, 6))

    closed = restarted.recover()
    assert len(closed) == 1 and restarted.pending_open_trip() is None
    body = json.loads(closed[0].body)
    assert body["flags"] == ["gap_bridged", FLAG_POWER_LOSS]
    assert body["ended_at"] == chain.iso_utc(trip[-1].time)
    assert body["end"] == [round(trip[-1].lat, 6), round(trip[-1].lon, 6)]
    assert body["odometer_start_km"] == 500.0
    assert body["odometer_end_km"] == round(500.0 + body["distance_km"], 3)
    assert body["distance_km"] == pytest.approx(sum(_haversine(a, b) for a, b in zip(trip, trip[1:])), abs=0.002)
    assert len(body["gaps"]) == 1
    track = body["track"]
    assert 2 < len(track) < len(pending.points) / 2  # simplified, not the raw 1 Hz points
    assert track[-1][0] == chain.iso_utc(trip[-1].time)
    assert restarted.verify_chain() is None and restarted.recover() == []
    restarted.close()


def test_power_loss_of_a_private_trip_keeps_only_sealed_positions(store: Store, key, tmp_path: Path) -> None:
    trip = DRIVE[:100]
    drive(store, trip, TripMode.PRIVATE)
    last_flushed = store.pending_open_trip().last_time
    restarted = Store(tmp_path / "ritbox.db")
    [stored] = restarted.recover()
    body = json.loads(stored.body)
    assert body["mode"] == "private" and FLAG_POWER_LOSS in body["flags"]
    assert body["start"] is None and body["end"] is None and body["track"] == []
    assert json.loads(sealing.open_sealed(key, body["start_sealed"])) == [round(trip[0].lat, 6), round(trip[0].lon, 6)]
    end = json.loads(sealing.open_sealed(key, body["end_sealed"]))
    flushed = [p for p in trip if p.time == chain.parse_iso_utc(body["ended_at"])]
    assert flushed and end == [round(flushed[0].lat, 6), round(flushed[0].lon, 6)]
    assert chain.parse_iso_utc(body["ended_at"]) <= last_flushed
    restarted.close()


def test_a_resumed_private_trip_keeps_its_sealed_start(store: Store, key, tmp_path: Path) -> None:
    trip = DRIVE[:60]
    drive(store, trip, TripMode.PRIVATE)
    restarted = Store(tmp_path / "ritbox.db")
    resumed = restarted.pending_open_trip()
    # The daemon resumes: the detector knows times and km, but no plaintext start any more.
    record = record_of(trip, TripMode.PRIVATE)
    record.start = None
    body = json.loads(restarted.close_trip(record).body)
    assert body["start_sealed"] == resumed.start_sealed
    assert json.loads(sealing.open_sealed(key, body["start_sealed"])) == [round(trip[0].lat, 6), round(trip[0].lon, 6)]
    assert json.loads(sealing.open_sealed(key, body["end_sealed"])) == [round(trip[-1].lat, 6), round(trip[-1].lon, 6)]
    assert FLAG_POWER_LOSS not in body["flags"]
    restarted.close()


def test_power_losses_and_gaps_between_trips_are_events(store: Store, tmp_path: Path) -> None:
    drive(store, DRIVE[:30], TripMode.BUSINESS)
    restarted = Store(tmp_path / "ritbox.db")
    restarted.recover()
    restarted.record_gap(Gap(DRIVE[40].time, DRIVE[90].time, 0.0, False))
    restarted.flush()
    events = restarted.events()
    assert [e["kind"] for e in events] == ["gap", FLAG_POWER_LOSS]
    assert events[1]["started_at"] == chain.iso_utc(DRIVE[0].time) and events[1]["mode"] == "business"
    assert events[0]["bridged"] is False and events[0]["at"] == chain.iso_utc(DRIVE[40].time)
    restarted.close()


def test_a_new_trip_over_a_leftover_open_trip_closes_the_leftover(store: Store) -> None:
    drive(store, DRIVE[:30], TripMode.BUSINESS)
    later = shifted(DRIVE[:30], timedelta(hours=1))
    drive(store, later, TripMode.BUSINESS)
    [leftover] = store.closed_trips()
    assert FLAG_POWER_LOSS in json.loads(leftover.body)["flags"]
    assert store.pending_open_trip().started_at == later[0].time


# ------------------------------------------------------------------------ events and outbox

def test_the_detectors_events_go_through_typed_methods(store: Store) -> None:
    """The pipeline hands each detector event to its own store method (one dispatch, by class,
    in device.pipeline); the store has no event dispatch of its own."""
    trip = DRIVE[:40]
    assert store.open_trip_started(trip[0].time, (trip[0].lat, trip[0].lon), TripMode.BUSINESS, 7.0) is None
    for p in trip:
        store.add_point(p)
    store.record_gap(Gap(trip[3].time, trip[4].time, 0.0, True))
    assert store.pending_open_trip().gaps and len(store.pending_open_trip().points) == len(trip)
    stored = store.close_trip(record_of(trip, TripMode.BUSINESS, odometer=7.0))
    assert stored is not None and stored.seq == 1
    store.record_gap(Gap(trip[-1].time, trip[-1].time + timedelta(minutes=5), 0.0, False))
    store.flush()
    assert [event["kind"] for event in store.events()] == ["gap"]
    assert not hasattr(store, "handle")


def test_capacity_bound_keeps_records_but_drops_tracks(tmp_path: Path) -> None:
    store = Store(tmp_path / "ritbox.db", max_pending=3)
    store.close_trip(record_of(DRIVE, TripMode.BUSINESS))
    store.close_trip(record_of(shifted(DRIVE, timedelta(hours=1)), TripMode.BUSINESS))
    assert not store.nearly_full
    store.close_trip(record_of(shifted(DRIVE, timedelta(hours=2)), TripMode.BUSINESS))
    assert store.nearly_full and store.full and store.status()["nearly_full"]
    body = json.loads(store.close_trip(record_of(shifted(DRIVE, timedelta(hours=3)), TripMode.BUSINESS)).body)
    assert body["track"] == [] and FLAG_STORE_FULL in body["flags"] and body["start"] is not None
    assert store.verify_chain() is None
    store.close()


def test_status_is_json_and_shows_no_positions(store: Store) -> None:
    drive(store, DRIVE[:20], TripMode.BUSINESS)
    store.add_counters({"bad_checksum": 1})
    status = store.status()
    text = json.dumps(status)
    assert status["open_trip"]["mode"] == "business" and status["open_trip"]["points"] == 20
    assert status["pending"] == 0 and status["counters"] == {"bad_checksum": 1}
    assert f"{DRIVE[0].lat:.4f}" not in text


def test_an_unreadable_open_trip_does_not_stop_the_store(store: Store, tmp_path: Path) -> None:
    drive(store, DRIVE[:20], TripMode.BUSINESS)
    store.close()
    db = sqlite3.connect(tmp_path / "ritbox.db")
    db.execute("UPDATE open_trip SET state = '{\"started_at\": 7'")
    db.commit()
    db.close()
    again = Store(tmp_path / "ritbox.db")
    assert again.pending_open_trip() is None and again.recover() == []
    drive(again, DRIVE[30:60], TripMode.BUSINESS)
    assert [p.time for p in again.pending_open_trip().points] == [p.time for p in DRIVE[30:60]]
    assert again.close_trip(record_of(DRIVE[30:60], TripMode.BUSINESS)).seq == 1
    assert [e["kind"] for e in again.events()] == ["open_trip_unreadable"]
    again.close()


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the trip store"):
        Store(path)


# ------------------------------------------------------------------------------ kill test

CHILD = r"""
import random, sys
from datetime import datetime, timedelta, timezone
from device.model import TrackPoint, TripMode, TripRecord
from device.store import Store

path, seed, pub = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
# 5 s, the shortest interval: trips of 3-30 one-second points then flush mid-trip often, so that
# kills find an open trip on disk (at the 15 s default most of these trips never flush before
# they close, and the count of kills with an open trip fell below the test's bar under load).
store = Store(path, flush_interval_s=5)
store.set_sealing_key(pub)
for s in store.recover():
    print("closed", s.seq, s.hash, flush=True)
rng = random.Random(seed)
seq, _ = store.chain_head()
t = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(hours=seq + 1)
odo = store.odometer_km or 0.0
print("ready", flush=True)
while True:
    mode = rng.choice([TripMode.BUSINESS, TripMode.PRIVATE])
    n = rng.randint(3, 30)
    pts = [TrackPoint(t + timedelta(seconds=i), 52.0 + rng.random() / 10, 5.0 + rng.random() / 10) for i in range(n)]
    store.open_trip_started(t, (pts[0].lat, pts[0].lon), mode, odo)
    for i, p in enumerate(pts):
        if mode is TripMode.BUSINESS:
            store.add_point(p)
        store.save_progress(time=p.time, position=(p.lat, p.lon), distance_km=i * 0.01)
    rec = TripRecord(pts[0].time, pts[-1].time, (pts[0].lat, pts[0].lon), (pts[-1].lat, pts[-1].lon),
                     (n - 1) * 0.01, odo, odo + (n - 1) * 0.01, mode,
                     track=pts[::4] if mode is TripMode.BUSINESS else [])
    stored = store.close_trip(rec)
    print("closed", stored.seq, stored.hash, flush=True)
    odo = rec.odometer_end_km
    t += timedelta(hours=1)
"""


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_or_alters_a_closed_trip(tmp_path: Path, key) -> None:
    path = tmp_path / "ritbox.db"
    pub = sealing.public_key_raw(key).hex()
    rng = random.Random(20261123)
    reported: dict[int, str] = {}
    seen_bodies: dict[int, str] = {}
    kills_with_open_trip = 0
    for round_ in range(20):
        # The child's stdout goes to a file, read only after the kill: no pipe buffering in between.
        report = tmp_path / f"child-{round_}.out"
        with open(report, "wb") as out_file:
            child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(round_), pub],
                                     stdout=out_file, stderr=subprocess.PIPE, cwd=REPO)
        if round_ % 4 == 3:
            time.sleep(rng.uniform(0.0, 0.3))  # sometimes during start-up or recovery
        else:
            deadline = time.monotonic() + 20
            while b"ready\n" not in report.read_bytes():
                assert child.poll() is None, child.stderr.read().decode()
                assert time.monotonic() < deadline, "the child never got ready"
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.25))
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=10)
        assert child.returncode == -signal.SIGKILL, err.decode()
        out = report.read_text(encoding="ascii")
        lines = out.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            # One write() per line, but a SIGKILL can stop a write() where it crosses a page of
            # the file (Linux checks for a fatal signal between pages): only the last line can
            # be cut, and what it would have reported is not known. Every other line is whole.
            lines.pop()
        for line in lines:
            if line.startswith("closed "):
                fields = line.split()
                assert line.endswith("\n") and len(fields) == 3 and len(fields[2]) == 64, f"garbled {line!r}"
                reported[int(fields[1])] = fields[2]

        store = Store(path)
        try:
            assert store.verify_chain() is None
            trips = list(store.closed_trips())
            assert [t.seq for t in trips] == list(range(1, len(trips) + 1))
            by_seq = {t.seq: t for t in trips}
            for seq, digest in reported.items():
                assert by_seq[seq].hash == digest, f"closed trip {seq} lost or altered after kill {round_}"
            for seq, body in seen_bodies.items():
                assert by_seq[seq].body == body
            seen_bodies.update({t.seq: t.body for t in trips})
            kills_with_open_trip += store.pending_open_trip() is not None
        finally:
            store.close()

    assert len(reported) >= 20  # the children really did close trips between the kills
    assert kills_with_open_trip >= 5  # and were often killed with a trip open
    final = Store(path)
    power_loss = [t for t in final.closed_trips() if FLAG_POWER_LOSS in json.loads(t.body)["flags"]]
    assert power_loss, "recovery after a kill closed no trip with the power_loss flag"
    assert final.verify_chain() is None
    final.close()


# ------------------------------------------------------------------ open trip persistence (cost)

def test_a_flush_rewrites_the_open_trip_row_only_when_its_rare_parts_changed(tmp_path: Path) -> None:
    path = tmp_path / "ritbox.db"
    store = Store(path)
    trip = DRIVE[:40]
    store.open_trip_started(trip[0].time, (trip[0].lat, trip[0].lon), TripMode.BUSINESS, 10.0)
    store.save_progress(time=trip[0].time, state={"resume": 1})
    store.flush()
    db = sqlite3.connect(path)

    def rows() -> tuple[str, tuple]:
        return (db.execute("SELECT state FROM open_trip").fetchone()[0],
                db.execute("SELECT last_us, lat, lon, distance_km FROM open_chunks ORDER BY n DESC LIMIT 1").fetchone())

    static, progress = rows()
    for point in trip[1:20]:  # only time, position and km move: the JSON row stays as it was
        store.add_point(point)
        store.save_progress(time=point.time, position=(point.lat, point.lon), distance_km=0.5,
                            gaps=[], flags=[])
    store.flush()
    static_after, progress_after = rows()
    assert static_after == static
    assert progress_after != progress and progress_after[3] == 0.5
    gap = Gap(trip[5].time, trip[15].time, 0.1, True)
    store.save_progress(time=trip[20].time, gaps=[gap], flags=["gap_bridged"], state={"resume": 2})
    store.flush()
    static_changed, _ = rows()
    assert static_changed != static
    assert json.loads(static_changed)["state"] == {"resume": 2}
    assert json.loads(static_changed)["flags"] == ["gap_bridged"]
    store.close()
    pending = Store(path).pending_open_trip()
    assert pending is not None
    assert pending.last_time == trip[20].time and pending.distance_km == 0.5
    assert pending.last_position == (trip[19].lat, trip[19].lon)
    assert pending.gaps == [gap] and pending.state == {"resume": 2}
    assert [p.time for p in pending.points] == [p.time for p in trip[1:20]]


def test_an_open_trip_written_by_the_previous_format_still_loads(tmp_path: Path) -> None:
    """Before open_progress, the open trip was one JSON row and point times were ISO text."""
    path = tmp_path / "ritbox.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE open_trip (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);"
        "CREATE TABLE open_points (n INTEGER PRIMARY KEY, time TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL);"
    )
    trip = DRIVE[:30]
    state = {
        "started_at": chain.iso_utc(trip[0].time), "mode": "business", "odometer_start_km": 7.0,
        "start": [trip[0].lat, trip[0].lon], "start_sealed": None,
        "last_time": chain.iso_utc(trip[-1].time), "last": [trip[-1].lat, trip[-1].lon], "last_sealed": None,
        "distance_km": 1.25, "gaps": [], "flags": [], "state": None,
    }
    db.execute("INSERT INTO open_trip VALUES (1, ?)", (chain.canonical_json(state),))
    db.executemany("INSERT INTO open_points (time, lat, lon) VALUES (?, ?, ?)",
                   [(chain.iso_utc(p.time), p.lat, p.lon) for p in trip])
    db.commit()
    db.close()
    store = Store(path)
    pending = store.pending_open_trip()
    assert pending is not None
    assert pending.last_time == trip[-1].time and pending.distance_km == 1.25
    assert [p.time for p in pending.points] == [p.time for p in trip]
    store.add_point(TrackPoint(trip[-1].time + timedelta(seconds=1), trip[-1].lat, trip[-1].lon))
    store.flush()  # new points go in as integers next to the old text ones
    [closed] = store.recover()
    body = json.loads(closed.body)
    assert body["started_at"] == chain.iso_utc(trip[0].time)
    assert body["ended_at"] == chain.iso_utc(trip[-1].time + timedelta(seconds=1))
    assert body["track"][0][0] == chain.iso_utc(trip[0].time)
    store.close()


def test_a_new_store_uses_small_pages_and_the_wal_is_checkpointed_mid_trip(tmp_path: Path) -> None:
    path = tmp_path / "ritbox.db"
    store = Store(path, checkpoint_pages=10, flush_interval_s=1.0)
    assert sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0] == 1024
    points = DRIVE * 3
    points = [TrackPoint(DRIVE[0].time + timedelta(seconds=i), p.lat, p.lon) for i, p in enumerate(points)]
    store.open_trip_started(points[0].time, (points[0].lat, points[0].lon), TripMode.BUSINESS, 0.0)
    for point in points:  # never parked: only the mid-trip check (4 x checkpoint_pages) applies
        store.add_point(point)
    assert store.commit_count > 500
    assert store.checkpoint_count >= 1
    wal_pages = Path(str(path) + "-wal").stat().st_size // (1024 + 24)
    assert wal_pages < 4 * 10 + 64 * 4  # the limit, plus at most one check interval of commits
    store.close()


# The schema of store version 1 (before open track points were packed into chunks), as the
# devices in cars have it: spelled out here so that the test does not depend on git history.
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE open_trip (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);
CREATE TABLE open_points (n INTEGER PRIMARY KEY, time NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL);
CREATE TABLE open_progress (id INTEGER PRIMARY KEY CHECK (id = 1), last_us INTEGER,
                            lat REAL, lon REAL, last_sealed TEXT, distance_km REAL NOT NULL);
CREATE TABLE trips (seq INTEGER PRIMARY KEY, trip_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL,
                    prev_hash TEXT NOT NULL, hash TEXT NOT NULL, acked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at TEXT, body TEXT NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def test_a_version_1_store_with_an_open_trip_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ritbox.db"
    # A version-1 store with one closed trip and an open one, written as version 1 wrote them.
    store = Store(path)
    closed = store.close_trip(record_of(DRIVE[:10], TripMode.BUSINESS))
    store.close()
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE open_chunks; PRAGMA user_version = 0;" + "".join(
        statement + ";" for statement in V1_SCHEMA.split(";") if "open_points" in statement or "open_progress" in statement))
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {
        name for name in re.findall(r"CREATE TABLE (\w+)", V1_SCHEMA)}
    trip = DRIVE[20:50]
    us = [int((p.time - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1_000_000) for p in trip]
    state = {
        "started_at": chain.iso_utc(trip[0].time), "mode": "business", "odometer_start_km": 3.0,
        "start": [trip[0].lat, trip[0].lon], "start_sealed": None, "last_time": chain.iso_utc(trip[-1].time),
        "last": [trip[-1].lat, trip[-1].lon], "last_sealed": None, "distance_km": 0.0, "gaps": [], "flags": [],
        "state": None,
    }
    db.execute("INSERT INTO open_trip VALUES (1, ?)", (chain.canonical_json(state),))
    db.execute("INSERT INTO open_progress VALUES (1, ?, ?, ?, NULL, 0.75)", (us[-1], trip[-1].lat, trip[-1].lon))
    db.executemany("INSERT INTO open_points (time, lat, lon) VALUES (?, ?, ?)",
                   [(t, p.lat, p.lon) for t, p in zip(us, trip)])
    db.commit()
    db.close()

    store = Store(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT name FROM sqlite_master WHERE name IN ('open_points', 'open_progress')").fetchone() is None
    assert db.execute("SELECT COUNT(*) FROM open_chunks").fetchone()[0] == 1  # all old points, one row
    db.close()
    pending = store.pending_open_trip()
    assert pending is not None and pending.distance_km == 0.75
    assert [(p.time, p.lat, p.lon) for p in pending.points] == [(p.time, p.lat, p.lon) for p in trip]
    assert store.verify_chain() is None and store.chain_head() == (1, closed.hash)
    # The migrated trip goes on and closes like any other.
    later = TrackPoint(trip[-1].time + timedelta(seconds=1), trip[-1].lat, trip[-1].lon)
    store.add_point(later)
    store.flush()
    [recovered] = store.recover()
    body = json.loads(recovered.body)
    assert body["seq"] == 2 and body["prev_hash"] == closed.hash and FLAG_POWER_LOSS in body["flags"]
    assert body["track"][0][0] == chain.iso_utc(trip[0].time)
    assert body["ended_at"] == chain.iso_utc(later.time)
    store.close()
    # Opening it again changes nothing.
    again = Store(path)
    assert again.pending_open_trip() is None and again.verify_chain() is None
    again.close()


def test_a_damaged_chunk_of_open_points_costs_only_its_own_points(tmp_path: Path) -> None:
    path = tmp_path / "ritbox.db"
    store = Store(path)
    drive(store, DRIVE[:30], TripMode.BUSINESS)
    store.flush()
    store.close()
    db = sqlite3.connect(path)
    chunks = db.execute("SELECT n, LENGTH(points) FROM open_chunks ORDER BY n").fetchall()
    assert len(chunks) >= 2 and sum(size for _, size in chunks) == 30 * CHUNK_POINT.size
    db.execute("UPDATE open_chunks SET points = x'0102' WHERE n = ?", (chunks[0][0],))
    db.commit()
    db.close()
    pending = Store(path).pending_open_trip()
    assert pending is not None
    assert len(pending.points) == 30 - chunks[0][1] // CHUNK_POINT.size


def test_the_default_flush_interval_is_the_named_value(tmp_path: Path) -> None:
    """Two minutes of driving with the default interval: one commit per FLUSH_INTERVAL_S of it."""
    from device.store import FLUSH_INTERVAL_S

    store = Store(tmp_path / "ritbox.db")
    assert store.flush_interval == timedelta(seconds=FLUSH_INTERVAL_S)
    trip = [TrackPoint(DRIVE[0].time + timedelta(seconds=i), p.lat, p.lon) for i, p in enumerate(DRIVE[:121])]
    store.open_trip_started(trip[0].time, (trip[0].lat, trip[0].lon), TripMode.BUSINESS, 0.0)
    commits = store.commit_count
    for point in trip:
        store.add_point(point)
    assert store.commit_count - commits == int(120 // FLUSH_INTERVAL_S)
    store.close()


def test_a_batch_of_points_is_stored_like_the_points_one_by_one(tmp_path: Path) -> None:
    """add_points (the pipeline's way) and add_point leave the same open trip on disk."""
    trip = [TrackPoint(DRIVE[0].time + timedelta(seconds=i), p.lat, p.lon) for i, p in enumerate(DRIVE[:40])]
    bad = TrackPoint(trip[5].time, float("nan"), trip[5].lon)
    stores = []
    for name in ("one", "batch"):
        store = Store(tmp_path / f"{name}.db", flush_interval_s=5.0)
        store.open_trip_started(trip[0].time, (trip[0].lat, trip[0].lon), TripMode.BUSINESS, 0.0)
        points = trip[:5] + [bad] + trip[5:]
        if name == "one":
            for point in points:
                store.add_point(point)
        else:
            for i in range(0, len(points), 7):
                store.add_points(points[i:i + 7])
        store.flush()
        stores.append(store)
    one, batch = stores
    assert batch.commit_count <= one.commit_count  # a batch never costs more commits
    for store in stores:
        pending = Store(store.path).pending_open_trip()
        assert [(p.time, p.lat, p.lon) for p in pending.points] == [(p.time, p.lat, p.lon) for p in trip]
        assert pending.last_time == trip[-1].time and pending.last_position == (trip[-1].lat, trip[-1].lon)
        assert store.counters["store_point_not_finite"] == 1
    # Outside a business trip a batch is dropped and counted, like single points.
    one.close_trip(record_of(trip, TripMode.BUSINESS))
    one.add_points(trip[:3])
    assert one.counters["store_point_dropped"] == 3
    for store in stores:
        store.close()


def test_a_store_of_the_unreleased_version_2_is_migrated_too(tmp_path: Path) -> None:
    """Version 2 (one day on main) had packed chunks without progress, next to open_progress."""
    path = tmp_path / "ritbox.db"
    Store(path).close()
    trip = DRIVE[:12]
    state = {
        "started_at": chain.iso_utc(trip[0].time), "mode": "business", "odometer_start_km": 1.0,
        "start": [trip[0].lat, trip[0].lon], "start_sealed": None, "last_time": chain.iso_utc(trip[0].time),
        "last": [trip[0].lat, trip[0].lon], "last_sealed": None, "distance_km": 0.0, "gaps": [], "flags": [],
        "state": None,
    }
    us = int((trip[-1].time - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1_000_000)
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE open_chunks; PRAGMA user_version = 2;"
        "CREATE TABLE open_chunks (n INTEGER PRIMARY KEY, points BLOB NOT NULL);"
        "CREATE TABLE open_progress (id INTEGER PRIMARY KEY CHECK (id = 1), last_us INTEGER,"
        " lat REAL, lon REAL, last_sealed TEXT, distance_km REAL NOT NULL);")
    db.execute("INSERT INTO open_trip VALUES (1, ?)", (chain.canonical_json(state),))
    db.execute("INSERT INTO open_chunks (points) VALUES (?)", (b"".join(
        CHUNK_POINT.pack(int((p.time - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1_000_000),
                         p.lat, p.lon) for p in trip),))
    db.execute("INSERT INTO open_progress VALUES (1, ?, ?, ?, NULL, 0.25)", (us, trip[-1].lat, trip[-1].lon))
    db.commit()
    db.close()
    store = Store(path)
    pending = store.pending_open_trip()
    assert pending.last_time == trip[-1].time and pending.distance_km == 0.25
    assert pending.last_position == (trip[-1].lat, trip[-1].lon)
    assert [(p.time, p.lat, p.lon) for p in pending.points] == [(p.time, p.lat, p.lon) for p in trip]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'open_progress'").fetchone() is None
    db.close()
    store.close()
