"""Wires the device stages: byte chunks -> FixAssembler (framing, NMEA) -> TripDetector -> Store.

The pipeline is single-threaded: one loop feeds it chunks. The only thing other threads may do is
`request_mode()` (the privacy switch: control socket, GPIO button); the request is applied by the
feeding loop at the time of the latest fix, so the detector and the store see one ordered stream.

Start-up recovery: a trip the store kept open (the daemon was killed or lost power) is closed
as a normal end when the car stood still (`TripSettings.standing_s`, as persisted: a stand-still
is persisted at once, one commit per stop) and the first new fix comes more than the stop window later: most cars cut the Pi's power with the
ignition. Otherwise it is resumed when the first new fix follows it within the detector's
bridging limit (`max_bridge_s`), else closed with the `power_loss` flag as it was last persisted
(a cut while moving). A private open trip is never resumed: its continuation state would hold
positions, which the store refuses to keep.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from device.car import CarOdometer
from device.model import Fix, TrackPoint, TripMode
from device.nmea import LIVE_MIN_DATE, FixAssembler
from device.store import OpenTrip as StoredOpenTrip
from device.store import Store
from device.trips import (
    GapRecorded,
    TrackPointAdded,
    TripClosed,
    TripDetector,
    TripEvent,
    TripOpened,
    TripSettings,
    decode_state,
    encode_state,
)

log = logging.getLogger("ritbox.pipeline")

#: Flag on a trip that continued across a restart of the daemon (the device was off meanwhile).
FLAG_RESUMED = "resumed_after_restart"
EVENT_MODE_SWITCHED = "mode_switched"  # the private switch turned on or off

#: Store meta key of the car's VIN (OBD): the first one read binds the box to that car.
META_VIN = "obd_vin"
#: Store meta key set when the VIN changed, until the next closed trip carries FLAG_VIN_CHANGED.
META_VIN_CHANGED = "obd_vin_changed"
#: Flag on the first trip closed after the box read another car's VIN (moved to another car).
FLAG_VIN_CHANGED = "vin_changed"

#: How often (driving time) the detector's full resume state is written with a store flush.
STATE_INTERVAL = timedelta(seconds=60)

@dataclass(frozen=True, slots=True)
class ModeChange:
    """A scheduled privacy switch (for replays): from the first fix at or after `at`."""

    at: datetime
    mode: TripMode


class Pipeline:
    """Feeds chunks through the stages and the resulting events into the store."""

    def __init__(
        self,
        store: Store,
        *,
        settings: TripSettings | None = None,
        odometer_km: float = 0.0,
        mode: TripMode = TripMode.BUSINESS,
        min_date: date = LIVE_MIN_DATE,
        schedule: Iterable[ModeChange] = (),
        on_event: Callable[[TripEvent], None] | None = None,
        car: Any = None,
        ignition: Any = None,
    ) -> None:
        self.store = store
        self.settings = settings if settings is not None else TripSettings()
        self.assembler = FixAssembler(min_date=min_date)
        self.on_event = on_event
        self._mode = TripMode(mode)
        self._requested: TripMode | None = None
        self._lock = threading.Lock()
        self._schedule = deque(sorted(schedule, key=lambda change: change.at))
        self._flush_interval = store.flush_interval
        self._state_due: datetime | None = None  # fix time from which the next save is due
        self._last_full_state: datetime | None = None
        self._last_fix: Fix | None = None
        # Track points not yet handed to the store: they go in one call with the next state save
        # (once per flush interval, when the store writes them anyway) or before any other event.
        self._points: list[TrackPoint] = []
        self._pushed: dict[str, int] = {}
        self.trips_closed = 0
        self.power_loss_closed = 0
        self.standing_closed = 0
        self.resumed = 0
        self._standing_saved: datetime | None = None  # start of the stand-still persisted at once
        # The car over OBD (device.obd_source.ObdSource, its own thread): read once per chunk.
        self.car = car
        self._car_odometer = CarOdometer()
        self._engine_on: bool | None = None
        self._vin: str | None = None  # the VIN last compared with the store's
        # The ignition on a GPIO pin (device.ignition.IgnitionSense): read once per chunk.
        self.ignition = ignition
        self._ignition_on: bool | None = None

        if store.odometer_km is None:  # a new store starts from the configured reading
            store.set_odometer(odometer_km)
        self._resume: StoredOpenTrip | None = store.pending_open_trip()
        if self._resume is not None and self._resume.state is None and not self._stood_still(self._resume):
            # Nothing to resume from (a private trip, or a store written without detector state),
            # and it was cut while moving (standing, it waits for the first fix: see _start).
            self._close_power_loss()
        self.detector: TripDetector | None = None
        if self._resume is None:
            self.detector = self._fresh_detector()

    # ------------------------------------------------------------------ feeding

    def feed(self, chunk: bytes) -> None:
        """Process a chunk of receiver bytes (an empty chunk is a heartbeat)."""
        self._apply_requested()
        if self.car is not None:
            self._car_tick()
        if self.ignition is not None:
            self._ignition_tick()
        if chunk:
            for fix in self.assembler.feed_bytes(chunk):
                self._on_fix(fix)
        self._push_counters()

    def run(self, chunks: Iterable[bytes]) -> None:
        """Feed every chunk of a source (returns when the source ends)."""
        for chunk in chunks:
            self.feed(chunk)

    def finish(self, reason_flag: str | None = None) -> None:
        """End of input: process what is buffered and close the open trip (flagged)."""
        self._apply_requested()
        for fix in self.assembler.close():
            self._on_fix(fix)
        if self.detector is not None:
            self._handle(self.detector.finish(reason_flag))
        self._hand_points()
        self._push_counters()
        self.store.flush()

    def drain(self) -> None:
        """The input ended but the trip may go on (a replay source in the daemon): process what
        is buffered, including the last epoch, and persist; close nothing."""
        self._apply_requested()
        for fix in self.assembler.close():
            self._on_fix(fix)
        self._save_state(force=True)
        self._push_counters()
        self.store.flush()

    def shutdown(self) -> None:
        """Stop without closing anything (SIGTERM): persist the open trip as it stands now."""
        self._apply_requested()
        self._save_state(force=True)
        self._push_counters()
        self.store.flush()

    # -------------------------------------------------------------- privacy

    @property
    def last_fix_time(self) -> datetime | None:
        """GPS time of the latest fix (the only clock the device trusts)."""
        fix = self._last_fix
        return fix.time if fix is not None else None

    @property
    def mode(self) -> TripMode:
        """The mode new fixes are recorded in (a pending request counts as applied)."""
        with self._lock:
            return self._requested if self._requested is not None else self._mode

    def request_mode(self, mode: TripMode) -> None:
        """Thread-safe: switch business/private; applied by the feeding loop at its next step."""
        with self._lock:
            self._requested = TripMode(mode)

    def _apply_requested(self) -> None:
        with self._lock:
            mode, self._requested = self._requested, None
        if mode is not None:
            self._set_mode(mode)

    def _set_mode(self, mode: TripMode) -> None:
        if mode is self._mode:
            return
        self._mode = mode
        log.info("mode switched to %s", mode.value)
        at = self._last_fix.time if self._last_fix is not None else None
        # The switch itself is an event for the tax report (never a position): see docs/api.md.
        self.store.record_event(EVENT_MODE_SWITCHED, at, {"mode": mode.value})
        if self.detector is not None:
            self._handle(self.detector.set_mode(mode, at))

    # -------------------------------------------------------------- the car (OBD)

    def _car_tick(self) -> None:
        """The car's latest state and events, once per chunk: odometer readings onto the GPS
        timeline, engine changes to the detector, adapter events into the store's event log."""
        car = self.car
        at = self._last_fix.time if self._last_fix is not None else None
        trip_open = self.detector is not None and self.detector.open_trip_untracked is not None
        for kind, detail in car.take_events():
            if kind == "vin_changed":
                continue  # the binding below compares with the VIN kept in the store, across restarts
            if kind == "obd_lost":
                self._car_odometer.lost()  # a gap in the odometer source: this trip keeps GPS km
            self.store.record_event(kind, at, {"trip_open": trip_open})
        state = car.state()
        if state.vin is not None and state.vin != self._vin:
            self._bind_vin(state.vin, at, trip_open)
        self._car_odometer.observe(state, at)
        engine = state.engine_on if state.connected else None
        if engine is not None and engine != self._engine_on and at is not None and self.detector is not None:
            self._handle(self.detector.engine(engine, at))
        self._engine_on = engine

    def _ignition_tick(self) -> None:
        """Ignition off ends a standing car's trip at once and writes it (device.ignition);
        ignition on is the engine rule's "on" (it opens nothing by itself)."""
        on = self.ignition.is_on()
        if on == self._ignition_on:
            return
        self._ignition_on = on
        at = self._last_fix.time if self._last_fix is not None else None
        if at is None or self.detector is None:
            return
        trip_open = self.detector.open_trip_untracked is not None
        self.store.record_event("ignition_on" if on else "ignition_off", at, {"trip_open": trip_open})
        self._handle(self.detector.engine(True, at) if on else self.detector.ignition_off(at))
        if not on and self.detector.open_trip_untracked is not None:
            self._save_state(force=True)  # still rolling: what there is, on disk before the power goes

    def _bind_vin(self, vin: str, at: datetime | None, trip_open: bool) -> None:
        """The first VIN the box reads is the car's (kept in the store); another one later means
        the box was moved to another car: the event vin_changed (uploaded with the device events)."""
        enrolled = self.store.get_meta(META_VIN)
        if enrolled != vin:
            if enrolled is not None:
                self.store.record_event("vin_changed", at, {"vin_was": enrolled, "vin": vin, "trip_open": trip_open})
                self.store.set_meta(META_VIN_CHANGED, "1")  # the next trip says so, also after a restart
                log.warning("OBD: this is another car than the one the box was installed in (VIN changed)")
            self.store.set_meta(META_VIN, vin)
        self._vin = vin

    def car_status(self) -> dict[str, Any] | None:
        """What `ritbox status` says about the car (None: OBD is off)."""
        if self.car is None:
            return None
        state = self.car.state()
        if state.odometer_supported is False:
            odometer = "absent"
        elif state.odometer_supported:
            odometer = "car"
        else:
            odometer = "unknown"
        return {"connected": state.connected, "odometer": odometer, "odometer_km": state.odometer_km,
                "engine_on": state.engine_on, "battery_v": state.battery_v, "vin": state.vin}

    # -------------------------------------------------------------- fixes

    def _on_fix(self, fix: Fix) -> None:
        while self._schedule and fix.time >= self._schedule[0].at:
            self._set_mode(self._schedule.popleft().mode)
        if self.detector is None:
            self._start(fix)
        assert self.detector is not None
        detector = self.detector
        events = detector.feed(fix)
        self._last_fix = fix
        if events:
            self._handle(events)
        due = self._state_due
        if due is None or fix.time >= due:  # one comparison per fix; the snapshot is not cheap
            self._save_state()
        still = detector.still_from
        if still is not None and still != self._standing_saved and detector.standing_since is not None:
            # persisted at once (once per stand-still), so that an ignition-off right after
            # parking finds it standing
            self._standing_saved = still
            self._save_state(force=True, full=False)  # the progress row is enough to close on
            self.store.flush_progress()

    def _handle(self, events: list[TripEvent]) -> None:
        store = self.store
        on_event = self.on_event
        for event in events:
            cls = event.__class__
            if cls is TrackPointAdded:
                self._points.append(event.point)  # nearly every event: batched, see _hand_points
            else:
                self._hand_points()  # the store sees every event in the detector's order
                if self.car is not None:
                    event = self._with_car(event)
                if cls is TripOpened:
                    store.open_trip_started(event.started_at, event.start, event.mode, event.odometer_start_km)
                elif cls is TripClosed:
                    store.close_trip(event.record)
                    self.trips_closed += 1
                    self._state_due = self._last_full_state = None
                elif cls is GapRecorded:
                    store.record_gap(event.gap)
                else:
                    raise TypeError(f"the pipeline does not know the detector's event {cls.__name__}")
            if on_event is not None:
                on_event(event)

    def _with_car(self, event: TripEvent) -> TripEvent:
        """A trip's start and end odometer from the car where it gave them (device.car)."""
        if event.__class__ is TripOpened:
            self._car_odometer.trip_opened(event.started_at)
        elif event.__class__ is TripClosed:
            record = self._car_odometer.trip_closed(event.record)
            if self.store.get_meta(META_VIN_CHANGED) == "1":
                self.store.set_meta(META_VIN_CHANGED, "0")
                record = replace(record, flags=sorted({*record.flags, FLAG_VIN_CHANGED}))
            if record is not event.record:
                event = TripClosed(record)
                if self.detector is not None:
                    self.detector.set_odometer(record.odometer_end_km)  # the next trip starts there
        return event

    def _hand_points(self) -> None:
        """Give the store the track points batched since the last call (one call, not one a point)."""
        if self._points:
            points, self._points = self._points, []
            self.store.add_points(points)

    def _save_state(self, force: bool = False, full: bool = True) -> None:
        """Hand the open trip's progress to the store, at most once per store flush interval.

        Time, position and distance go with every flush (a power-loss close uses them). The
        detector's full resume state only every STATE_INTERVAL: it is the costly part, and it
        only matters for a restart within `max_bridge_s`, which bridges from wherever it ends.
        `force`: now, whatever the interval; with `full=False` the resume state only when due.
        """
        self._hand_points()
        detector = self.detector
        if detector is None or self._last_fix is None:
            return
        if not force and self._state_due is not None and self._last_fix.time < self._state_due:
            return
        progress = detector.open_progress  # cheap: no copy of the track or the stop window
        if progress is None:
            return
        now = progress.last_time
        self._state_due = now + self._flush_interval
        state = None
        full_due = self._last_full_state is None or now - self._last_full_state >= STATE_INTERVAL
        if progress.mode is TripMode.BUSINESS and ((force and full) or full_due):
            trip = detector.open_trip_untracked  # the state leaves the track to the store
            assert trip is not None
            state = encode_state(trip)  # positions: the store keeps it for business only
            self._last_full_state = now
        self.store.save_progress(now, progress.last_position, progress.distance_km, progress.gaps,
                                 progress.flags, state, standing_since=progress.standing_since)

    # ------------------------------------------------------------ recovery

    def _fresh_detector(self) -> TripDetector:
        odometer = self.store.odometer_km or 0.0
        return TripDetector(self.settings, odometer_km=odometer, mode=self._mode)

    def _close_power_loss(self) -> None:
        closed = self.store.close_open_trip_power_loss()
        self._resume = None
        if closed is not None:
            self.power_loss_closed += 1
            log.warning("a trip left open by a power loss or kill was closed (flag power_loss)")

    @staticmethod
    def _stood_still(trip: StoredOpenTrip) -> bool:
        """The persisted open trip's car stood still when the power went (as far as persisted)."""
        return trip.standing_since is not None and trip.last_time is not None

    def _start(self, fix: Fix) -> None:
        """First fix after start-up: close the persisted open trip as a normal end (cut while
        standing, the next start later than the stop window), resume it, or close it (power_loss)."""
        pending = self._resume
        if pending is not None and pending.last_time is not None and self._stood_still(pending):
            pause = (fix.time - pending.last_time).total_seconds()
            if pause > self.settings.stop_window_s and self.store.close_open_trip_standing() is not None:
                self._resume = None
                self.standing_closed += 1
                log.info("a trip cut while the car stood still was closed as a normal end")
                self.detector = self._fresh_detector()
                return
        if pending is not None and pending.last_time is not None and pending.state is not None:
            pause = (fix.time - pending.last_time).total_seconds()
            if 0 < pause <= self.settings.max_bridge_s:
                try:
                    snapshot = decode_state(pending.state, pending.points, extra_flag=FLAG_RESUMED)
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("open trip state unreadable (%s); closing it", type(exc).__name__)
                else:
                    self._resume = None
                    self.detector = TripDetector.resume(snapshot, self.settings)
                    # The store may hold points newer than the state (persisted after it, up to
                    # the crash): the resumed track replaces them, or a later resume would find
                    # them inside its stop window.
                    self.store.replace_open_points(list(snapshot.track))
                    self.resumed += 1
                    self.store.record_event("resumed", fix.time, {"pause_s": round(pause, 3)})
                    log.info("resumed the open trip after a %.0f s pause", pause)
                    if self._mode is not snapshot.mode:
                        self._handle(self.detector.set_mode(self._mode, fix.time))
                    return
        if pending is not None:
            self._close_power_loss()
        self.detector = self._fresh_detector()

    # -------------------------------------------------------------- counters

    def _push_counters(self) -> None:
        """Send counter increments to the store (written with its next commit, no extra fsync)."""
        current = self.counters()
        pushed = self._pushed
        delta = {name: value - pushed.get(name, 0) for name, value in current.items() if value != pushed.get(name, 0)}
        if delta:
            self.store.add_counters(delta)
            self._pushed = current

    def counters(self) -> dict[str, int]:
        """Flat counters of this run: sentences, fixes, skipped.<reason>, rejected.<reason>."""
        c = self.assembler.counter
        out = {"sentences": c.sentences, "fixes": c.fixes}
        for reason, count in c.skipped.items():
            if count:
                out[f"skipped.{reason}"] = count
        if self.detector is not None:
            for reason, count in self.detector.rejected.items():
                if count:
                    out[f"rejected.{reason}"] = count
        if self.car is not None:
            for reason, count in self.car.counts().items():
                if count:
                    out[f"obd.{reason}"] = count
        return out

    def stats(self) -> dict[str, Any]:
        """This run's figures for `replay --json` and `status` (no positions)."""
        c = self.assembler.counter
        open_trip = self.detector.open_trip if self.detector is not None else None
        return {
            "sentences": c.sentences,
            "skipped": {reason: count for reason, count in c.skipped.items()},
            "fixes": c.fixes,
            "rejected_fixes": dict(self.detector.rejected) if self.detector is not None else {},
            "trips_closed": self.trips_closed,
            "power_loss_closed": self.power_loss_closed,
            "standing_closed": self.standing_closed,
            "resumed": self.resumed,
            "mode": self.mode.value,
            "trip_open": open_trip is not None,
            "odometer_km": self.detector.odometer_km if self.detector is not None else self.store.odometer_km,
            "car": self.car_status(),
        }
