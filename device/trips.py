"""Trip detection and odometer: a pure state machine from `Fix` objects to trip events.

No I/O here: no clock (all times are `Fix.time`), no files, no logging, no randomness, so the
same fixes always give the same events and the stage can be tested on recordings alone.

The machine has two states.

PARKED
    The car rests at a *rest point*. Fixes within `rest_radius_m` of it are jitter and are
    dropped (the last of them is remembered as the last moment the car was still parked).
    Fixes farther out are buffered. Once a fix is `move_distance_m` (Traccar: 200 m) from the
    rest point and stays that far for `move_confirm_s`, the movement is real: a trip opens,
    back-dated to the last parked fix, and the distance of the buffered fixes is counted from
    the rest point. A low-speed manoeuvre that stays closer (a loop in a car park) is real too
    once a run of fixes with speed over ground >= `manoeuvre_kmh` and HDOP <= `manoeuvre_hdop`
    covers `manoeuvre_path_m` of decimated path: the trip then opens back-dated to the fix
    before that run. Jitter never does either (a receiver standing still reports ~0 speed over
    ground, and its track never gets 200 m away). Standing still elsewhere
    for a whole `stop_window_s` moves the rest point there (a manoeuvre, then a wait, is still
    parking), and so does a movement pending for longer than `parked_buffer_s`.

MOVING
    Distance is summed over decimated points (a point is counted once it is `decimate_m` from
    the last counted one), so 10 Hz jitter cannot inflate the km. The trip stops when no counted
    point of the last `stop_window_s` (180 s) is more than `stop_distance_m` (200 m) from the
    current fix (Traccar's current logic) and the car no longer moves: no fix at
    `manoeuvre_kmh` or faster for `moving_hold_s`, or that long within `rest_radius_m` of where
    it stopped (a loop within 200 m is driving). The trip end is back-dated to the first fix of the
    final stand-still (from which on the car stayed within `rest_radius_m`), its position is
    where the car stands, and the km are counted to there: the waiting time is not part of the
    trip and the jitter while waiting adds no km. The same end rule applies when a trip is
    closed by `finish()`, a long gap or the privacy switch.

Gaps (no usable fix for more than `gap_min_s`):
    * up to `max_bridge_s` inside a trip (or inside a not yet confirmed movement): bridged with
      the straight-line distance, recorded in `TripRecord.gaps` (bridged=True), flag
      "gap_bridged". The implied speed is always plausible because the jump filter ran first.
    * longer inside a trip: we do not know what happened (parked in a garage, or driven far),
      so we invent nothing. The trip closes at its last fix with flag "closed_by_gap", a
      `GapRecorded(Gap(bridged=False))` follows with the straight-line distance, and the next
      fix is a new rest point: if the car drives on, a new trip opens from there. The odometer
      does not advance over an unbridged gap; the backend's calibration books the difference.
    * longer while parked: a `GapRecorded` only when the car is `move_distance_m` or more from
      where it was (it was moved while the device was blind); a device that is off while the car
      stands still makes no event.

Plausibility: a fix faster than `road_max_kmh`, a speed change above `road_max_accel_ms2`, or an
altitude change above `road_max_climb_ms` over a `climb_window_s` is beyond a road vehicle (an
aircraft, a train, a spoofed receiver): the open trip, or the next one back-dated over that fix,
gets the flag "implausible_motion". `standing_since` tells the pipeline when the car stands still
(speed over ground <= `still_kmh` for `standing_s`), for an ignition-off cut.

Filters: fixes with HDOP above `max_hdop` are dropped; a fix whose implied speed from the last
accepted fix exceeds `max_speed_kmh` (and which is more than `jump_min_m` away) is a jump and is
dropped, as is a fix whose time does not increase. If `reanchor_fixes` dropped fixes in a row
agree with each other, the receiver was right and our reference was wrong (or the clock really
jumped): that is a discontinuity, handled like a long gap (flag "position_jump" or "time_jump").
A fix flagged "time_reset" by device.nmea (which already waited for a consistent new timeline)
is such a discontinuity at once. The odometer never runs backwards: `odometer_km` counts the
open trip up to its stand-still candidate, which only moves forward.

Privacy switch: `set_mode` closes the open trip at the last fix and makes that fix the rest
point in the new mode, so a car that drives on opens the next trip back-dated to the switch
(same position and odometer, both trips flagged "split_private_switch"), and a switch pressed
while standing makes no empty trip. A movement not yet confirmed is dropped at a switch, so no
trip reaches back across it.

Privacy: in private mode no `TrackPointAdded` ever leaves the machine and a private trip keeps no
track, not even in memory. Start and end positions still leave in `TripOpened`/`TripRecord`,
in plaintext; the store seals or drops them before anything touches the disk.
"""
from __future__ import annotations

import base64
import math
import struct
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from device.geo import EARTH_RADIUS_M, simplify_indices
from device.model import Fix, Gap, TrackPoint, TripMode, TripRecord

# Flags this module puts on trip records (fixes add their own, e.g. "dead_reckoning").
FLAG_GAP_BRIDGED = "gap_bridged"
FLAG_CLOSED_BY_GAP = "closed_by_gap"
FLAG_SPLIT_PRIVATE_SWITCH = "split_private_switch"
FLAG_END_OF_INPUT = "end_of_input"
FLAG_POSITION_JUMP = "position_jump"
FLAG_TIME_JUMP = "time_jump"
FLAG_TIME_RESET = "time_reset"  # set by device.nmea on a fix that starts a new timeline
# Speed, acceleration or climb beyond a road vehicle (an aircraft, a train, a spoofed receiver):
# the backend never counts such a trip as business without a person looking at it.
FLAG_IMPLAUSIBLE_MOTION = "implausible_motion"

# Engine off (OBD) for a whole stop window while the car stayed near: the trip ended there.
FLAG_ENGINE_OFF = "engine_off"

