"""The device's durable store: a SQLite outbox of hash-chained trip records.

One SQLite file in WAL mode with synchronous=FULL, so every commit is durable and a kill at any
instant leaves either the old or the new state. Commits are rationed because SD cards wear out:
track points of the open trip are buffered and written in one commit at most once per
`flush_interval_s` seconds of *driving time* (fix timestamps, never the wall clock). Closing a
trip is one transaction that appends the chained record and removes the open trip.

Private trips never put a plaintext position on disk: positions are sealed to the backend's
public key (device.sealing) or, by policy or for lack of a key, not recorded at all.
The record format is specified in docs/device-store.md.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import struct
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from device import chain, sealing
from device.errors import RitboxError
from device.geo import haversine_m
from device.model import Gap, PrivatePositions, TrackPoint, TripMode, TripRecord

log = logging.getLogger(__name__)

RECORD_VERSION = 1
# The open trip (progress, new track points) goes to disk at most once per this many seconds of
# driving: one commit, one fsync of the WAL. It is what a power cut can lose of an open trip
# (the trip still closes, flagged power_loss, ending at the last flush), traded against SD card
# wear and CPU: at 15 s, 240 fsyncs per hour of driving and a third of the commit CPU of 5 s.
# The limit is 5 s (720 fsyncs/h). `[store] flush_interval_s` in the config; docs/device-store.md.
FLUSH_INTERVAL_S = 15.0
DEFAULT_MAX_PENDING = 50_000
NEARLY_FULL_FRACTION = 0.9
# WAL size (pages) after which a checkpoint runs at the next trip close; 4x this forces one
# even mid-trip so the WAL cannot grow without bound.
CHECKPOINT_PAGES = 4000
# Page size of a new store file (an existing file keeps its own). A flush rewrites about three
# pages (open points, progress, counters); at 1 KiB instead of SQLite's 4 KiB each commit writes a
# quarter of the bytes to the SD card and costs ~25% less CPU. Records span more pages; no matter.
PAGE_SIZE = 1024
POWER_LOSS_TRACK_TOLERANCE_M = 10.0
# A periodic flush writes the counters (skipped lines etc.) only this often, in driving time.
COUNTERS_INTERVAL = timedelta(seconds=60)
# Mid-trip the WAL size is looked at every this many commits (an os.stat each commit cost more
# than the commit's own bookkeeping); at a trip close it is always looked at.
CHECKPOINT_CHECK_COMMITS = 64

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

# The id of the newest event the backend acknowledged (sync uploads events with the trips).
META_EVENTS_SENT = "events_sent_through"
FLAG_POWER_LOSS = "power_loss"
# Event of a trip closed at start-up as a normal end: the power went while the car stood still.
EVENT_CLOSED_STANDING = "closed_standing_at_start"
_KEEP: Any = object()  # save_progress: leave the field as it is
FLAG_NO_KEY = "positions_dropped_no_key"
FLAG_STORE_FULL = "track_dropped_store_full"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS open_trip (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS open_chunks (n INTEGER PRIMARY KEY, points BLOB NOT NULL,
                                        last_us INTEGER, lat REAL, lon REAL, last_sealed TEXT,
                                        distance_km REAL, still_us INTEGER);
CREATE TABLE IF NOT EXISTS trips (seq INTEGER PRIMARY KEY, trip_id TEXT NOT NULL UNIQUE,
                                  body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
                                  acked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at TEXT,
                                   body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# On-disk schema version (PRAGMA user_version). 1: open track points one row each in
# `open_points`, progress in `open_progress`; 3: one row per flush in `open_chunks` with the
# flush's packed points and the progress as of that flush (see _migrate). (2 was never released.)
SCHEMA_VERSION = 4  # 4: open_chunks.still_us, since when the car stood still (ignition-off)
_INSERT_CHUNK = ("INSERT INTO open_chunks (points, last_us, lat, lon, last_sealed, distance_km, still_us) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)")
# An open trip's track points as packed in an `open_chunks` row: time (us since 1970), lat, lon.
CHUNK_POINT = struct.Struct("<qdd")


class StoreError(RitboxError):
    """The store cannot be opened or cannot do what was asked."""


@dataclass(frozen=True, slots=True)
class StoredTrip:
    """A closed trip as stored: `body` is the exact canonical JSON that was hashed (no `hash`)."""

    seq: int
    trip_id: str
    body: str
    prev_hash: str
    hash: str
    acked: bool = False

    def record(self) -> dict[str, Any]:
        """The record as a JSON object including its `hash` (what sync uploads)."""
        data = json.loads(self.body)
        data["hash"] = self.hash
        return data


@dataclass(slots=True)
class OpenTrip:
    """The open trip as persisted. Plaintext positions are only ever set for business trips."""

    started_at: datetime
    mode: TripMode
    odometer_start_km: float
    start: tuple[float, float] | None = None
    start_sealed: dict[str, Any] | None = None
    last_time: datetime | None = None
    last_position: tuple[float, float] | None = None
    last_sealed: dict[str, Any] | None = None
    distance_km: float = 0.0
    gaps: list[Gap] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    state: dict[str, Any] | None = None  # opaque resume state of the trip detector (business only)
    points: list[TrackPoint] = field(default_factory=list)  # filled by pending_open_trip()
    standing_since: datetime | None = None  # the car stood still from then up to last_time


def _gap_json(gap: Gap) -> dict[str, Any]:
    return {
        "started_at": chain.iso_utc(gap.started_at),
        "ended_at": chain.iso_utc(gap.ended_at),
        "distance_km": chain.km(gap.distance_km),
        "bridged": bool(gap.bridged),
    }


def _gap_from_json(data: Mapping[str, Any]) -> Gap:
    return Gap(
        started_at=chain.parse_iso_utc(data["started_at"]),
        ended_at=chain.parse_iso_utc(data["ended_at"]),
        distance_km=float(data["distance_km"]),
        bridged=bool(data["bridged"]),
    )


def _us(value: datetime) -> int:
    """Microseconds since 1970 UTC: how open track points and the open trip's progress are kept
    (exact, and far cheaper than ISO text at every flush; closed records keep ISO text)."""
    return (value - _EPOCH) // _US


def _from_us(value: int) -> datetime:
    return _EPOCH + int(value) * _US


def _point_time(value: Any) -> datetime:
    """An open point's time: integer microseconds, or ISO text in a store written before."""
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        return chain.parse_iso_utc(value)
    return _from_us(int(value))


