"""The device's durable store: one SQLite file with the outbox of hash-chained trip records
(device.store.outbox), the journal of the open trip (device.store.journal), and the settings,
counters and events the device keeps; its tables and migrations are device.store.schema's.

`Store` holds the file, its one lock and its transactions; the jobs are in their modules. Closing
a trip is one transaction that appends the chained record and removes the open trip. The record
format is device.record's, specified in docs/device-store.md.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from device import chain, sealing
from device.model import PrivatePositions
from device.record import position_plaintext
from device.store.journal import FLUSH_INTERVAL_S, Journal
from device.store.outbox import DEFAULT_MAX_PENDING, Outbox
from device.store.schema import CHUNK_POINT, StoreError, open_database

log = logging.getLogger("device.store")

# WAL size (pages) after which a checkpoint runs at the next trip close; 4x this forces one
# even mid-trip so the WAL cannot grow without bound.
CHECKPOINT_PAGES = 4000
# A periodic flush writes the counters (skipped lines etc.) only this often, in driving time.
COUNTERS_INTERVAL = timedelta(seconds=60)
# Mid-trip the WAL size is looked at every this many commits (an os.stat each commit cost more
# than the commit's own bookkeeping); at a trip close it is always looked at.
CHECKPOINT_CHECK_COMMITS = 64


class Store(Journal, Outbox):
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
        self._commits_since_wal_check = 0
        self._pending_counters: Counter[str] = Counter()
        self._last_counters_time: datetime | None = None  # fix time of the last counters write
        self._pending_events: list[tuple[str, str | None, str]] = []
        self._meta_cache: dict[str, str] = {}
        self._journal_state()
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the trip store {self.path}: {exc.strerror}") from exc
        try:
            self._db = open_database(self.path, durable)
            self._page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
            self._meta_cache = dict(self._db.execute("SELECT key, value FROM meta"))
            self._open_journal()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the trip store at {self.path}: {exc}") from exc

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

    # ------------------------------------------------ counters and events

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

    def _seal_private(self, position: tuple[float, float] | None) -> tuple[dict[str, Any] | None, bool]:
        """(envelope or None, positions_dropped_for_lack_of_key) for a private position."""
        if position is None or self.policy is PrivatePositions.NONE:
            return None, False
        key = self.sealing_key
        if key is None:
            return None, True
        return sealing.seal(key, position_plaintext(position)), False

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