# Reasons under which `TripDetector.rejected` counts dropped fixes.
REJECT_HDOP = "high_hdop"
REJECT_JUMP = "jump"
REJECT_TIME = "time_not_increasing"


@dataclass(frozen=True, slots=True)
class TripSettings:
    """Tunables of the detector; the defaults follow Traccar's stop/move logic."""

    stop_distance_m: float = 200.0  # a stop: no fix farther than this from the current one ...
    stop_window_s: float = 180.0  # ... within this many seconds
    move_distance_m: float = 200.0  # moving again: this far from the rest point ...
    move_confirm_s: float = 5.0  # ... for at least this long (one outlier is not a departure)
    rest_radius_m: float = 20.0  # jitter radius of a parked car (start/end back-dating)
    parked_buffer_s: float = 600.0  # how far back a departure can be back-dated
    max_hdop: float = 5.0
    max_speed_kmh: float = 250.0  # implied speed above this is a position jump
    jump_min_m: float = 50.0  # never call a step this short a jump (10 Hz jitter)
    reanchor_fixes: int = 5  # this many mutually consistent rejected fixes win
    gap_min_s: float = 10.0  # a longer pause between fixes is a gap
    max_bridge_s: float = 300.0  # gaps up to this long inside a trip are bridged
    decimate_m: float = 10.0  # count a segment only once this far from the last counted point
    simplify_tolerance_m: float = 10.0  # business track simplification
    # Low-speed manoeuvres (a loop in a car park never 200 m from the start): a departure is also
    # real once consecutive fixes with this speed over ground and HDOP cover this decimated path.
    manoeuvre_kmh: float = 5.0
    manoeuvre_hdop: float = 2.0
    manoeuvre_path_m: float = 100.0
    # ... and the stop rule waits until the car has stood within rest_radius_m, or has not moved
    # by speed over ground, for this long (a loop within 200 m is driving, not a stop).
    moving_hold_s: float = 60.0
    still_kmh: float = 3.0  # speed over ground of a car standing still ...
    standing_s: float = 5.0  # ... for this long: it stands (ignition-off detection, device.pipeline)
    # What a road vehicle cannot do (trip flag "implausible_motion").
    road_max_kmh: float = 250.0
    road_max_accel_ms2: float = 15.0  # between fixes at most 2.5 s apart
    road_max_climb_ms: float = 5.0  # altitude change over a climb window
    climb_window_s: float = 30.0
    # Engine off (OBD, `TripDetector.engine`): the trip ends once the engine has been off for a
    # stop window and every fix since stayed this close to where it went off. Farther is a car
    # that drives on (a hybrid on its battery shows engine speed 0), or a tow.
    engine_off_radius_m: float = 500.0


@dataclass(frozen=True, slots=True)
class TripOpened:
    """A trip was confirmed; `started_at` is back-dated to when the movement began."""

    started_at: datetime
    start: tuple[float, float]
    mode: TripMode
    odometer_start_km: float


@dataclass(slots=True)  # one per counted point: not frozen for speed (see device.model.Fix); read-only
class TrackPointAdded:
    """A decimated point of the open business trip, for the store's crash-safe batches.

    The closed `TripRecord.track` (simplified, trimmed to the trip's end) is authoritative.
    Never emitted in private mode.
    """

    point: TrackPoint


@dataclass(frozen=True, slots=True)
class TripClosed:
    record: TripRecord


@dataclass(frozen=True, slots=True)
class GapRecorded:
    """An unbridged gap between trips (after a trip closed by it, or while parked)."""

    gap: Gap


TripEvent = TripOpened | TrackPointAdded | TripClosed | GapRecorded


@dataclass(slots=True)  # one per counted point: not frozen for speed (see device.model.Fix); read-only
class CountedPoint:
    """A decimated point of the open trip with the trip distance up to it."""

    time: datetime
    lat: float
    lon: float
    cum_km: float


@dataclass(frozen=True)
class OpenTrip:
    """Snapshot of the open trip: all the store needs to persist it and to resume it.

    `TripDetector.resume(snapshot)` continues exactly where the snapshot was taken. The fields
    after `gaps` are the machine's continuation state. All positions are plaintext, also for a
    private trip (`track` is then empty, but `start`, `last_fix`, `window` and `settle` are
    positions): the store must seal a private snapshot or persist only its non-positional fields
    and close the trip with `power_loss` instead of resuming it.
    """

    started_at: datetime
    start: tuple[float, float]
    mode: TripMode
    odometer_start_km: float
    distance_km: float  # km so far: up to where the car is or began to stand still
    last_fix: Fix
    flags: frozenset[str]
    gaps: tuple[Gap, ...]
    window: tuple[CountedPoint, ...]  # decimated points of the last stop_window_s (+ one older)
    settle: CountedPoint  # first fix of the current stand-still candidate
    track: tuple[TrackPoint, ...] = ()  # business only
    suspects: tuple[Fix, ...] = ()  # rejected fixes that may yet prove a jump was real

    @property
    def last_time(self) -> datetime:
        return self.last_fix.time

    @property
    def last_position(self) -> tuple[float, float]:
        return (self.last_fix.lat, self.last_fix.lon)


@dataclass(frozen=True, slots=True)
class OpenProgress:
    """What a store flush needs of the open trip, without `OpenTrip`'s copies of track and window."""

    mode: TripMode
    last_time: datetime
    last_position: tuple[float, float]
    distance_km: float
    gaps: tuple[Gap, ...]
    flags: frozenset[str]
    # Where the trip ends if the car stays (the stand-still point's time) once it has stood still
    # (speed over ground <= still_kmh) for standing_s; None while it moves. An ignition-off cut
    # closes the trip there (device.pipeline).
    standing_since: datetime | None = None