def _pack_chunk(points: list[TrackPoint]) -> bytes:
    """The track points of one flush as one `open_chunks` value (24 bytes a point)."""
    pack = CHUNK_POINT.pack
    return b"".join([pack((p.time - _EPOCH) // _US, p.lat, p.lon) for p in points])


def _unpack_chunk(blob: bytes) -> list[TrackPoint]:
    if len(blob) % CHUNK_POINT.size:
        raise ValueError("an open track chunk of a size that is no whole number of points")
    return [TrackPoint(_EPOCH + t * _US, lat, lon) for t, lat, lon in CHUNK_POINT.iter_unpack(blob)]


def _position(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    lat, lon = value
    lat, lon = float(lat), float(lon)
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    return (lat, lon)


def _position_plaintext(position: tuple[float, float]) -> bytes:
    # The sealed plaintext is the canonical JSON array [lat, lon] (see docs/device-store.md).
    return chain.canonical_json([chain.coord(position[0]), chain.coord(position[1])]).encode("ascii")


def _simplify(points: list[TrackPoint], tolerance_m: float) -> list[TrackPoint]:
    """Douglas-Peucker on a local flat projection; keeps first and last point and their times."""
    if len(points) <= 2:
        return list(points)
    lat0 = math.radians(points[0].lat)
    xy = [(math.radians(p.lon) * math.cos(lat0) * 6371008.8, math.radians(p.lat) * 6371008.8) for p in points]
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = xy[first], xy[last]
        dx, dy = x2 - x1, y2 - y1
        norm = math.hypot(dx, dy)
        worst, worst_i = -1.0, -1
        for i in range(first + 1, last):
            x, y = xy[i]
            d = abs(dy * (x - x1) - dx * (y - y1)) / norm if norm else math.hypot(x - x1, y - y1)
            if d > worst:
                worst, worst_i = d, i
        if worst > tolerance_m:
            keep[worst_i] = True
            stack.append((first, worst_i))
            stack.append((worst_i, last))
    return [p for p, k in zip(points, keep) if k]


class Store:
    """SQLite outbox of closed trips plus the persisted open trip. Thread-safe (one lock)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        max_pending: int = DEFAULT_MAX_PENDING,
        checkpoint_pages: int = CHECKPOINT_PAGES,
        durable: bool = True,
    ) -> None:
        """`durable=False` (synchronous=OFF) is for throw-away stores such as a fast replay into a
        temporary file: the same commits happen, and are counted, but none waits for the disk."""
        self.path = os.fspath(path)
        self.durable = durable
        self.flush_interval = timedelta(seconds=flush_interval_s)
        self.max_pending = max_pending
        self.checkpoint_pages = checkpoint_pages
        self.commit_count = 0  # each commit is one fsync of the WAL (synchronous=FULL, durable=True)
        self.checkpoint_count = 0  # each checkpoint syncs the WAL and the database file
        self._lock = threading.RLock()
        self._open: OpenTrip | None = None
        self._buffer: list[TrackPoint] = []
        # The open trip is persisted in open_trip (start, gaps, flags, resume state: one JSON
        # row, rewritten only when one of them changed) and open_chunks (one row per flush: its
        # points, and last time, position, distance as plain columns). One JSON rebuild per flush
        # was most of its CPU.
        self._static_dirty = False
        self._progress_dirty = False
        self._new_trip = False
        self._commits_since_wal_check = 0
        self._last_flush_time: datetime | None = None
        self._pending_counters: Counter[str] = Counter()
        self._last_counters_time: datetime | None = None  # fix time of the last counters write
        self._pending_events: list[tuple[str, str | None, str]] = []
        self._meta_cache: dict[str, str] = {}
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the trip store {self.path}: {exc.strerror}") from exc
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # only takes on a new, empty file
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=OFF")
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # we checkpoint when parked, see _maybe_checkpoint
            self._db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._migrate()
            self._db.execute("COMMIT")
            self._page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
            self._meta_cache = dict(self._db.execute("SELECT key, value FROM meta"))
            try:
                self._open = self._load_open_trip()
            except (ValueError, KeyError, TypeError) as exc:
                # Never refuse to start over it: the next trip replaces the row; the event says why.
                log.warning("the persisted open trip is unreadable (%s); it is dropped", type(exc).__name__)
                self._pending_events.append(("open_trip_unreadable", None, chain.canonical_json({})))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the trip store at {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        """Bring a store written by an earlier version up to SCHEMA_VERSION (inside the opening
        transaction, so a kill mid-migration leaves the old store as it was).

        Version 1 kept the open trip's track points one row each in `open_points` and its
        progress in the one row of `open_progress`; both move into one `open_chunks` row, and
        the old tables go. (A store of the unreleased version 2 had `open_chunks` without the
        progress columns, next to `open_progress`: the same steps cover it.)
        """
        db = self._db
        if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in db.execute("PRAGMA table_info(open_chunks)")}
        for column, kind in (("last_us", "INTEGER"), ("lat", "REAL"), ("lon", "REAL"), ("last_sealed", "TEXT"),
                             ("distance_km", "REAL"), ("still_us", "INTEGER")):
            if column not in columns:
                db.execute(f"ALTER TABLE open_chunks ADD COLUMN {column} {kind}")
        points: list[TrackPoint] = []
        if "open_points" in tables:
            rows = db.execute("SELECT time, lat, lon FROM open_points ORDER BY n").fetchall()
            points = [TrackPoint(_point_time(t), float(lat), float(lon)) for t, lat, lon in rows]
            db.execute("DROP TABLE open_points")
        progress = None
        if "open_progress" in tables:
            progress = db.execute(
                "SELECT last_us, lat, lon, last_sealed, distance_km FROM open_progress WHERE id = 1").fetchone()
            db.execute("DROP TABLE open_progress")
        if points or progress is not None:
            db.execute(
                "INSERT INTO open_chunks (points, last_us, lat, lon, last_sealed, distance_km) VALUES (?, ?, ?, ?, ?, ?)",
                (_pack_chunk(points), *(progress or (None,) * 5)),
            )
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A persisted setting (e.g. the privacy switch's mode)."""
        with self._lock:
            return self._meta_cache.get(key, default)

    def reload_meta(self) -> None:
        """Re-read the settings another process may have written (`ritbox enroll` while the
        daemon runs: device id, sealing key, policy, backend address)."""
        with self._lock:
            self._meta_cache = dict(self._db.execute("SELECT key, value FROM meta"))

    def set_meta(self, key: str, value: str) -> None:
        """Persist a setting durably (one commit, none when the value is unchanged)."""
        with self._lock:
            if self._meta_cache.get(key) == value:
                return
            self._transaction(lambda: self._put_meta(key, value))

    def _put_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        self._meta_cache[key] = value

    @property
    def device_id(self) -> str | None:
        return self.get_meta("device_id")

    def set_device_id(self, device_id: str) -> None:
        self.set_meta("device_id", device_id)

    @property
    def policy(self) -> PrivatePositions:
        """What to record of a private trip's positions; SEALED unless configured otherwise."""
        return PrivatePositions(self.get_meta("policy", PrivatePositions.SEALED.value))

    def set_policy(self, policy: PrivatePositions) -> None:
        self.set_meta("policy", PrivatePositions(policy).value)

    @property
    def sealing_key(self) -> bytes | None:
        """The backend's raw X25519 public sealing key, None before enrollment."""
        value = self.get_meta("sealing_key")
        return sealing.load_public_key(value) if value else None

    @property
    def sealing_kid(self) -> str | None:
        key = self.sealing_key
        return sealing.key_id(key) if key else None

    def set_sealing_key(self, public_key: bytes | str | None) -> None:
        """Set (or rotate) the backend's public sealing key: 32 raw bytes or base64 text."""
        if public_key is None:
            with self._lock:
                if "sealing_key" not in self._meta_cache:
                    return
                self._transaction(lambda: self._db.execute("DELETE FROM meta WHERE key = 'sealing_key'"))
                self._meta_cache.pop("sealing_key", None)
            return
        raw = sealing.load_public_key(public_key)
        self.set_meta("sealing_key", sealing._b64(raw))

    @property
    def odometer_km(self) -> float | None:
        """The running odometer after the last closed trip (or as set at enrollment)."""
        value = self.get_meta("odometer_km")
        return float(value) if value is not None else None

    def set_odometer(self, odometer_km: float) -> None:
        self.set_meta("odometer_km", repr(chain.km(odometer_km)))

    # ------------------------------------------------------------ open trip

    def open_trip_started(
        self,
        started_at: datetime,
        start: tuple[float, float] | None,
        mode: TripMode,
        odometer_start_km: float,
    ) -> None:
        """A trip opened; it is persisted with the next flush (within flush_interval of driving).

        A leftover open trip (the detector restarted without resuming) is closed first with
        the power_loss flag, so it is never silently lost.
        """
        with self._lock:
            if self._open is not None:
                self._close_power_loss()
            mode = TripMode(mode)
            start = _position(start)
            trip = OpenTrip(started_at=started_at, mode=mode, odometer_start_km=float(odometer_start_km))
            if mode is TripMode.PRIVATE:
                trip.start_sealed, dropped = self._seal_private(start)
                if dropped:
                    trip.flags.append(FLAG_NO_KEY)
            else:
                trip.start = start
                trip.last_position = start
            trip.last_time = started_at
            self._open = trip
            self._buffer = []
            self._static_dirty = self._progress_dirty = True
            self._new_trip = True  # the first flush clears points an unreadable old trip left behind
            self._last_flush_time = started_at

    def add_point(self, point: TrackPoint) -> None:
        """Buffer a business track point; flush when flush_interval of fix time has passed."""
        with self._lock:
            trip = self._open
            if trip is None or trip.mode is not TripMode.BUSINESS:
                # Never persist a point outside a business trip: a private trip keeps no track.
                self._pending_counters["store_point_dropped"] += 1
                return
            lat, lon, time = float(point.lat), float(point.lon), point.time
            if not (math.isfinite(lat) and math.isfinite(lon)):
                self._pending_counters["store_point_not_finite"] += 1
                return
            self._buffer.append(point)
            trip.last_time = time
            trip.last_position = (lat, lon)
            self._progress_dirty = True
            last_flush = self._last_flush_time
            # _maybe_flush's common case inline (one call per track point)
            if last_flush is None or time < last_flush or time - last_flush >= self.flush_interval:
                self._maybe_flush(time)

    def add_points(self, points: list[TrackPoint]) -> None:
        """`add_point` for a batch in time order (the pipeline hands one over per flush interval).

        The same rules, applied once per batch: the flush that follows takes the whole batch.
        """
        with self._lock:
            trip = self._open
            if trip is None or trip.mode is not TripMode.BUSINESS:
                # Never persist a point outside a business trip: a private trip keeps no track.
                self._pending_counters["store_point_dropped"] += len(points)
                return
            isfinite = math.isfinite
            good = [p for p in points if isfinite(p.lat) and isfinite(p.lon)]
            if len(good) != len(points):
                self._pending_counters["store_point_not_finite"] += len(points) - len(good)
            if not good:
                return
            self._buffer += good
            last = good[-1]
            trip.last_time = last.time
            trip.last_position = (float(last.lat), float(last.lon))
            self._progress_dirty = True
            self._maybe_flush(last.time)

    def replace_open_points(self, points: list[TrackPoint]) -> None:
        """The open business trip's persisted track becomes `points` (a resumed trip continues
        from its resume state; points persisted after that state go). Written with the next
        flush, which replaces the stored chunks in its one transaction; a crash before it leaves
        the store as it was."""
        with self._lock:
            trip = self._open
            if trip is None or trip.mode is not TripMode.BUSINESS:
                return
            isfinite = math.isfinite
            self._buffer = [p for p in points if isfinite(p.lat) and isfinite(p.lon)] + self._buffer
            self._new_trip = True  # the next flush deletes the stored chunks first

    def _open_points(self) -> list[TrackPoint]:
        """The open trip's track points: persisted and buffered (the persisted ones only while
        the next flush does not replace them)."""
        persisted = [] if self._new_trip else self._persisted_points()
        return persisted + list(self._buffer)

    def save_progress(
        self,
        time: datetime | None,
        position: Any = None,
        distance_km: float | None = None,
        gaps: Any = None,
        flags: Any = None,
        state: Mapping[str, Any] | None = None,
        standing_since: Any = _KEEP,
    ) -> None:
        """Record the open trip's progress (throttled like points; the pipeline calls it once per
        flush interval). `time`: the latest fix's time (drives the throttle); `position`: its
        (lat, lon); `distance_km`, `gaps`, `flags`; `state`: the opaque JSON-able resume state,
        persisted for business trips only, because it may hold positions; `standing_since`: since
        when the car stands still (None: it moves). None leaves a field as it is (for
        `standing_since`: leaving it out does)."""
        with self._lock:
            trip = self._open
            if trip is None:
                return
            position = _position(position)
            if time is not None:
                trip.last_time = time
            if standing_since is not _KEEP:
                trip.standing_since = standing_since
            if position is not None:
                trip.last_position = position
                trip.last_sealed = None  # re-sealed at the next flush
            if distance_km is not None and math.isfinite(float(distance_km)):
                trip.distance_km = float(distance_km)
            if gaps is not None and (len(gaps) != len(trip.gaps) or list(gaps) != trip.gaps):
                trip.gaps = list(gaps)
                self._static_dirty = True
            if flags is not None:
                # trip.flags is kept sorted and without duplicates: it changes only when a flag
                # is new (no set and sorted list to build at every flush for nothing)
                known = set(trip.flags)
                if not known.issuperset(flags):
                    trip.flags = sorted(known.union(flags))
                    self._static_dirty = True
            if state is not None and trip.mode is TripMode.BUSINESS:
                trip.state = dict(state)
                self._static_dirty = True
            self._progress_dirty = True
            if time is not None:
                self._maybe_flush(time)

    def record_gap(self, gap: Gap) -> None:
        """A gap inside the open trip joins its state; a gap between trips becomes an event."""
        with self._lock:
            if self._open is not None:
                self._open.gaps.append(gap)
                self._static_dirty = True
            else:
                self._pending_events.append(("gap", chain.iso_utc(gap.started_at), chain.canonical_json(_gap_json(gap))))

    def record_event(self, kind: str, at: datetime | None, body: Mapping[str, Any]) -> None:
        """Queue an event (no positions, please) for the next commit."""
        with self._lock:
            self._pending_events.append((kind, chain.iso_utc(at) if at else None, chain.canonical_json(dict(body))))

    def add_counters(self, counts: Mapping[str, int]) -> None:
        """Add to the persisted counters (e.g. skipped NMEA lines); written with the next commit."""
        with self._lock:
            for name, value in counts.items():
                self._pending_counters[str(name)] += int(value)

    @property
    def counters(self) -> dict[str, int]:
        with self._lock:
            persisted = Counter(dict(self._db.execute("SELECT name, value FROM counters")))
            persisted.update(self._pending_counters)
            return dict(persisted)

    def handle(self, event: Any) -> StoredTrip | None:
        """Apply one event of the trip detector, matched by class name (duck-typed)."""
        kind = type(event).__name__
        if kind == "TrackPointAdded":  # by far the commonest: tested first
            self.add_point(event.point)
        elif kind == "TripOpened":
            self.open_trip_started(event.started_at, event.start, event.mode, event.odometer_start_km)
        elif kind == "TripClosed":
            return self.close_trip(event.record)
        elif kind == "GapRecorded":
            self.record_gap(event.gap)
        else:
            raise StoreError(f"the store does not know the event {kind}")
        return None

    def _maybe_flush(self, now: datetime) -> None:
        if self._last_flush_time is not None and now < self._last_flush_time:
            # GPS time stepped back: count the interval from here instead of stalling until it catches up.
            self._last_flush_time = now
        if self._last_flush_time is None or now - self._last_flush_time >= self.flush_interval:
            self._flush(now, periodic=True)

    def flush(self) -> None:
        """Write buffered points, open-trip state, counters and events now (one commit)."""
        with self._lock:
            self._flush(self._open.last_time if self._open else None)

    def flush_progress(self) -> None:
        """Write the open trip's progress and buffered points now, like a periodic flush (the
        counters only when due): the pipeline persists a stand-still at once with it."""
        with self._lock:
            self._flush(self._open.last_time if self._open else None, periodic=True)

    def _flush(self, now: datetime | None, periodic: bool = False) -> None:
        if not (self._static_dirty or self._progress_dirty or self._buffer or self._pending_counters
                or self._pending_events):
            return
        # Counters are diagnostics: a periodic flush writes them only every COUNTERS_INTERVAL of
        # driving (a trip close, an explicit flush and close() always do), which keeps most
        # flushes to one small row. A power cut can cost the counts of that last stretch.
        counters = not periodic or self._counters_due(now)
        trip = self._open
        if trip is not None and trip.mode is TripMode.PRIVATE and trip.last_position and trip.last_sealed is None:
            trip.last_sealed, _ = self._seal_private(trip.last_position)
        if trip is not None and trip.mode is TripMode.PRIVATE:
            trip.last_position = None  # the plaintext is not needed any more, not even in memory

        if (
            trip is not None and (self._progress_dirty or self._buffer) and not self._new_trip
            and not self._static_dirty and not self._pending_events and not (counters and self._pending_counters)
        ):
            # Most flushes: the chunk row is the only statement. SQLite commits it on its own
            # (autocommit: the same write lock as BEGIN IMMEDIATE, the same durable commit),
            # without the two calls and the bookkeeping of a transaction around it.
            try:
                self._db.execute(_INSERT_CHUNK, (_pack_chunk(self._buffer), *self._progress_row(trip)))
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"trip store write failed: {exc}") from exc
            self.commit_count += 1
            self._clear_side_buffers(counters)
        else:

            def write() -> None:
                db = self._db
                if self._new_trip:
                    db.execute("DELETE FROM open_chunks")
                if trip is not None and self._static_dirty:
                    db.execute("INSERT OR REPLACE INTO open_trip (id, state) VALUES (1, ?)",
                               (self._open_trip_json(trip),))
                if trip is not None and (self._progress_dirty or self._new_trip or self._buffer):
                    # One row per flush: its points packed, and the progress as of this flush
                    # (the newest row's is the open trip's). Not a row per point, no row
                    # rewritten: a commit touches a page or two.
                    db.execute(_INSERT_CHUNK, (_pack_chunk(self._buffer), *self._progress_row(trip)))

            self._transaction(write, counters=counters)
        self._buffer = []
        self._static_dirty = self._progress_dirty = False
        self._new_trip = False
        if now is not None:
            self._last_flush_time = now
        self._maybe_checkpoint(parked=False)

    def _counters_due(self, now: datetime | None) -> bool:
        last = self._last_counters_time
        return now is None or last is None or now < last or now - last >= COUNTERS_INTERVAL

    def _write_side_tables(self, counters: bool = True) -> None:
        if counters and self._pending_counters:
            self._db.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                self._pending_counters.items(),
            )
        if self._pending_events:
            self._db.executemany("INSERT INTO events (kind, at, body) VALUES (?, ?, ?)", self._pending_events)

    def _clear_side_buffers(self, counters: bool = True) -> None:
        if counters:
            self._pending_counters.clear()
            self._last_counters_time = self._open.last_time if self._open is not None else None
        self._pending_events = []

    @staticmethod
    def _progress_row(trip: OpenTrip) -> tuple[Any, ...]:
        last = trip.last_position if trip.mode is TripMode.BUSINESS else None  # never a private plaintext
        return (
            _us(trip.last_time) if trip.last_time else None,
            last[0] if last else None,
            last[1] if last else None,
            chain.canonical_json(trip.last_sealed) if trip.last_sealed is not None else None,
            chain.km(trip.distance_km),
            _us(trip.standing_since) if trip.standing_since else None,
        )

    def _open_trip_json(self, trip: OpenTrip) -> str:
        business = trip.mode is TripMode.BUSINESS
        data = {
            "started_at": chain.iso_utc(trip.started_at),
            "mode": trip.mode.value,
            "odometer_start_km": chain.km(trip.odometer_start_km),
            "start": [chain.coord(c) for c in trip.start] if business and trip.start else None,
            "start_sealed": trip.start_sealed,
            "last_time": chain.iso_utc(trip.last_time) if trip.last_time else None,
            "last": [chain.coord(c) for c in trip.last_position] if business and trip.last_position else None,
            "last_sealed": trip.last_sealed,
            "distance_km": chain.km(trip.distance_km),
            "gaps": [_gap_json(g) for g in trip.gaps],
            "flags": sorted(set(trip.flags)),
            "state": trip.state if business else None,
        }
        return chain.canonical_json(data)

    def _load_open_trip(self) -> OpenTrip | None:
        row = self._db.execute("SELECT state FROM open_trip WHERE id = 1").fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        progress = self._db.execute(
            "SELECT last_us, lat, lon, last_sealed, distance_km, still_us FROM open_chunks "
            "WHERE distance_km IS NOT NULL ORDER BY n DESC LIMIT 1"
        ).fetchone()
        standing_since = None
        if progress is not None:
            # The newest progress is newer than the copies in the JSON (written only when it changed).
            last_us, lat, lon, sealed, distance, still_us = progress
            standing_since = _from_us(still_us) if still_us is not None else None
            data["last_time"] = _from_us(last_us) if last_us is not None else None
            data["last"] = [lat, lon] if lat is not None and lon is not None else None
            data["last_sealed"] = json.loads(sealed) if sealed is not None else None
            data["distance_km"] = distance
        elif data.get("last_time"):
            data["last_time"] = chain.parse_iso_utc(data["last_time"])  # a store written before
        return OpenTrip(
            started_at=chain.parse_iso_utc(data["started_at"]),
            mode=TripMode(data["mode"]),
            odometer_start_km=float(data["odometer_start_km"]),
            start=_position(data.get("start")),
            start_sealed=data.get("start_sealed"),
            last_time=data.get("last_time"),
            last_position=_position(data.get("last")),
            last_sealed=data.get("last_sealed"),
            distance_km=float(data.get("distance_km") or 0.0),
            gaps=[_gap_from_json(g) for g in data.get("gaps", [])],
            flags=list(data.get("flags", [])),
            state=data.get("state"),
            standing_since=standing_since,
        )

    def _seal_private(self, position: tuple[float, float] | None) -> tuple[dict[str, Any] | None, bool]:
        """(envelope or None, positions_dropped_for_lack_of_key) for a private position."""
        if position is None or self.policy is PrivatePositions.NONE:
            return None, False
        key = self.sealing_key
        if key is None:
            return None, True
        return sealing.seal(key, _position_plaintext(position)), False

    # --------------------------------------------------------- closing trips

    def close_trip(self, record: TripRecord) -> StoredTrip:
        """Append the closed trip to the chain and drop the open trip, in one durable transaction."""
        with self._lock:
            start_sealed = end_sealed = None
            trip = self._open
            if (
                trip is not None
                and trip.mode is TripMode.PRIVATE
                and TripMode(record.mode) is TripMode.PRIVATE
                and trip.started_at == record.started_at
            ):
                # A resumed private trip: the detector lost the plaintext start across the
                # restart, but the store still has it sealed.
                if _position(record.start) is None:
                    start_sealed = trip.start_sealed
                if _position(record.end) is None:
                    end_sealed = trip.last_sealed
            return self._append(record, start_sealed=start_sealed, end_sealed=end_sealed)

    def _append(
        self,
        record: TripRecord,
        start_sealed: dict[str, Any] | None = None,
        end_sealed: dict[str, Any] | None = None,
    ) -> StoredTrip:
        trip_id = str(uuid.uuid4())
        result: list[StoredTrip] = []

        def write() -> None:
            # The head is read inside the write transaction: another process that appended
            # meanwhile (a `replay --store` on the daemon's file) cannot fork the chain.
            head_seq, head_hash = self._db_head()
            seq = head_seq + 1
            try:
                body = self._body(record, seq, trip_id, head_hash, start_sealed, end_sealed)
            except (ValueError, TypeError) as exc:
                raise StoreError(f"cannot store the trip that started {record.started_at}: {exc}") from exc
            canonical = chain.canonical_json(body)
            digest = chain.chain_hash(head_hash, canonical)
            self._db.execute(
                "INSERT INTO trips (seq, trip_id, body, prev_hash, hash, acked) VALUES (?, ?, ?, ?, ?, 0)",
                (seq, trip_id, canonical, head_hash, digest),
            )
            self._put_meta("head_seq", str(seq))
            self._put_meta("head_hash", digest)
            self._put_meta("odometer_km", repr(body["odometer_end_km"]))
            self._db.execute("DELETE FROM open_trip")
            self._db.execute("DELETE FROM open_chunks")
            result.append(StoredTrip(seq, trip_id, canonical, head_hash, digest, False))

        self._transaction(write)
        self._open = None
        self._buffer = []
        self._static_dirty = self._progress_dirty = False
        self._new_trip = False
        self._maybe_checkpoint(parked=True)
        return result[0]

    def _db_head(self) -> tuple[int, str]:
        meta = dict(self._db.execute(
            "SELECT key, value FROM meta WHERE key IN ('head_seq', 'head_hash', 'pruned_seq', 'pruned_hash')"
        ))
        self._meta_cache.update(meta)
        return int(meta.get("head_seq", "0")), meta.get("head_hash", chain.GENESIS_HASH)

    def _body(
        self,
        record: TripRecord,
        seq: int,
        trip_id: str,
        prev_hash: str,
        start_sealed: dict[str, Any] | None,
        end_sealed: dict[str, Any] | None,
    ) -> dict[str, Any]:
        mode = TripMode(record.mode)
        flags = set(record.flags)
        start = end = None
        track: list[list[Any]] = []
        start_pos, end_pos = _position(record.start), _position(record.end)
        if mode is TripMode.PRIVATE:
            if self.policy is PrivatePositions.SEALED:
                if start_sealed is None:
                    start_sealed, dropped_start = self._seal_private(start_pos)
                    flags.update([FLAG_NO_KEY] if dropped_start else [])
                if end_sealed is None:
                    end_sealed, dropped_end = self._seal_private(end_pos)
                    flags.update([FLAG_NO_KEY] if dropped_end else [])
            else:
                start_sealed = end_sealed = None
        else:
            start_sealed = end_sealed = None
            start = [chain.coord(start_pos[0]), chain.coord(start_pos[1])] if start_pos else None
            end = [chain.coord(end_pos[0]), chain.coord(end_pos[1])] if end_pos else None
            points = [p for p in record.track if _position((p.lat, p.lon)) is not None]
            if points and self.full:
                flags.add(FLAG_STORE_FULL)
            else:
                track = [[chain.iso_utc(p.time), chain.coord(p.lat), chain.coord(p.lon)] for p in points]
        body = {
            "v": RECORD_VERSION,
            "trip_id": trip_id,
            "seq": seq,
            "prev_hash": prev_hash,
            "started_at": chain.iso_utc(record.started_at),
            "ended_at": chain.iso_utc(record.ended_at),
            "mode": mode.value,
            "start": start,
            "end": end,
            "start_sealed": start_sealed,
            "end_sealed": end_sealed,
            "distance_km": chain.km(record.distance_km),
            "odometer_start_km": chain.km(record.odometer_start_km),
            "odometer_end_km": chain.km(record.odometer_end_km),
            "flags": sorted(flags),
            "gaps": [_gap_json(g) for g in record.gaps],
            "track": track,
        }
        if record.odometer_source == "obd":  # only then: a GPS-only record is hashed as before
            body["odometer_source"] = "obd"
        return body

    # ------------------------------------------------------- power loss

    def pending_open_trip(self) -> OpenTrip | None:
        """The persisted open trip (with its persisted points), for a daemon that resumes it."""
        with self._lock:
            if self._open is None:
                return None
            trip = self._open
            points = self._open_points()
            return OpenTrip(
                started_at=trip.started_at, mode=trip.mode, odometer_start_km=trip.odometer_start_km,
                start=trip.start, start_sealed=trip.start_sealed, last_time=trip.last_time,
                last_position=trip.last_position, last_sealed=trip.last_sealed,
                distance_km=trip.distance_km, gaps=list(trip.gaps), flags=list(trip.flags),
                state=trip.state, points=points, standing_since=trip.standing_since,
            )

    def _persisted_points(self) -> list[TrackPoint]:
        points: list[TrackPoint] = []
        for (blob,) in self._db.execute("SELECT points FROM open_chunks ORDER BY n"):
            try:
                points += _unpack_chunk(blob)
            except (ValueError, TypeError):
                # A damaged chunk costs its own points only (the record's km and ends are not
                # taken from the track).
                log.warning("an unreadable chunk of open track points was skipped")
        return points

    def close_open_trip_power_loss(self) -> StoredTrip | None:
        """Close the open trip as it was last persisted, flagged power_loss."""
        with self._lock:
            return self._close_power_loss()

    def close_open_trip_standing(self) -> StoredTrip | None:
        """Close the open trip as a normal end: the power went while the car stood still (the
        ignition was switched off). It ends where and when the car began to stand, with the km
        up to there, as the trip detector would have closed it; no power_loss flag."""
        with self._lock:
            trip = self._open
            if trip is None or trip.standing_since is None:
                return None
            ended_at = min(max(trip.standing_since, trip.started_at), trip.last_time or trip.standing_since)
            business = trip.mode is TripMode.BUSINESS
            points = [p for p in self._open_points() if p.time < ended_at] if business else []
            end = trip.last_position if business else None
            if business and end is not None:
                points.append(TrackPoint(ended_at, end[0], end[1]))
            record = TripRecord(
                started_at=trip.started_at,
                ended_at=ended_at,
                start=trip.start,
                end=end,
                distance_km=trip.distance_km,
                odometer_start_km=trip.odometer_start_km,
                odometer_end_km=trip.odometer_start_km + trip.distance_km,
                mode=trip.mode,
                flags=sorted(set(trip.flags)),
                gaps=[g for g in trip.gaps if g.started_at < ended_at],
                track=_simplify(points, POWER_LOSS_TRACK_TOLERANCE_M) if business else [],
            )
            end_sealed = trip.last_sealed
            if not business and end_sealed is None and trip.last_position is not None:
                end_sealed, _ = self._seal_private(trip.last_position)
            self._pending_events.append((EVENT_CLOSED_STANDING, chain.iso_utc(ended_at), chain.canonical_json(
                {"started_at": chain.iso_utc(trip.started_at), "mode": trip.mode.value})))
            return self._append(record, start_sealed=trip.start_sealed, end_sealed=end_sealed)

    def recover(self) -> list[StoredTrip]:
        """At start-up, close a trip left open by a kill or power loss; return what was closed."""
        closed = self.close_open_trip_power_loss()
        return [closed] if closed else []

    def _close_power_loss(self) -> StoredTrip | None:
        trip = self._open
        if trip is None:
            return None
        points = self._open_points()
        distance = trip.distance_km
        if trip.mode is TripMode.BUSINESS and distance <= 0 and len(points) > 1:
            distance = sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in zip(points, points[1:])) / 1000.0
        record = TripRecord(
            started_at=trip.started_at,
            ended_at=max(trip.last_time or trip.started_at, trip.started_at),
            start=trip.start,
            end=trip.last_position if trip.mode is TripMode.BUSINESS else None,
            distance_km=distance,
            odometer_start_km=trip.odometer_start_km,
            odometer_end_km=trip.odometer_start_km + distance,
            mode=trip.mode,
            flags=sorted(set(trip.flags) | {FLAG_POWER_LOSS}),
            gaps=list(trip.gaps),
            track=_simplify(points, POWER_LOSS_TRACK_TOLERANCE_M) if trip.mode is TripMode.BUSINESS else [],
        )
        end_sealed = trip.last_sealed
        if trip.mode is TripMode.PRIVATE and end_sealed is None and trip.last_position is not None:
            end_sealed, _ = self._seal_private(trip.last_position)
        last_persisted = chain.iso_utc(record.ended_at)
        # Rides along with the closing transaction: no extra commit.
        self._pending_events.append((FLAG_POWER_LOSS, last_persisted, chain.canonical_json(
            {"started_at": chain.iso_utc(trip.started_at), "mode": trip.mode.value})))
        return self._append(record, start_sealed=trip.start_sealed, end_sealed=end_sealed)

    # ---------------------------------------------------------------- outbox

    def chain_head(self) -> tuple[int, str]:
        """(seq, hash) of the last closed trip; (0, 64 zeros) before the first."""
        with self._lock:
            return self._db_head()

    def pending(self, limit: int = 100) -> list[StoredTrip]:
        """Closed trips not yet acknowledged by the backend, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, trip_id, body, prev_hash, hash, acked FROM trips WHERE acked = 0 ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoredTrip(s, t, b, p, h, bool(a)) for s, t, b, p, h, a in rows]

    def count_pending(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM trips WHERE acked = 0").fetchone()[0]

    @property
    def nearly_full(self) -> bool:
        return self.count_pending() >= NEARLY_FULL_FRACTION * self.max_pending

    @property
    def full(self) -> bool:
        """At max_pending new business trips keep their record but lose their track."""
        return self.count_pending() >= self.max_pending

    def acknowledge(self, up_to_seq: int) -> int:
        """Mark trips up to `up_to_seq` as received by the backend and prune them, keeping the
        chain head's row; returns how many rows were newly acknowledged."""
        with self._lock:
            result: dict[str, int] = {}

            def write() -> None:
                head_seq, _ = self._db_head()
                up_to = min(int(up_to_seq), head_seq)
                result["n"] = self._db.execute(
                    "UPDATE trips SET acked = 1 WHERE seq <= ? AND acked = 0", (up_to,)
                ).rowcount
                last_pruned = self._db.execute(
                    "SELECT seq, hash FROM trips WHERE acked = 1 AND seq < ? ORDER BY seq DESC LIMIT 1", (head_seq,)
                ).fetchone()
                if last_pruned is not None:
                    # Remember the last pruned link so verify_chain can still check the first kept row.
                    self._put_meta("pruned_seq", str(last_pruned[0]))
                    self._put_meta("pruned_hash", last_pruned[1])
                    self._db.execute("DELETE FROM trips WHERE acked = 1 AND seq < ?", (head_seq,))

            self._transaction(write)
            return result["n"]

    def closed_trips(self) -> Iterator[StoredTrip]:
        """All closed trips still on the device (acknowledged ones are pruned), by seq."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, trip_id, body, prev_hash, hash, acked FROM trips ORDER BY seq"
            ).fetchall()
        for s, t, b, p, h, a in rows:
            yield StoredTrip(s, t, b, p, h, bool(a))

    def verify_chain(self) -> int | None:
        """The seq of the first record whose link, hash or body does not check out; None if intact."""
        with self._lock:
            head_seq, head_hash = self._db_head()
            expected_seq = int(self._meta_cache.get("pruned_seq", "0")) + 1
            expected_prev = self._meta_cache.get("pruned_hash", chain.GENESIS_HASH)
            rows = self._db.execute("SELECT seq, trip_id, body, prev_hash, hash FROM trips ORDER BY seq")
            for seq, trip_id, body, prev_hash, digest in rows:
                try:
                    data = json.loads(body)
                    well_formed = (
                        data.get("seq") == seq
                        and data.get("trip_id") == trip_id
                        and data.get("prev_hash") == prev_hash
                        and chain.canonical_json(data) == body
                    )
                except (ValueError, TypeError, AttributeError):
                    well_formed = False
                if (
                    seq != expected_seq
                    or prev_hash != expected_prev
                    or not well_formed
                    or chain.chain_hash(prev_hash, body) != digest
                ):
                    return seq
                expected_seq, expected_prev = seq + 1, digest
            if head_seq and (expected_seq - 1, expected_prev) != (head_seq, head_hash):
                return min(expected_seq, head_seq)  # the newest record was removed or rewritten
            return None

    def unsent_events(self, limit: int = 500) -> list[dict[str, Any]]:
        """Events the backend has not yet acknowledged, oldest first, as sync uploads them:
        {"id", "kind", "at", "body"} (docs/api.md; no positions in any body)."""
        with self._lock:
            sent = int(self._meta_cache.get(META_EVENTS_SENT, "0") or 0)
            rows = self._db.execute("SELECT id, kind, at, body FROM events WHERE id > ? ORDER BY id LIMIT ?",
                                    (sent, limit)).fetchall()
        return [{"id": i, "kind": k, "at": a, "body": json.loads(b)} for i, k, a, b in rows]

    def acknowledge_events(self, through_id: int) -> None:
        """The backend holds every event up to this id (or refused them for good)."""
        with self._lock:
            if through_id > int(self._meta_cache.get(META_EVENTS_SENT, "0") or 0):
                self.set_meta(META_EVENTS_SENT, str(through_id))

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest events (gaps between trips, power losses), newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, at, body FROM events ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [{"id": i, "kind": k, "at": a, **json.loads(b)} for i, k, a, b in rows]

    # ---------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        """A JSON-able summary for `ritbox status` (no positions)."""
        with self._lock:
            seq, digest = self.chain_head()
            trip = self._open
            open_info = None
            if trip is not None:
                persisted = self._db.execute(
                    "SELECT COALESCE(SUM(LENGTH(points)), 0) FROM open_chunks").fetchone()[0] // CHUNK_POINT.size
                open_info = {
                    "started_at": chain.iso_utc(trip.started_at),
                    "mode": trip.mode.value,
                    "last_time": chain.iso_utc(trip.last_time) if trip.last_time else None,
                    "distance_km": chain.km(trip.distance_km),
                    "points": persisted + len(self._buffer),
                }
            return {
                "path": self.path,
                "device_id": self.device_id,
                "chain_head": {"seq": seq, "hash": digest},
                "pending": self.count_pending(),
                "max_pending": self.max_pending,
                "nearly_full": self.nearly_full,
                "open_trip": open_info,
                "odometer_km": self.odometer_km,
                "policy": self.policy.value,
                "sealing_kid": self.sealing_kid,
                "counters": self.counters,
                "commits": self.commit_count,
                "checkpoints": self.checkpoint_count,
            }

    # ------------------------------------------------------------- plumbing

    @property
    def fsync_estimate(self) -> int:
        """fsyncs issued so far: one per commit, two per checkpoint (WAL and database file)."""
        return self.commit_count + 2 * self.checkpoint_count

    def _transaction(self, work: Any, counters: bool = True) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                work()
                # Counters and events ride along with whatever commit comes next: no extra fsync.
                self._write_side_tables(counters)
            except BaseException:
                self._db.execute("ROLLBACK")
                self._meta_cache = dict(self._db.execute("SELECT key, value FROM meta"))
                raise
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"trip store write failed: {exc}") from exc
        self.commit_count += 1
        self._clear_side_buffers(counters)

    def _maybe_checkpoint(self, parked: bool) -> None:
        self._commits_since_wal_check += 1
        if not parked and self._commits_since_wal_check < CHECKPOINT_CHECK_COMMITS:
            return
        self._commits_since_wal_check = 0
        try:
            wal_pages = os.path.getsize(self.path + "-wal") // (self._page_size + 24)
        except OSError:
            return
        limit = self.checkpoint_pages if parked else 4 * self.checkpoint_pages
        if wal_pages >= limit:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"trip store checkpoint failed: {exc}") from exc
            self.checkpoint_count += 1

    def close(self) -> None:
        """Flush what is buffered and close the file (the open trip stays open on disk)."""
        with self._lock:
            if self._db is None:
                return
            try:
                self._flush(self._open.last_time if self._open else None)
            finally:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
