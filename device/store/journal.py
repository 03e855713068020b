"""The journal of the open trip: what the store keeps of a trip while it is driven, so that it
survives a kill or a power cut, and how such a trip is closed or handed back to be resumed.

Commits are rationed because SD cards wear out: track points of the open trip are buffered and
written in one commit at most once per `flush_interval_s` seconds of *driving time* (fix
timestamps, never the wall clock). Private trips never put a plaintext position on disk: their
positions are sealed to the backend's public key (device.sealing) or not recorded at all.
"""
from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from device import chain
from device.geo import haversine_m
from device.model import Gap, TrackPoint, TripMode, TripRecord
from device.record import FLAG_NO_KEY, FLAG_POWER_LOSS, gap_from_json, gap_json
from device.record import position as _position
from device.store.outbox import StoredTrip
from device.store.schema import INSERT_CHUNK, StoreError, from_us, pack_chunk, unpack_chunk, us

log = logging.getLogger("device.store")

# The open trip (progress, new track points) goes to disk at most once per this many seconds of
# driving: one commit, one fsync of the WAL. It is what a power cut can lose of an open trip
# (the trip still closes, flagged power_loss, ending at the last flush), traded against SD card
# wear and CPU: at 15 s, 240 fsyncs per hour of driving and a third of the commit CPU of 5 s.
# The limit is 5 s (720 fsyncs/h). `[store] flush_interval_s` in the config; docs/device-store.md.
FLUSH_INTERVAL_S = 15.0
POWER_LOSS_TRACK_TOLERANCE_M = 10.0
# Event of a trip closed at start-up as a normal end: the power went while the car stood still.
EVENT_CLOSED_STANDING = "closed_standing_at_start"
_KEEP: Any = object()  # save_progress: leave the field as it is


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



class Journal:
    """The Store's open trip (a part of device.store.Store: it uses the Store's connection, lock,
    transactions, settings and outbox)."""

    def _journal_state(self) -> None:
        self._open: OpenTrip | None = None
        self._buffer: list[TrackPoint] = []
        # The open trip is persisted in open_trip (start, gaps, flags, resume state: one JSON
        # row, rewritten only when one of them changed) and open_chunks (one row per flush: its
        # points, and last time, position, distance as plain columns). One JSON rebuild per flush
        # was most of its CPU.
        self._static_dirty = False
        self._progress_dirty = False
        self._new_trip = False
        self._last_flush_time: datetime | None = None

    def _open_journal(self) -> None:
        """Load the open trip the file holds (at opening)."""
        try:
            self._open = self._load_open_trip()
        except (ValueError, KeyError, TypeError) as exc:
            # Never refuse to start over it: the next trip replaces the row; the event says why.
            log.warning("the persisted open trip is unreadable (%s); it is dropped", type(exc).__name__)
            self._pending_events.append(("open_trip_unreadable", None, chain.canonical_json({})))

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
                self._pending_events.append(("gap", chain.iso_utc(gap.started_at), chain.canonical_json(gap_json(gap))))

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
                self._db.execute(INSERT_CHUNK, (pack_chunk(self._buffer), *self._progress_row(trip)))
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
                    db.execute(INSERT_CHUNK, (pack_chunk(self._buffer), *self._progress_row(trip)))

            self._transaction(write, counters=counters)
        self._buffer = []
        self._static_dirty = self._progress_dirty = False
        self._new_trip = False
        if now is not None:
            self._last_flush_time = now
        self._maybe_checkpoint(parked=False)

    @staticmethod
    def _progress_row(trip: OpenTrip) -> tuple[Any, ...]:
        last = trip.last_position if trip.mode is TripMode.BUSINESS else None  # never a private plaintext
        return (
            us(trip.last_time) if trip.last_time else None,
            last[0] if last else None,
            last[1] if last else None,
            chain.canonical_json(trip.last_sealed) if trip.last_sealed is not None else None,
            chain.km(trip.distance_km),
            us(trip.standing_since) if trip.standing_since else None,
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
            "gaps": [gap_json(g) for g in trip.gaps],
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
            standing_since = from_us(still_us) if still_us is not None else None
            data["last_time"] = from_us(last_us) if last_us is not None else None
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
            gaps=[gap_from_json(g) for g in data.get("gaps", [])],
            flags=list(data.get("flags", [])),
            state=data.get("state"),
            standing_since=standing_since,
        )

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
            return self._close(record, start_sealed=start_sealed, end_sealed=end_sealed)

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
                points += unpack_chunk(blob)
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
            return self._close(record, start_sealed=trip.start_sealed, end_sealed=end_sealed)

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
        return self._close(record, start_sealed=trip.start_sealed, end_sealed=end_sealed)


    def _close(
        self,
        record: TripRecord,
        start_sealed: dict[str, Any] | None = None,
        end_sealed: dict[str, Any] | None = None,
    ) -> StoredTrip:
        """The closed trip onto the outbox's chain and the open trip gone, in one durable transaction."""
        result: list[StoredTrip] = []

        def write() -> None:
            result.append(self._append_record(record, start_sealed, end_sealed))
            self._db.execute("DELETE FROM open_trip")
            self._db.execute("DELETE FROM open_chunks")

        self._transaction(write)
        self._open = None
        self._buffer = []
        self._static_dirty = self._progress_dirty = False
        self._new_trip = False
        self._maybe_checkpoint(parked=True)
        return result[0]