@dataclass
class _Trip:
    """Mutable state of the open trip (the snapshot's working copy)."""

    started_at: datetime
    start: tuple[float, float]
    mode: TripMode
    odometer_start_km: float
    flags: set[str]
    gaps: list[Gap]
    window: deque[CountedPoint]
    settle: CountedPoint
    track: list[TrackPoint] = field(default_factory=list)


_DEG = math.pi / 180.0  # exactly what math.radians multiplies by
_DIAMETER_M = 2 * EARTH_RADIUS_M
_sin, _cos, _asin, _sqrt = math.sin, math.cos, math.asin, math.sqrt
_M_PER_DEG_LAT = EARTH_RADIUS_M * _DEG  # metres of great circle per degree of latitude


def _dist_m(a: Fix | CountedPoint, b: Fix | CountedPoint) -> float:
    """geo.haversine_m(a.lat, a.lon, b.lat, b.lon), the same operations in the same order (so the
    same bits, see the test), inlined: ~4 calls per fix made it the detector's largest cost."""
    phi1 = a.lat * _DEG
    phi2 = b.lat * _DEG
    s1 = _sin((phi2 - phi1) / 2)
    s2 = _sin((b.lon - a.lon) * _DEG / 2)
    root = _sqrt(s1**2 + _cos(phi1) * _cos(phi2) * s2**2)
    return _DIAMETER_M * _asin(root if root < 1.0 else 1.0)


def counted_window(points: Sequence[TrackPoint], first_cum_km: float) -> tuple[CountedPoint, ...]:
    """The stop window the detector counted over these track points (its newest ones), given
    the trip km at the first: the km summed exactly as `_advance` summed them (the same distance
    of the same two positions, added in the same order: the same bits). A resume state names
    its window instead of carrying it (device.pipeline)."""
    if not points:
        return ()
    first = points[0]
    prev = CountedPoint(first.time, first.lat, first.lon, float(first_cum_km))
    window = [prev]
    for p in points[1:]:
        prev = CountedPoint(p.time, p.lat, p.lon, prev.cum_km + _dist_m(prev, p) / 1000.0)
        window.append(prev)
    return tuple(window)


_LONG_AGO = datetime(1, 1, 1, tzinfo=timezone.utc)


def _seconds(a: datetime, b: datetime) -> float:
    """Seconds from a to b."""
    return (b - a).total_seconds()


