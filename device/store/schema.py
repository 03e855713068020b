"""The store's SQLite file: its tables, its version and the migrations from older versions, and
how an open trip's track points are packed into it."""
from __future__ import annotations

import sqlite3
import struct
from datetime import datetime, timedelta, timezone
from typing import Any

from device import chain
from device.errors import RitboxError
from device.model import TrackPoint

# Page size of a new store file (an existing file keeps its own). A flush rewrites about three
# pages (open points, progress, counters); at 1 KiB instead of SQLite's 4 KiB each commit writes a
# quarter of the bytes to the SD card and costs ~25% less CPU. Records span more pages; no matter.
PAGE_SIZE = 1024

SCHEMA = """
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
# flush's packed points and the progress as of that flush (see migrate). (2 was never released.)
SCHEMA_VERSION = 4  # 4: open_chunks.still_us, since when the car stood still (ignition-off)
INSERT_CHUNK = ("INSERT INTO open_chunks (points, last_us, lat, lon, last_sealed, distance_km, still_us) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)")
# An open trip's track points as packed in an `open_chunks` row: time (us since 1970), lat, lon.
CHUNK_POINT = struct.Struct("<qdd")



class StoreError(RitboxError):
    """The store cannot be opened or cannot do what was asked."""


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


def open_database(path: str, durable: bool) -> sqlite3.Connection:
    """The store file opened, created or migrated to SCHEMA_VERSION (sqlite3.DatabaseError if not).

    WAL mode with synchronous=FULL (OFF when not `durable`): every commit is durable and a kill
    at any instant leaves either the old or the new state. No automatic checkpoints: the store
    checkpoints when parked."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # only takes on a new, empty file
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=OFF")
    db.execute("PRAGMA wal_autocheckpoint=0")  # the store checkpoints when parked
    db.execute("BEGIN IMMEDIATE")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    migrate(db)
    db.execute("COMMIT")
    return db


def migrate(db: sqlite3.Connection) -> None:
    """Bring a store written by an earlier version up to SCHEMA_VERSION (inside the opening
    transaction, so a kill mid-migration leaves the old store as it was).

    Version 1 kept the open trip's track points one row each in `open_points` and its
    progress in the one row of `open_progress`; both move into one `open_chunks` row, and
    the old tables go. (A store of the unreleased version 2 had `open_chunks` without the
    progress columns, next to `open_progress`: the same steps cover it.)
    """
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
            (pack_chunk(points), *(progress or (None,) * 5)),
        )
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def us(value: datetime) -> int:
    """Microseconds since 1970 UTC: how open track points and the open trip's progress are kept
    (exact, and far cheaper than ISO text at every flush; closed records keep ISO text)."""
    return (value - _EPOCH) // _US


def from_us(value: int) -> datetime:
    return _EPOCH + int(value) * _US


def _point_time(value: Any) -> datetime:
    """An open point's time: integer microseconds, or ISO text in a store written before."""
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        return chain.parse_iso_utc(value)
    return from_us(int(value))


def pack_chunk(points: list[TrackPoint]) -> bytes:
    """The track points of one flush as one `open_chunks` value (24 bytes a point)."""
    pack = CHUNK_POINT.pack
    return b"".join([pack((p.time - _EPOCH) // _US, p.lat, p.lon) for p in points])


def unpack_chunk(blob: bytes) -> list[TrackPoint]:
    if len(blob) % CHUNK_POINT.size:
        raise ValueError("an open track chunk of a size that is no whole number of points")
    return [TrackPoint(_EPOCH + t * _US, lat, lon) for t, lat, lon in CHUNK_POINT.iter_unpack(blob)]
