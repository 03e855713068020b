"""device.trips on synthetic fix sequences: parked jitter, drives, stops, gaps, filters, privacy.

Paths are built here with a spherical "destination point" formula, independent of device.geo,
so the expected path length is known by construction. Jitter comes from a fixed seed.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.model import Fix, TripMode, TripRecord
from device.trips import (
    FLAG_CLOSED_BY_GAP,
    FLAG_END_OF_INPUT,
    FLAG_GAP_BRIDGED,
    FLAG_SPLIT_PRIVATE_SWITCH,
    REJECT_HDOP,
    REJECT_JUMP,
    GapRecorded,
    TrackPointAdded,
    TripClosed,
    TripDetector,
    TripEvent,
    TripOpened,
    TripSettings,
)

R = 6_371_008.8
T0 = datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc)
HOME = (52.0907, 5.1214)  # Utrecht


# ------------------------------------------------------------------ fix generators


def destination(lat: float, lon: float, bearing_deg: float, dist_m: float) -> tuple[float, float]:
    """Point `dist_m` from (lat, lon) along the initial bearing (great circle)."""
    phi1, lmb1, th = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    delta = dist_m / R
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(th))
    lmb2 = lmb1 + math.atan2(
        math.sin(th) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
    )
    return math.degrees(phi2), math.degrees(lmb2)


def gc_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance by the spherical law of cosines (not device.geo's haversine)."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dl = math.radians(b[1] - a[1])
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return R * math.acos(max(-1.0, min(1.0, c)))


@dataclass
class Walk:
    """A sequence of fixes under construction; `time`/`pos` are where the car is now."""

    time: datetime = T0
    pos: tuple[float, float] = HOME
    fixes: list[Fix] | None = None
    path_m: float = 0.0  # length of all driven legs

    def __post_init__(self) -> None:
        self.fixes = []

    def drive(
        self,
        legs: list[tuple[float, float]],
        speed_kmh: float,
        hz: float = 1.0,
        noise_m: float = 2.0,
        seed: int = 0,
    ) -> Walk:
        """Drive legs of (bearing, metres) at constant speed, one fix per 1/hz s, with receiver noise."""
        assert self.fixes is not None
        rng = random.Random(seed)
        a = 0.99 if hz > 2 else 0.9
        x = y = 0.0
        step = speed_kmh / 3.6 / hz
        for bearing, length in legs:
            done = 0.0
            while done < length - 1e-9:
                d = min(step, length - done)
                self.pos = destination(*self.pos, bearing, d)
                self.time += timedelta(seconds=d / step / hz)
                done += d
                x = a * x + rng.gauss(0, noise_m * math.sqrt(1 - a * a))
                y = a * y + rng.gauss(0, noise_m * math.sqrt(1 - a * a))
                lat, lon = destination(*destination(*self.pos, 90.0, x), 0.0, y)
                self.fixes.append(Fix(self.time, lat, lon, speed_kmh=speed_kmh, course_deg=bearing, hdop=0.9))
            self.path_m += length
        return self

    def park(self, seconds: float, hz: float = 1.0, seed: int = 1, sigma_m: float = 3.0) -> Walk:
        """Stand still with receiver jitter: a correlated wander (AR(1)) around the position."""
        assert self.fixes is not None
        rng = random.Random(seed)
        x = y = 0.0
        a = 0.99 if hz > 2 else 0.9  # GPS error wanders slowly; at 10 Hz it is even smoother
        noise = sigma_m * math.sqrt(1 - a * a)
        for _ in range(int(seconds * hz)):
            self.time += timedelta(seconds=1 / hz)
            x = a * x + rng.gauss(0, noise)
            y = a * y + rng.gauss(0, noise)
            lat, lon = destination(*destination(*self.pos, 90.0, x), 0.0, y)
            self.fixes.append(Fix(self.time, lat, lon, speed_kmh=abs(rng.gauss(0, 0.3)), hdop=1.1))
        return self

    def blind(self, seconds: float) -> Walk:
        """No fixes for a while (tunnel, garage, device off) while the car stands still."""
        self.time += timedelta(seconds=seconds)
        return self

    def drive_blind(self, legs: list[tuple[float, float]], speed_kmh: float) -> Walk:
        """Drive without any fix (a tunnel): time and position advance, no fixes."""
        for bearing, length in legs:
            self.pos = destination(*self.pos, bearing, length)
            self.time += timedelta(seconds=length / (speed_kmh / 3.6))
            self.path_m += length
        return self


# A city/ring-road route with turns: 10.2 km
ROUTE = [(80.0, 1500.0), (10.0, 800.0), (95.0, 3000.0), (170.0, 1200.0), (250.0, 2200.0), (300.0, 1500.0)]


def run(
    fixes: list[Fix], det: TripDetector | None = None, finish: bool = True
) -> tuple[TripDetector, list[TripEvent]]:
    det = det or TripDetector()
    events: list[TripEvent] = []
    for fix in fixes:
        events += det.feed(fix)
    if finish:
        events += det.finish()
    return det, events


def records(events: list[TripEvent]) -> list[TripRecord]:
    return [e.record for e in events if isinstance(e, TripClosed)]


# ------------------------------------------------------------------ geo helpers


def test_geo_haversine_and_simplification_edge_cases() -> None:
    from device.geo import haversine_m, simplify_indices

    assert haversine_m(52.0, 5.0, 53.0, 5.0) == pytest.approx(R * math.pi / 180, rel=1e-9)
    assert haversine_m(0.0, 179.9, 0.0, -179.9) == pytest.approx(gc_m((0.0, 179.9), (0.0, -179.9)), rel=1e-6)
    assert simplify_indices([HOME] * 5, 10.0) == [0, 4]  # a car that never moved
    assert simplify_indices([HOME], 10.0) == [0]
    there = destination(*HOME, 90.0, 500.0)
    assert simplify_indices([HOME, there, HOME], 10.0) == [0, 1, 2]  # there and back keeps the turn


# ------------------------------------------------------------------ parked


@pytest.mark.parametrize("hz", [1, 10])
def test_parked_jitter_for_an_hour_is_no_trip(hz: int) -> None:
    walk = Walk().park(3600, hz=hz, seed=7, sigma_m=4.0)
    fixes = walk.fixes or []
    # the jitter track is long: summing it naively would give km (this makes the test meaningful)
    naive_m = sum(gc_m((a.lat, a.lon), (b.lat, b.lon)) for a, b in zip(fixes, fixes[1:]))
    assert naive_m > 500
    det, events = run(fixes, TripDetector(odometer_km=1000.0))
    assert events == []
    assert det.odometer_km == 1000.0
    assert det.open_trip is None


def test_parked_outliers_do_not_start_a_trip() -> None:
    walk = Walk().park(600, seed=3)
    fixes = list(walk.fixes or [])
    # multipath: single fixes 300 m off, far too fast to be real, and a bad-HDOP cloud 500 m off
    for i in range(50, 600, 60):
        f = fixes[i]
        fixes[i] = replace(f, lat=destination(f.lat, f.lon, 45.0, 300.0)[0])
    for i in range(20, 600, 45):
        f = fixes[i]
        fixes[i] = replace(f, lon=destination(f.lat, f.lon, 90.0, 500.0)[1], hdop=12.0)
    det, events = run(fixes)
    assert records(events) == []
    assert det.rejected[REJECT_JUMP] > 0 and det.rejected[REJECT_HDOP] > 0


# ------------------------------------------------------------------ drives


def test_drive_is_one_trip_with_back_dated_start_and_accurate_distance() -> None:
    walk = Walk().park(120, seed=1)
    parked_until = walk.time
    walk.drive(ROUTE, 50.0)
    arrived = walk.time
    walk.park(400, seed=2)
    det, events = run(walk.fixes or [], TripDetector(odometer_km=12345.6))
    (trip,) = records(events)
    assert abs(trip.distance_km * 1000 - walk.path_m) / walk.path_m < 0.02
    # back-dated to the departure, not to the moment the car was 200 m away (~15 s later)
    assert parked_until - timedelta(seconds=2) <= trip.started_at <= parked_until + timedelta(seconds=3)
    opened = next(e for e in events if isinstance(e, TripOpened))
    assert opened.started_at == trip.started_at
    # and the end is the arrival, not the moment the stop was recognised (180 s later)
    assert abs((trip.ended_at - arrived).total_seconds()) <= 3
    assert gc_m(trip.start or (0, 0), HOME) < 15 and gc_m(trip.end or (0, 0), walk.pos) < 15
    assert trip.odometer_start_km == 12345.6
    assert trip.odometer_end_km == pytest.approx(12345.6 + trip.distance_km, abs=1e-9)
    assert det.odometer_km == trip.odometer_end_km
    assert trip.mode is TripMode.BUSINESS and trip.flags == [] and trip.gaps == []
    assert FLAG_END_OF_INPUT not in trip.flags  # closed by the stop, not by finish()


def test_drive_at_10_hz_is_not_inflated() -> None:
    walk = Walk().park(60, hz=10, seed=4).drive(ROUTE, 80.0, hz=10, noise_m=3.0).park(300, hz=10, seed=5)
    fixes = walk.fixes or []
    _, events = run(fixes)
    (trip,) = records(events)
    assert abs(trip.distance_km * 1000 - walk.path_m) / walk.path_m < 0.02
    # the same noise summed at 10 Hz without decimation would be far off (the test can fail)
    _, raw = run(fixes, TripDetector(TripSettings(decimate_m=0.0)))
    (raw_trip,) = records(raw)
    raw_error = raw_trip.distance_km * 1000 / walk.path_m - 1
    assert raw_error > 0.03 and raw_error > 3 * abs(trip.distance_km * 1000 / walk.path_m - 1)


def test_business_track_is_simplified_but_keeps_the_corners() -> None:
    legs = [(90.0, 3000.0), (0.0, 2000.0)]
    walk = Walk().park(60).drive(legs, 60.0, noise_m=0.5).park(300)
    _, events = run(walk.fixes or [])
    added = [e for e in events if isinstance(e, TrackPointAdded)]
    (trip,) = records(events)
    assert len(added) > 200  # the raw decimated points went out for the store's batches
    assert len(trip.track) == 3  # start, corner, end: a straight road needs no more points
    corner = destination(*HOME, 90.0, 3000.0)
    assert gc_m((trip.track[1].lat, trip.track[1].lon), corner) < 20
    assert trip.track[0].time == trip.started_at and trip.track[-1].time == trip.ended_at


def test_stop_of_five_minutes_splits_into_two_trips_with_a_closed_odometer_chain() -> None:
    walk = Walk().park(60).drive(ROUTE[:3], 50.0)
    first_m = walk.path_m
    walk.park(300, seed=9).drive(ROUTE[3:], 50.0).park(300, seed=10)
    second_m = walk.path_m - first_m
    det, events = run(walk.fixes or [], TripDetector(odometer_km=500.0))
    t1, t2 = records(events)
    assert abs(t1.distance_km * 1000 - first_m) / first_m < 0.02
    assert abs(t2.distance_km * 1000 - second_m) / second_m < 0.02
    assert t1.odometer_start_km == 500.0
    assert t1.odometer_end_km == t2.odometer_start_km
    assert det.odometer_km == t2.odometer_end_km
    assert t2.started_at - t1.ended_at >= timedelta(seconds=295)


def test_stop_shorter_than_the_window_does_not_split() -> None:
    walk = Walk().park(60).drive(ROUTE[:3], 50.0).park(120, seed=9).drive(ROUTE[3:], 50.0).park(300)
    _, events = run(walk.fixes or [])
    (trip,) = records(events)
    assert abs(trip.distance_km * 1000 - walk.path_m) / walk.path_m < 0.02


# ------------------------------------------------------------------ gaps


def test_short_tunnel_gap_is_bridged_and_flagged() -> None:
    walk = Walk().park(60).drive(ROUTE[:2], 70.0)
    entered = walk.time
    walk.drive_blind([(95.0, 1500.0)], 70.0)  # ~77 s without fixes
    walk.drive([(95.0, 1500.0)] + ROUTE[3:], 70.0).park(300)
    _, events = run(walk.fixes or [])
    (trip,) = records(events)
    assert FLAG_GAP_BRIDGED in trip.flags
    (gap,) = trip.gaps
    assert gap.bridged and gap.started_at == entered
    assert gap.distance_km == pytest.approx(1.5, abs=0.03)
    assert abs(trip.distance_km * 1000 - walk.path_m) / walk.path_m < 0.02


def test_leaving_an_underground_garage_is_back_dated_across_the_gap() -> None:
    walk = Walk().park(600, seed=12)
    lost_at = walk.time
    walk.drive_blind([(80.0, 400.0)], 20.0)  # 72 s in the ramp without a fix
    walk.drive(ROUTE[1:3], 50.0).park(300)
    _, events = run(walk.fixes or [])
    (trip,) = records(events)
    assert trip.started_at == lost_at  # the last fix in the garage, not the first one outside
    assert FLAG_GAP_BRIDGED in trip.flags and trip.gaps[0].bridged
    assert abs(trip.distance_km * 1000 - walk.path_m) / walk.path_m < 0.02


def test_long_gap_ending_far_away_is_a_visible_gap_not_a_silent_jump() -> None:
    walk = Walk().park(60).drive(ROUTE[:2], 50.0)
    before = walk.pos
    last_fix_time = walk.time
    walk.drive_blind([(95.0, 15000.0)], 50.0)  # 18 min without fixes, 15 km on
    walk.drive(ROUTE[3:], 50.0).park(300)
    det, events = run(walk.fixes or [])
    t1, t2 = records(events)
    gaps = [e.gap for e in events if isinstance(e, GapRecorded)]
    (gap,) = gaps
    assert FLAG_CLOSED_BY_GAP in t1.flags
    assert t1.ended_at <= last_fix_time and gap.started_at == last_fix_time
    assert not gap.bridged and gap.distance_km == pytest.approx(15.0, rel=0.01)
    assert gc_m(t1.end or (0, 0), before) < 25
    # the km in the gap are not invented: the odometer continues where the GPS saw the car
    assert t2.odometer_start_km == t1.odometer_end_km
    assert det.odometer_km == pytest.approx(t1.distance_km + t2.distance_km, abs=0.002)
    # the order tells the store what happened: trip closed, then the gap, then the next trip
    kinds = [type(e).__name__ for e in events if not isinstance(e, TrackPointAdded)]
    assert kinds == ["TripOpened", "TripClosed", "GapRecorded", "TripOpened", "TripClosed"]


def test_device_off_while_parked_is_no_event() -> None:
    walk = Walk().park(60).drive(ROUTE[:2], 50.0).park(300).blind(8 * 3600).park(120, seed=11)
    walk.drive(ROUTE[2:3], 50.0).park(300)
    _, events = run(walk.fixes or [])
    assert len(records(events)) == 2
    assert not any(isinstance(e, GapRecorded) for e in events)


# ------------------------------------------------------------------ filters


def test_high_hdop_and_teleports_are_ignored_during_a_drive() -> None:
    walk = Walk().park(60).drive(ROUTE, 50.0).park(300)
    clean = list(walk.fixes or [])
    dirty = list(clean)
    for i in range(100, len(dirty) - 400, 37):
        f = dirty[i]
        dirty[i] = replace(f, lat=f.lat + 0.02, hdop=9.5)  # 2 km off, but the receiver says so
    for i in range(130, len(dirty) - 400, 101):
        f = dirty[i]
        dirty[i] = replace(f, lat=f.lat - 0.5)  # 55 km teleport with a good HDOP
    det_c, ev_c = run(clean)
    det_d, ev_d = run(dirty)
    (tc,) = records(ev_c)
    (td,) = records(ev_d)
    teleports = [i for i in range(130, len(dirty) - 400, 101) if (dirty[i].hdop or 0) <= 5]
    assert det_d.rejected[REJECT_HDOP] == sum(1 for f in dirty if (f.hdop or 0) > 5) > 5
    assert det_d.rejected[REJECT_JUMP] == len(teleports) > 3
    assert abs(td.distance_km - tc.distance_km) / tc.distance_km < 0.005
    assert abs(td.distance_km * 1000 - walk.path_m) / walk.path_m < 0.02


def test_receiver_that_really_jumped_wins_after_consistent_fixes() -> None:
    """If the fixes after a jump agree with each other, our reference was wrong: re-anchor."""
    walk = Walk().park(60).drive(ROUTE[:2], 50.0)
    walk.pos = destination(*walk.pos, 0.0, 30000.0)  # receiver re-acquires 30 km away, 1 s later
    walk.drive(ROUTE[2:4], 50.0).park(300)
    det, events = run(walk.fixes or [])
    t1, t2 = records(events)
    assert "position_jump" in t1.flags
    (gap,) = [e.gap for e in events if isinstance(e, GapRecorded)]
    assert gap.distance_km == pytest.approx(30.0, rel=0.01)
    assert t2.distance_km * 1000 == pytest.approx(3000 + 1200, rel=0.02)


def test_time_reset_from_the_nmea_stage_closes_the_trip_as_a_time_jump() -> None:
    walk = Walk().park(60).drive(ROUTE[:2], 50.0)
    n = len(walk.fixes or [])
    walk.time -= timedelta(hours=2)  # the receiver's clock restarts on a new, earlier timeline
    walk.drive(ROUTE[2:3], 50.0).park(300)
    fixes = list(walk.fixes or [])
    fixes[n] = replace(fixes[n], flags=frozenset({"time_reset"}))
    det, events = run(fixes)
    t1, t2 = records(events)
    assert "time_jump" in t1.flags and t1.ended_at <= fixes[n - 1].time
    assert not any(isinstance(e, GapRecorded) for e in events)  # no gap can span backwards
    assert t2.started_at >= fixes[n].time and t2.odometer_start_km == t1.odometer_end_km
    assert det.rejected["time_not_increasing"] == 0


def test_live_odometer_never_decreases_even_with_jitter_at_the_destination() -> None:
    walk = Walk().park(60).drive(ROUTE[:3], 50.0, noise_m=4.0).park(400, seed=21, sigma_m=8.0)
    walk.drive(ROUTE[3:], 50.0, noise_m=4.0, seed=3).park(400, seed=22, sigma_m=8.0)
    det = TripDetector(odometer_km=42.0)
    seen = det.odometer_km
    events: list[TripEvent] = []
    for fix in walk.fixes or []:
        events += det.feed(fix)
        assert det.odometer_km >= seen
        seen = det.odometer_km
    t1, t2 = records(events)
    assert det.odometer_km == t2.odometer_end_km and t1.odometer_end_km == t2.odometer_start_km


# ------------------------------------------------------------------ privacy switch


def test_private_switch_mid_trip_splits_and_private_part_has_no_track_points() -> None:
    walk = Walk().park(60).drive(ROUTE[:3], 50.0)
    n_business = len(walk.fixes or [])
    walk.drive(ROUTE[3:5], 50.0)
    n_private = len(walk.fixes or [])
    walk.drive(ROUTE[5:], 50.0).park(300)
    fixes = walk.fixes or []
    det = TripDetector(odometer_km=100.0)
    events: list[TripEvent] = []
    for f in fixes[:n_business]:
        events += det.feed(f)
    switch_pos = (fixes[n_business - 1].lat, fixes[n_business - 1].lon)
    events += det.set_mode(TripMode.PRIVATE)
    assert det.mode is TripMode.PRIVATE
    private_from = len(events)
    for f in fixes[n_business:n_private]:
        events += det.feed(f)
    private_events = events[private_from:]
    events += det.set_mode(TripMode.BUSINESS)
    for f in fixes[n_private:]:
        events += det.feed(f)
    events += det.finish()

    t1, t2, t3 = records(events)
    assert [t.mode for t in (t1, t2, t3)] == [TripMode.BUSINESS, TripMode.PRIVATE, TripMode.BUSINESS]
    assert FLAG_SPLIT_PRIVATE_SWITCH in t1.flags and FLAG_SPLIT_PRIVATE_SWITCH in t2.flags
    assert t2.start == switch_pos and t1.end == switch_pos
    switched_at = fixes[n_business - 1].time
    # split at the switch fix: the parts chain exactly in time (no hole, no overlap)
    assert t1.ended_at == switched_at == t2.started_at
    assert t2.ended_at == fixes[n_private - 1].time == t3.started_at
    assert t1.odometer_end_km == t2.odometer_start_km and t2.odometer_end_km == t3.odometer_start_km
    assert t2.track == [] and len(t1.track) >= 2 and len(t3.track) >= 2
    assert not any(isinstance(e, TrackPointAdded) for e in private_events)
    # the whole private stretch emitted exactly: TripClosed(business), TripOpened(private), nothing else
    assert all(isinstance(e, (TripOpened, TripClosed)) for e in private_events)
    total_m = walk.path_m
    assert abs(sum(t.distance_km for t in (t1, t2, t3)) * 1000 - total_m) / total_m < 0.02


def test_switch_pressed_on_arrival_makes_no_empty_trip() -> None:
    walk = Walk().park(60).drive(ROUTE[:3], 50.0).park(30, seed=5)
    n = len(walk.fixes or [])
    walk.park(1800, seed=6)
    fixes = walk.fixes or []
    det, events = run(fixes[:n], finish=False)
    events += det.set_mode(TripMode.PRIVATE)  # the driver flips the switch before walking off
    events += run(fixes[n:], det)[1]
    (trip,) = records(events)
    assert trip.mode is TripMode.BUSINESS and FLAG_SPLIT_PRIVATE_SWITCH in trip.flags
    assert abs(trip.distance_km * 1000 - walk.path_m) / walk.path_m < 0.02
    # the next private trip, driven much later, is a trip of its own, not a split continuation
    walk.fixes = []
    walk.drive(ROUTE[3:], 50.0).park(300)
    (later,) = records(run(walk.fixes, det)[1])
    assert later.mode is TripMode.PRIVATE and FLAG_SPLIT_PRIVATE_SWITCH not in later.flags
    assert later.odometer_start_km == trip.odometer_end_km


def test_private_departure_never_leaks_positions_from_before_a_switch_to_business() -> None:
    """A movement pending confirmation must not be back-dated across a private -> business switch."""
    # moving, but neither 200 m away nor 100 m of manoeuvre path: no trip yet
    walk = Walk().park(60).drive([(0.0, 80.0)], 20.0)
    det = TripDetector(mode=TripMode.PRIVATE)
    _, events = run(walk.fixes or [], det, finish=False)
    assert events == []
    switched_at = walk.time
    events += det.set_mode(TripMode.BUSINESS)
    walk.fixes = []
    walk.drive([(0.0, 2000.0)], 50.0).park(300)
    events += run(walk.fixes, det)[1]
    (trip,) = records(events)
    assert trip.mode is TripMode.BUSINESS and trip.started_at >= switched_at
    assert all(p.time >= switched_at for p in trip.track)
    assert all(e.point.time >= switched_at for e in events if isinstance(e, TrackPointAdded))


def test_private_open_trip_snapshot_has_no_track() -> None:
    walk = Walk().park(60).drive(ROUTE[:2], 50.0)
    det, _ = run(walk.fixes or [], TripDetector(mode=TripMode.PRIVATE), finish=False)
    snap = det.open_trip
    assert snap is not None and snap.mode is TripMode.PRIVATE and snap.track == ()


# ------------------------------------------------------------------ finish and resume


@pytest.mark.parametrize("flag", [None, "power_loss"])
def test_finish_closes_the_open_trip(flag: str | None) -> None:
    walk = Walk().park(60).drive(ROUTE[:3], 50.0)
    det, events = run(walk.fixes or [], finish=False)
    assert records(events) == [] and det.open_trip is not None
    closing = det.finish(flag)
    (trip,) = records(closing)
    assert (flag or FLAG_END_OF_INPUT) in trip.flags
    assert abs(trip.distance_km * 1000 - walk.path_m) / walk.path_m < 0.02
    assert det.open_trip is None and det.finish() == []


def _scenario() -> list[Fix]:
    walk = Walk().park(60).drive(ROUTE[:2], 50.0).drive_blind([(95.0, 1000.0)], 50.0)
    walk.drive([(95.0, 2000.0)], 50.0).park(300, seed=4).drive(ROUTE[3:], 50.0).park(100, seed=6)
    return walk.fixes or []


@pytest.mark.parametrize("cut", [150, 400, 700, 1001, 1100])
def test_resume_from_snapshot_gives_identical_results(cut: int) -> None:
    fixes = _scenario()
    _, uninterrupted = run(fixes)
    det, before = run(fixes[:cut], finish=False)
    snap = det.open_trip
    assert snap is not None, "cut points are chosen inside trips"
    assert snap.last_time == fixes[cut - 1].time
    resumed = TripDetector.resume(snap)
    assert resumed.odometer_km == det.odometer_km and resumed.mode is det.mode
    _, after = run(fixes[cut:], resumed)
    assert before + after == uninterrupted
    assert len(records(uninterrupted)) >= 2


# ------------------------------------------------------------------ property


step = st.one_of(
    st.tuples(
        st.just("fix"),
        st.floats(-5, 900),  # seconds since the previous fix (negatives: clock trouble)
        st.floats(0, 20000),  # metres moved
        st.floats(0, 360),  # bearing
        st.one_of(st.none(), st.floats(0.5, 30)),  # hdop
        st.booleans(),  # flagged time_reset by the NMEA stage
    ),
    st.tuples(st.just("mode"), st.sampled_from(list(TripMode))),
    st.tuples(st.just("finish")),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=120), st.floats(0, 500000))
def test_property_odometer_chain_and_privacy(steps: list[tuple], odometer: float) -> None:
    det = TripDetector(odometer_km=odometer)
    time, pos = T0, HOME
    events: list[TripEvent] = []
    odometer_seen = det.odometer_km
    for s in steps:
        if s[0] == "fix":
            _, dt, d, bearing, hdop, reset = s
            time += timedelta(seconds=dt)
            pos = destination(*pos, bearing, d)
            pos = (max(-89.0, min(89.0, pos[0])), (pos[1] + 180.0) % 360.0 - 180.0)
            flags = frozenset({"time_reset"}) if reset else frozenset()
            events += det.feed(Fix(time, pos[0], pos[1], hdop=hdop, flags=flags))
        elif s[0] == "mode":
            events += det.set_mode(s[1])
        else:
            events += det.finish()
        assert det.odometer_km >= odometer_seen - 1e-9
        odometer_seen = det.odometer_km
    events += det.finish()

    previous_end = round(odometer, 3)
    open_mode: TripMode | None = None
    for e in events:
        if isinstance(e, TripOpened):
            assert open_mode is None
            open_mode = e.mode
            assert e.odometer_start_km == previous_end
        elif isinstance(e, TrackPointAdded):
            assert open_mode is TripMode.BUSINESS
        elif isinstance(e, TripClosed):
            r = e.record
            assert open_mode is r.mode
            open_mode = None
            assert r.odometer_start_km == previous_end
            assert r.distance_km >= 0
            assert r.odometer_end_km - r.odometer_start_km == pytest.approx(r.distance_km, abs=1e-6)
            assert r.ended_at >= r.started_at
            if r.mode is TripMode.PRIVATE:
                assert r.track == []
            previous_end = r.odometer_end_km
    assert open_mode is None
    assert det.odometer_km == previous_end
    assert det.open_trip is None


def test_the_detectors_inlined_distance_is_bit_for_bit_geo_haversine() -> None:
    """trips._dist_m inlines geo.haversine_m for speed; odometers must not move by a bit."""
    from device.geo import haversine_m
    from device.trips import CountedPoint, _dist_m

    fixes = [f for f in Walk().park(30).drive(ROUTE, 50.0).fixes or []]
    rng = random.Random(7)
    pairs = list(zip(fixes, fixes[1:])) + [(rng.choice(fixes), rng.choice(fixes)) for _ in range(300)]
    far = [CountedPoint(fixes[0].time, rng.uniform(-90, 90), rng.uniform(-180, 180), 0.0) for _ in range(300)]
    pairs += list(zip(far, far[1:])) + [(far[0], CountedPoint(far[0].time, -far[0].lat, far[0].lon - 180, 0.0))]
    for a, b in pairs:
        assert _dist_m(a, b) == haversine_m(a.lat, a.lon, b.lat, b.lon)


@settings(max_examples=500, deadline=None)
@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(-0.01, 0.01),
    st.floats(-0.01, 0.01),
    st.sampled_from([20.0, 200.0, 1000.0]),
)
def test_the_stop_tests_latitude_bound_never_contradicts_the_haversine(
    lat: float, lon: float, dlat: float, dlon: float, limit: float
) -> None:
    """_stopped skips the haversine when the latitude difference alone proves a point is farther
    than the stop distance: that must never say 'farther' when the haversine says 'within'."""
    from device.trips import _M_PER_DEG_LAT, CountedPoint, _dist_m

    a = CountedPoint(T0, lat, lon, 0.0)
    b = CountedPoint(T0, max(-90.0, min(90.0, lat + dlat)), lon + dlon, 0.0)
    bound = limit * (1.0 + 1e-9) / _M_PER_DEG_LAT
    if abs(a.lat - b.lat) > bound:
        assert not _dist_m(a, b) <= limit


def test_the_stop_tests_latitude_bound_is_tight_enough_to_matter() -> None:
    # 200 m due north is beyond the bound a hair later, and a point just inside is not.
    from device.trips import _M_PER_DEG_LAT

    bound = 200.0 * (1.0 + 1e-9) / _M_PER_DEG_LAT
    assert 200.0 / _M_PER_DEG_LAT < bound < 200.001 / _M_PER_DEG_LAT