class TripDetector:
    """Fixes in, trip events out. See the module docstring for the rules."""

    def __init__(
        self,
        settings: TripSettings = TripSettings(),
        odometer_km: float = 0.0,
        mode: TripMode = TripMode.BUSINESS,
    ) -> None:
        self._s = settings
        # the stop window as a timedelta when it is one exactly: a whole number of microseconds
        # whose seconds (divided back, correctly rounded) are the setting itself (see _window_start)
        micro = float(settings.stop_window_s) * 1_000_000
        exact = math.isfinite(micro) and micro >= 0 and micro == int(micro) and int(micro) / 1_000_000 == settings.stop_window_s
        self._stop_window: timedelta | None = timedelta(microseconds=int(micro)) if exact else None
        self._odometer = round(odometer_km, 3)
        self._mode = mode
        self._last: Fix | None = None  # last accepted fix
        # (ref, fix, metres, seconds) of the last step _implausible measured: _accept and
        # _advance need the same step again whenever its reference is that same fix (nearly
        # every fix).
        self._step: tuple[Fix, Fix, float, float] | None = None
        self._suspects: list[Fix] = []
        self.rejected: Counter[str] = Counter()  # dropped fixes by reason, for `status`
        # PARKED state
        self._rest: Fix | None = None
        self._last_rest: Fix | None = None
        self._pending: deque[Fix] = deque()  # fixes since the last parked one
        self._candidate: Fix | None = None  # first fix of a stand-still away from the rest point
        self._beyond_since: datetime | None = None
        self._split_at: datetime | None = None  # a trip was split by the switch; the next one continues it
        self._run: list[Fix] = []  # the current run of moving fixes (speed, HDOP), while parked
        self._run_prev: Fix | None = None  # the fix before that run
        self._run_path_m = 0.0  # decimated path of the run
        self._run_anchor: Fix | None = None
        # MOVING state
        self._trip: _Trip | None = None
        # first fix of the open trip's current run at <= still_kmh (read-only outside; a plain
        # attribute so that the pipeline's per-fix test is cheap)
        self.still_from: datetime | None = None
        self._last_moving_at: datetime | None = None  # last fix at >= manoeuvre_kmh
        # plausibility
        self._beyond_at: datetime | None = None  # last fix beyond a road vehicle
        self._engine_off: tuple[datetime, Fix] | None = None  # (when, last fix then): OBD, see engine()
        self._alt_ref: Fix | None = None
        self._alt_due = _LONG_AGO  # (a discontinuity resets it: time may have gone back)
        # per-fix thresholds as plain attributes (feed/_accept run once per fix)
        self._road_max_kmh = settings.road_max_kmh
        self._still_kmh = settings.still_kmh
        self._moving_kmh = settings.manoeuvre_kmh
        self._max_dv_kmh_per_s = settings.road_max_accel_ms2 * 3.6
        self._moving_hold = timedelta(seconds=settings.moving_hold_s)

    # ----------------------------------------------------------------- public API

    @property
    def odometer_km(self) -> float:
        """Running odometer: closed trips plus the open trip's km so far (never decreases)."""
        if self._trip is None:
            return self._odometer
        return round(self._odometer + round(self._trip.settle.cum_km, 3), 3)

    @property
    def mode(self) -> TripMode:
        return self._mode

    @property
    def open_trip(self) -> OpenTrip | None:
        return self._snapshot(with_track=True)

    @property
    def open_trip_untracked(self) -> OpenTrip | None:
        """`open_trip` with an empty `track`: what a resume state needs (the store persists the
        track itself), without copying a track of thousands of points at every state save."""
        return self._snapshot(with_track=False)

    def _snapshot(self, with_track: bool) -> OpenTrip | None:
        trip = self._trip
        if trip is None or self._last is None:
            return None
        return OpenTrip(
            started_at=trip.started_at,
            start=trip.start,
            mode=trip.mode,
            odometer_start_km=trip.odometer_start_km,
            distance_km=round(trip.settle.cum_km, 3),
            last_fix=self._last,
            flags=frozenset(trip.flags),
            gaps=tuple(trip.gaps),
            window=tuple(trip.window),
            settle=trip.settle,
            track=tuple(trip.track) if with_track else (),
            suspects=tuple(self._suspects),
        )

    @property
    def open_progress(self) -> OpenProgress | None:
        """Cheap progress of the open trip (called at every store flush); None when parked."""
        trip, last = self._trip, self._last
        if trip is None or last is None:
            return None
        return OpenProgress(
            trip.mode, last.time, (last.lat, last.lon), round(trip.settle.cum_km, 3),
            tuple(trip.gaps), frozenset(trip.flags), self.standing_since,
        )

    @property
    def standing_since(self) -> datetime | None:
        """The open trip's stand-still point's time (where a stop would end it) once the car has
        stood still by speed over ground for standing_s; else None (cheap: called per fix)."""
        still = self.still_from
        if still is None:
            return None
        trip, last = self._trip, self._last
        if trip is None or last is None or (last.time - still).total_seconds() < self._s.standing_s:
            return None
        return trip.settle.time

    @classmethod
    def resume(cls, snapshot: OpenTrip, settings: TripSettings = TripSettings()) -> TripDetector:
        """Rebuild a detector around a persisted open trip (daemon restart)."""
        det = cls(settings, odometer_km=snapshot.odometer_start_km, mode=snapshot.mode)
        det._last = snapshot.last_fix
        det._suspects = list(snapshot.suspects)
        det._trip = _Trip(
            started_at=snapshot.started_at,
            start=snapshot.start,
            mode=snapshot.mode,
            odometer_start_km=snapshot.odometer_start_km,
            flags=set(snapshot.flags),
            gaps=list(snapshot.gaps),
            window=deque(snapshot.window),
            settle=snapshot.settle,
            track=list(snapshot.track) if snapshot.mode is TripMode.BUSINESS else [],
        )
        return det

    def feed(self, fix: Fix) -> list[TripEvent]:
        """Process one fix; returns the events it caused (often none)."""
        events: list[TripEvent] = []
        if fix.hdop is not None and fix.hdop > self._s.max_hdop:
            self.rejected[REJECT_HDOP] += 1
            return events
        if fix.time >= self._alt_due and fix.altitude_m is not None:  # once per climb window
            self._climb(fix)
        if self._last is None:
            self._reanchor(fix)
            return events
        if FLAG_TIME_RESET in fix.flags and fix.time <= self._last.time:
            # device.nmea already waited for a consistent new timeline before flagging it
            self._suspects = [fix]
            self._discontinuity(events)
            return events
        reason = self._implausible(self._last, fix)
        if reason is not None:
            self.rejected[reason] += 1
            self._suspect(fix, events)
            return events
        self._suspects.clear()
        self._accept(fix, events)
        return events

    def set_mode(self, mode: TripMode, at: datetime | None = None) -> list[TripEvent]:
        """Switch business/private. An open trip is split at the last fix (the switch fix).

        The open trip closes there, ending at the switch fix's time and position (flag
        "split_private_switch"), and the switch fix becomes the rest point in the new mode: if
        the car drives on, the next trip opens back-dated to exactly the switch fix's time, at
        the same position and odometer, with the same flag, so the two trips chain in time,
        place and km. If the switch was pressed while standing (the usual case on arrival), no
        empty trip is made; the closed trip then ends at the switch, not at the arrival.

        `at` is accepted for the caller's convenience but not used for timing: trip times come
        from fixes only, and the last fix is the last moment we know where the car was.
        """
        events: list[TripEvent] = []
        if mode is self._mode:
            return events
        self._mode = mode
        last = self._last
        if last is None:
            return events
        split = self._trip is not None
        if split:
            self._close(events, {FLAG_SPLIT_PRIVATE_SWITCH}, at_last=True)
        # Also without an open trip: a movement not yet confirmed must not reach back across
        # the switch (a business trip must never carry positions from before a private ->
        # business switch).
        self._reanchor(last)
        if split:
            self._split_at = last.time
        return events

    def set_odometer(self, odometer_km: float) -> None:
        """Take the car's own odometer (OBD) as the running odometer; only while parked (the
        open trip's km stay counted from where it started)."""
        if self._trip is None:
            self._odometer = round(odometer_km, 3)

    def engine(self, on: bool, at: datetime) -> list[TripEvent]:
        """The car's engine went on or off at `at` (GPS time of the latest fix; from OBD).

        Engine off is a boundary signal beside the GPS stop rule: once it has been off for
        `stop_window_s` and the fixes since stayed within `engine_off_radius_m` of where it went
        off, the open trip ends at the engine-off moment (flag "engine_off"), however the
        receiver jitters, and no jitter opens a trip until the engine runs again. Engine on
        alone opens nothing: a trip still needs movement."""
        if on:
            self._engine_off = None
        elif self._engine_off is None and self._last is not None:
            self._engine_off = (at, self._last)
        return []

    def ignition_off(self, at: datetime) -> list[TripEvent]:
        """The ignition went off at `at` (a GPIO wired to it, device.ignition).

        A car that stands still (`standing_since`) ends its trip now, at the stand-still point,
        flagged "engine_off": the box can upload it while a UPS HAT still holds the power up,
        instead of closing it at the next start. A car still rolling keeps its trip; from here
        on the engine-off rule applies (see `engine`)."""
        events = self.engine(False, at)
        if self._trip is not None and self.standing_since is not None and self._last is not None:
            self._close(events, {FLAG_ENGINE_OFF}, engine_off=self._engine_off)
            self._reanchor(self._last)
        return events

    def finish(self, reason_flag: str | None = None) -> list[TripEvent]:
        """End of input (or power loss): close the open trip, flagged with the reason."""
        events: list[TripEvent] = []
        if self._trip is not None:
            self._close(events, {reason_flag or FLAG_END_OF_INPUT})
        if self._last is not None:
            self._reanchor(self._last)
        self._suspects.clear()
        return events

    # ----------------------------------------------------------------- plausibility

    def _beyond(self, time: datetime) -> None:
        """A fix beyond a road vehicle: the open trip, or the next one back-dated over it, is flagged."""
        self._beyond_at = time
        if self._trip is not None:
            self._trip.flags.add(FLAG_IMPLAUSIBLE_MOTION)

    def _climb(self, fix: Fix) -> None:
        """Altitude change since the reference fix, once a climb window has passed."""
        s = self._s
        ref = self._alt_ref
        if ref is not None and ref.altitude_m is not None:
            dt = (fix.time - ref.time).total_seconds()
            if s.climb_window_s <= dt <= 2 * s.climb_window_s:
                if abs(fix.altitude_m - ref.altitude_m) / dt > s.road_max_climb_ms:  # type: ignore[operator]
                    self._beyond(fix.time)
        self._alt_ref = fix
        self._alt_due = fix.time + timedelta(seconds=s.climb_window_s)

    # ----------------------------------------------------------------- filters

    def _implausible(self, ref: Fix, fix: Fix) -> str | None:
        dt = (fix.time - ref.time).total_seconds()  # _seconds, inlined on the per-fix path
        if dt <= 0:
            return REJECT_TIME
        d = _dist_m(ref, fix)
        self._step = (ref, fix, d, dt)
        if d > self._s.jump_min_m and d / dt * 3.6 > self._s.max_speed_kmh:
            return REJECT_JUMP
        return None

    def _suspect(self, fix: Fix, events: list[TripEvent]) -> None:
        """Keep rejected fixes; enough consistent ones mean the reference was wrong."""
        if fix.speed_kmh is not None and fix.speed_kmh > self._road_max_kmh:
            self._beyond(fix.time)  # an aircraft's fixes are rejected as jumps
        if self._suspects and self._implausible(self._suspects[-1], fix) is None:
            self._suspects.append(fix)
        else:
            self._suspects = [fix]
        if len(self._suspects) >= self._s.reanchor_fixes:
            self._discontinuity(events)

    def _discontinuity(self, events: list[TripEvent]) -> None:
        """The suspects win: close the trip, record the gap, start afresh from them."""
        run, self._suspects = self._suspects, []
        assert self._last is not None
        self._alt_ref, self._alt_due = None, _LONG_AGO
        first = run[0]
        forward = first.time > self._last.time
        if self._trip is not None:
            self._close(events, {FLAG_POSITION_JUMP if forward else FLAG_TIME_JUMP})
        if forward:
            events.append(GapRecorded(self._gap(self._last, first, bridged=False)))
        self._reanchor(first)
        for fix_ in run[1:]:
            self._accept(fix_, events)

    # ----------------------------------------------------------------- states

    def _accept(self, fix: Fix, events: list[TripEvent]) -> None:
        prev = self._last
        assert prev is not None
        step = self._step
        if step is not None and step[1] is fix and step[0] is prev:
            dt = step[3]  # the same subtraction _implausible just made
        else:
            dt = (fix.time - prev.time).total_seconds()
        long_gap = dt > self._s.max_bridge_s
        if self._trip is None:
            if long_gap:
                if _dist_m(prev, fix) >= self._s.move_distance_m:
                    events.append(GapRecorded(self._gap(prev, fix, bridged=False)))
                self._reanchor(fix)
            else:
                self._last = fix
                self._parked(fix, events)
            return
        if long_gap:
            self._close(events, {FLAG_CLOSED_BY_GAP})
            events.append(GapRecorded(self._gap(prev, fix, bridged=False)))
            self._reanchor(fix)
            return
        self._last = fix
        speed = fix.speed_kmh
        if speed is not None and speed > self._still_kmh:
            self.still_from = None
            if speed >= self._moving_kmh:
                self._last_moving_at = fix.time
                if speed > self._road_max_kmh:
                    self._beyond(fix.time)
            before = prev.speed_kmh
            if before is not None and dt <= 2.5 and abs(speed - before) > self._max_dv_kmh_per_s * dt:
                self._beyond(fix.time)
        elif self.still_from is None:
            self.still_from = fix.time
        self._advance(prev, fix, events, dt)
        if self._engine_off is not None and self._engine_stopped(fix):
            self._close(events, {FLAG_ENGINE_OFF}, engine_off=self._engine_off)
            self._reanchor(fix)
        elif self._stopped(fix):
            self._close(events, set())
            self._reanchor(fix)

    def _engine_stopped(self, fix: Fix) -> bool:
        """Engine off for a stop window, the car within engine_off_radius_m of where it went off;
        a fix farther out ends the engine-off (the car drives: a hybrid, or a tow)."""
        assert self._engine_off is not None
        off_at, where = self._engine_off
        if _dist_m(where, fix) > self._s.engine_off_radius_m:
            self._engine_off = None
            return False
        return (fix.time - off_at).total_seconds() >= self._s.stop_window_s

    def _reanchor(self, fix: Fix) -> None:
        """Start PARKED afresh with `fix` as the rest point."""
        self._last = fix
        self._rest = fix
        self._last_rest = fix
        self._pending.clear()
        self._candidate = None
        self._beyond_since = None
        self._split_at = None
        self._end_run(fix)

    def _end_run(self, fix: Fix | None) -> None:
        self._run = []
        self._run_prev = fix
        self._run_path_m = 0.0
        self._run_anchor = None

    def _manoeuvre(self, fix: Fix) -> bool:
        """Track the run of moving fixes (speed over ground, good HDOP) while parked; True when its
        decimated path is a real departure, however close to the rest point it stays."""
        s = self._s
        speed, hdop = fix.speed_kmh, fix.hdop
        if speed is None or speed < s.manoeuvre_kmh or (hdop is not None and hdop > s.manoeuvre_hdop):
            if self._run:
                self._end_run(fix)
            else:
                self._run_prev = fix
            return False
        if speed > self._road_max_kmh:
            self._beyond(fix.time)
        run = self._run
        if run and _seconds(run[0].time, fix.time) > s.parked_buffer_s:
            self._end_run(run[-1])
            run = self._run
        run.append(fix)
        anchor = self._run_anchor
        if anchor is None:
            self._run_anchor = fix
            return False
        step = _dist_m(anchor, fix)
        if step >= s.decimate_m:
            self._run_path_m += step
            self._run_anchor = fix
        return self._run_path_m >= s.manoeuvre_path_m

    def _parked(self, fix: Fix, events: list[TripEvent]) -> None:
        s = self._s
        rest = self._rest
        assert rest is not None
        engine_off = self._engine_off
        if engine_off is not None:
            if _dist_m(engine_off[1], fix) <= s.engine_off_radius_m:
                # the engine is off: jitter, however far the receiver wanders, is no departure
                self._last_rest = fix
                self._pending.clear()
                self._candidate = None
                self._beyond_since = None
                self._end_run(fix)
                return
            self._engine_off = None  # moved off with the engine off: a hybrid, or towed
        if self._manoeuvre(fix):
            # Open from where the run began: the fixes since then are the trip, also those that
            # came back within the rest radius (a loop through the parking spot).
            prev = self._run_prev if self._run_prev is not None else self._last_rest
            assert prev is not None
            if self._last_rest is None or prev.time < self._last_rest.time:
                self._last_rest = prev
                self._pending = deque(self._run)
            else:
                self._pending.append(fix)
            self._open(events)
            return
        d = _dist_m(rest, fix)
        engine_off = self._engine_off
        if engine_off is not None and d > s.rest_radius_m:
            if _dist_m(engine_off[1], fix) <= s.engine_off_radius_m:
                d = 0.0  # the engine is off: jitter, however far the receiver wanders
            else:
                self._engine_off = None
        if d <= s.rest_radius_m:
            if self._split_at is not None and _seconds(self._split_at, fix.time) >= s.stop_window_s:
                self._split_at = None  # stood still for a whole stop window: a real stop since
            self._last_rest = fix
            self._pending.clear()
            self._candidate = None
            self._beyond_since = None
            return
        self._pending.append(fix)
        # Standing still elsewhere for a whole stop window is being parked there (Traccar's
        # stop rule): the rest point moves, so a later departure is not back-dated to a
        # manoeuvre that began before the wait.
        cand = self._candidate
        if cand is None or _dist_m(cand, fix) > s.rest_radius_m:
            self._candidate = fix
        elif _seconds(cand.time, fix.time) >= s.stop_window_s:
            self._split_at = None
            self._rest = cand
            self._last_rest = fix
            self._pending.clear()
            self._candidate = None
            self._beyond_since = None
            return
        # A departure older than parked_buffer_s that never got 200 m away was no departure:
        # move the rest point along instead of growing the buffer without bound.
        while self._pending and _seconds(self._pending[0].time, fix.time) > s.parked_buffer_s:
            oldest = self._pending.popleft()
            self._rest = self._last_rest = oldest
            d = _dist_m(oldest, fix)
        if d < s.move_distance_m:
            self._beyond_since = None
            return
        if self._beyond_since is None:
            self._beyond_since = fix.time
        if _seconds(self._beyond_since, fix.time) >= s.move_confirm_s:
            self._open(events)

    def _open(self, events: list[TripEvent]) -> None:
        rest, last_rest = self._rest, self._last_rest
        assert rest is not None and last_rest is not None
        flags = set(last_rest.flags)
        started_at = last_rest.time
        if self._split_at is not None:
            flags.add(FLAG_SPLIT_PRIVATE_SWITCH)
            if rest.time == self._split_at:
                # Continues a split trip: it starts at the switch fix, where the other one ended.
                started_at = rest.time
        # Back-dated: the trip starts where the car was parked, at the last moment it was.
        point = CountedPoint(started_at, rest.lat, rest.lon, 0.0)
        self._trip = _Trip(
            started_at=point.time,
            start=(rest.lat, rest.lon),
            mode=self._mode,
            odometer_start_km=self._odometer,
            flags=flags,
            gaps=[],
            window=deque([point]),
            settle=point,
        )
        events.append(TripOpened(point.time, (rest.lat, rest.lon), self._mode, self._odometer))
        self._add_track_point(point, events)
        prev = last_rest
        for fix in self._pending:
            self._advance(prev, fix, events)
            prev = fix
        self._pending.clear()
        self._candidate = None
        self._beyond_since = None
        self._split_at = None
        self.still_from = None
        if self._beyond_at is not None and self._beyond_at >= started_at:
            self._trip.flags.add(FLAG_IMPLAUSIBLE_MOTION)

    def _add_track_point(self, point: CountedPoint, events: list[TripEvent]) -> None:
        trip = self._trip
        assert trip is not None
        if trip.mode is not TripMode.BUSINESS:
            return  # private: not even kept in memory
        tp = TrackPoint(point.time, point.lat, point.lon)
        trip.track.append(tp)
        events.append(TrackPointAdded(tp))

    def _advance(self, prev: Fix, fix: Fix, events: list[TripEvent], dt: float | None = None) -> None:
        """Count the step prev -> fix into the open trip (decimated; short gaps bridged); `dt`,
        when the caller has it, is (fix.time - prev.time).total_seconds()."""
        s = self._s
        trip = self._trip
        assert trip is not None
        if fix.flags:  # (most fixes have none: no call for nothing)
            trip.flags.update(fix.flags)
        counted = trip.window[-1]
        step = self._step
        if (
            step is not None and step[1] is fix and step[0] is prev
            and counted.lat == prev.lat and counted.lon == prev.lon
        ):
            d = step[2]  # the same two positions, so the same bits as _dist_m(counted, fix)
        else:
            d = _dist_m(counted, fix)
        if dt is None:
            dt = (fix.time - prev.time).total_seconds()
        bridged = dt > s.gap_min_s
        if bridged:
            trip.gaps.append(self._gap(prev, fix, bridged=True))
            trip.flags.add(FLAG_GAP_BRIDGED)
        # The stand-still candidate is always a counted point, so the km up to it (what the
        # trip will at least be) never shrinks: the live odometer is monotonic.
        settle = trip.settle
        settle_moved = (d if settle is counted else _dist_m(settle, fix)) > s.rest_radius_m
        if bridged or settle_moved or d >= s.decimate_m:
            counted = CountedPoint(fix.time, fix.lat, fix.lon, counted.cum_km + d / 1000.0)
            trip.window.append(counted)
            if trip.mode is TripMode.BUSINESS:  # `_add_track_point` inline (once per counted point)
                tp = TrackPoint(counted.time, counted.lat, counted.lon)
                trip.track.append(tp)
                events.append(TrackPointAdded(tp))
        if settle_moved:
            trip.settle = counted

    def _stopped(self, fix: Fix) -> bool:
        """Traccar's stop: no point of the last stop_window_s farther than stop_distance_m."""
        s = self._s
        trip = self._trip
        assert trip is not None
        window = trip.window
        now = fix.time
        # keep exactly one point at or before the window start: where the car was then
        cutoff = self._window_start(now)
        if cutoff is not None:
            # A point is at or before the window start when its time is at or before `cutoff`:
            # one datetime comparison instead of a subtraction and total_seconds() per point.
            while len(window) >= 2 and window[1].time <= cutoff:
                window.popleft()
            if window[0].time > cutoff:
                return False  # not observed for a whole window yet
        else:
            stop_window_s = s.stop_window_s
            while len(window) >= 2 and (now - window[1].time).total_seconds() >= stop_window_s:
                window.popleft()
            if (now - window[0].time).total_seconds() < stop_window_s:
                return False  # not observed for a whole window yet
        # the oldest point is the likeliest to be far, so a driving car fails on the first test
        # (a plain loop: a generator for all() cost more than that one distance)
        stop_distance_m = s.stop_distance_m
        # A great-circle distance is at least R * |latitude difference| (the haversine without
        # its longitude term). Beyond this bound, with room for rounding, the point is certainly
        # farther than stop_distance_m: a car that drove off in any direction but nearly due
        # east or west fails here without the trigonometry. (A NaN fails the test and goes on
        # to the haversine, as before.)
        lat_bound = stop_distance_m * (1.0 + 1e-9) / _M_PER_DEG_LAT
        fix_lat = fix.lat
        if abs(window[0].lat - fix_lat) > lat_bound:
            return False  # (the common case while driving, before anything else)
        # A car still moving (by speed over ground, and not standing where it stopped) drives a
        # manoeuvre within the circle: not a stop yet, whatever the window says.
        moving_at = self._last_moving_at
        hold = self._moving_hold
        if moving_at is not None and now - moving_at < hold and now - trip.settle.time < hold:
            return False
        for p in window:
            if abs(p.lat - fix_lat) > lat_bound:
                return False
            if not _dist_m(p, fix) <= stop_distance_m:  # (not > : the same answer as all() for a NaN)
                return False
        return True

    def _window_start(self, now: datetime) -> datetime | None:
        """`now - stop_window_s` when that is exact (a whole number of microseconds, as the 180 s
        default): then `(now - t).total_seconds() >= stop_window_s` is `t <= now - window` (the
        seconds are the microseconds divided by 10**6, correctly rounded, so the two agree), and
        one comparison a point does. None otherwise (the float test is then used)."""
        window = self._stop_window
        return None if window is None else now - window

    def _close(self, events: list[TripEvent], flags: set[str], at_last: bool = False,
               engine_off: tuple[datetime, Fix] | None = None) -> None:
        """Close the open trip at its stand-still point, standing where the last fix is; with
        `at_last` (a split by the privacy switch) at the last fix's time instead; with
        `engine_off` (time, last fix then) there, unless the stand-still point came first."""
        trip, last = self._trip, self._last
        assert trip is not None and last is not None
        settle = trip.settle
        distance = round(settle.cum_km + _dist_m(settle, last) / 1000.0, 3)
        end = (last.lat, last.lon)
        ended_at = last.time if at_last else settle.time
        if engine_off is not None and engine_off[0] < ended_at:
            # the receiver wandered after the engine went off: the trip ends where it went off,
            # counted up to there
            ended_at = max(engine_off[0], trip.started_at)
            where = engine_off[1]
            before = [p for p in trip.window if p.time <= where.time]
            if before:
                distance = round(before[-1].cum_km + _dist_m(before[-1], where) / 1000.0, 3)
            end = (where.lat, where.lon)
        odometer_end = round(trip.odometer_start_km + distance, 3)
        # a gap while the car already stood still at its destination is not part of the trip
        gaps = [g for g in trip.gaps if g.started_at < ended_at]
        trip_flags = set(trip.flags)
        if not any(g.bridged for g in gaps):
            trip_flags.discard(FLAG_GAP_BRIDGED)
        track: list[TrackPoint] = []
        if trip.mode is TripMode.BUSINESS:
            points = [p for p in trip.track if p.time < ended_at]
            points.append(TrackPoint(ended_at, end[0], end[1]))
            keep = simplify_indices([(p.lat, p.lon) for p in points], self._s.simplify_tolerance_m)
            track = [points[i] for i in keep]
        record = TripRecord(
            started_at=trip.started_at,
            ended_at=ended_at,
            start=trip.start,
            end=end,
            distance_km=distance,
            odometer_start_km=trip.odometer_start_km,
            odometer_end_km=odometer_end,
            mode=trip.mode,
            flags=sorted(trip_flags | flags),
            gaps=gaps,
            track=track,
        )
        self._odometer = odometer_end
        self._trip = None
        events.append(TripClosed(record))

    @staticmethod
    def _gap(a: Fix, b: Fix, bridged: bool) -> Gap:
        return Gap(a.time, b.time, round(_dist_m(a, b) / 1000.0, 3), bridged)


# ---------------------------------------------------------------- resume state
# The detector's continuation state as JSON for the store's open trip (business trips only; the
# store keeps it opaque). The track is not in it: the store persists the track points on its own
# and hands them back. `TripDetector.resume(decode_state(...))` continues where it was taken.

#: Version of the resume state written into the store's open trip.
STATE_VERSION = 3  # 3: the stop window is rebuilt from the persisted track (2 carried it)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


def _t(value: datetime) -> int:
    """Microseconds since 1970 UTC: exact, and much cheaper than ISO text at every flush."""
    return (value - _EPOCH) // _US


def _dt(value: int) -> datetime:
    return _EPOCH + int(value) * _US


def _encode_fix(fix: Fix) -> dict[str, Any]:
    return {
        "t": _t(fix.time), "lat": fix.lat, "lon": fix.lon, "v": fix.speed_kmh, "c": fix.course_deg,
        "h": fix.hdop, "s": fix.satellites, "q": fix.quality, "f": sorted(fix.flags), "a": fix.altitude_m,
    }


def _decode_fix(data: dict[str, Any]) -> Fix:
    return Fix(
        time=_dt(data["t"]), lat=float(data["lat"]), lon=float(data["lon"]),
        speed_kmh=data["v"], course_deg=data["c"], hdop=data["h"], satellites=data["s"],
        quality=data["q"], flags=frozenset(data["f"]), altitude_m=data.get("a"),
    )


_POINT = struct.Struct("<qddd")  # time (us since 1970), lat, lon, cum_km


def _encode_point(point: CountedPoint) -> list[Any]:
    return [_t(point.time), point.lat, point.lon, point.cum_km]


def _decode_point(data: list[Any]) -> CountedPoint:
    return CountedPoint(_dt(data[0]), float(data[1]), float(data[2]), float(data[3]))


def _unpack_points(text: str) -> tuple[CountedPoint, ...]:
    raw = base64.b64decode(text, validate=True)
    return tuple(CountedPoint(_dt(t), lat, lon, cum) for t, lat, lon, cum in _POINT.iter_unpack(raw))


def encode_state(trip: OpenTrip) -> dict[str, Any]:
    """JSON-able resume state of a detector snapshot, without its track and without the points
    of its stop window: those are the track's newest points (every counted point of a business
    trip is a track point), which the store persists anyway. The state names the window by its
    length, first and last time and the km up to its first point; `decode_state` rebuilds it
    from the persisted track. (Writing the window's packed points, ~4 KB, every state save was
    most of the state's cost.)"""
    window = trip.window
    return {
        "v": STATE_VERSION,
        "started_at": _t(trip.started_at),
        "start": list(trip.start),
        "mode": trip.mode.value,
        "odometer_start_km": trip.odometer_start_km,
        "distance_km": trip.distance_km,
        "last_fix": _encode_fix(trip.last_fix),
        "flags": sorted(trip.flags),
        "gaps": [[_t(g.started_at), _t(g.ended_at), g.distance_km, g.bridged] for g in trip.gaps],
        "window": [_t(window[0].time), window[0].cum_km, len(window), _t(window[-1].time)],
        "settle": _encode_point(trip.settle),
        "suspects": [_encode_fix(f) for f in trip.suspects],
    }


def _rebuild_window(data: list[Any], track: tuple[TrackPoint, ...]) -> tuple[CountedPoint, ...]:
    """The stop window of a version-3 state from the track up to the state's last fix: its last
    `n` points, counted again from the first one's km (device.trips.counted_window).
    ValueError when the track does not end with that window (then the trip is not resumed)."""
    t0, cum0, n, t_last = data
    n = int(n)
    points = track[-n:] if n > 0 else ()
    if n < 1 or len(points) != n or _t(points[0].time) != int(t0) or _t(points[-1].time) != int(t_last):
        raise ValueError("the stop window is not in the persisted track")
    return counted_window(points, float(cum0))


def decode_state(state: dict[str, Any], points: list[TrackPoint], extra_flag: str | None = None) -> OpenTrip:
    """The detector snapshot back from `encode_state` plus the store's persisted track points
    (a version-2 state, written before the window was left out, carries its window itself)."""
    version = state.get("v")
    if version != STATE_VERSION and version != 2:
        raise ValueError("unknown open-trip state version")
    last_fix = _decode_fix(state["last_fix"])
    track = tuple(p for p in points if p.time <= last_fix.time)
    settle = _decode_point(state["settle"])
    flags = set(state["flags"])
    if extra_flag:
        flags.add(extra_flag)
    return OpenTrip(
        started_at=_dt(state["started_at"]),
        start=(float(state["start"][0]), float(state["start"][1])),
        mode=TripMode(state["mode"]),
        odometer_start_km=float(state["odometer_start_km"]),
        distance_km=float(state["distance_km"]),
        last_fix=last_fix,
        flags=frozenset(flags),
        gaps=tuple(
            Gap(_dt(a), _dt(b), float(d), bool(br))
            for a, b, d, br in state["gaps"]
        ),
        window=_unpack_points(state["window"]) if version == 2 else _rebuild_window(state["window"], track),
        settle=settle,
        track=track,
        suspects=tuple(_decode_fix(f) for f in state["suspects"]),
    )
