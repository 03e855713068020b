"""device.trips on the real recordings in tests/data/nmea, against an independent ground truth.

The ground truth is computed here, without any device code: pynmea2 parses each line (checksum
required and valid), only RMC with status A and a date count, and the distance is the haversine
sum over consecutive fixes, skipping steps that imply more than 400 km/h (glitches) and steps
where the receiver's own speed over ground is below 5 km/h at both ends (parked jitter).
The same rules as the PROVENANCE.md statistics, so the figures can be compared with that table.

Our pipeline (device.nmea's FixAssembler -> device.trips.TripDetector) is then held to:
* moving recordings: trip km (plus the km of unbridged gaps, which are reported, not invented)
  within TOLERANCE of the ground truth;
* parked recordings (the ground truth never moves 200 m from the first fix): no trip at all.
"""
from __future__ import annotations

import math
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pynmea2
import pytest

from device.model import Fix, Gap, TripRecord
from device.nmea import RECORDING_MIN_DATE, FixAssembler, read_fixes
from device.trips import GapRecorded, TripClosed, TripDetector, TripEvent, TripOpened

# Issue 15's target: 2 %. The detector drops the last metres of each trip inside the 20 m rest
# radius and sums 10 m-decimated chords (corner cutting on curves); the ground truth sums every
# fix, noise included. Each effect is well under 1 % on a real drive; 2 % leaves room without
# hiding a real error such as counting parked jitter (tens of %) or losing a manoeuvre (a 0.64 km
# loop in an 8.6 km drive is 7.7 %).
TOLERANCE = 0.02
# Plus an absolute floor for tiny recordings: metres moved before a departure is confirmed, or
# inside the rest radius, are by design not counted (nl2008u: ~24 m of creeping before its cut).
TOLERANCE_FLOOR_KM = 0.05
MOVING_KMH = 5.0
MAX_KMH = 400.0


@dataclass(frozen=True)
class TruthFix:
    time: datetime
    lat: float
    lon: float
    speed_kmh: float


def haversine_km(a: TruthFix, b: TruthFix) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def truth_fixes(path: pathlib.Path) -> list[TruthFix]:
    """Valid RMC fixes in file order, strictly increasing in time."""
    out: list[TruthFix] = []
    for raw in path.read_bytes().splitlines():
        line = raw.decode("ascii", errors="replace").strip()
        star = line.rfind("*")
        if not line.startswith("$") or star < 0 or len(line) - star != 3:
            continue
        try:
            msg = pynmea2.parse(line, check=True)
        except (pynmea2.ParseError, ValueError, AttributeError, TypeError):
            continue
        if not isinstance(msg, pynmea2.types.talker.RMC) or msg.status != "A":
            continue
        if getattr(msg, "mode_indicator", None) in ("N", "M", "S"):
            continue
        try:
            day, tod, lat, lon = msg.datestamp, msg.timestamp, msg.latitude, msg.longitude
        except (ValueError, TypeError):
            continue
        if day is None or tod is None or not msg.lat or not msg.lon:
            continue
        time = datetime.combine(day, tod.replace(tzinfo=None), tzinfo=timezone.utc)
        if out and time <= out[-1].time:
            continue
        out.append(TruthFix(time, lat, lon, float(msg.spd_over_grnd or 0.0) * 1.852))
    return out


def truth_km(fixes: list[TruthFix]) -> float:
    total = 0.0
    for a, b in zip(fixes, fixes[1:]):
        d = haversine_km(a, b)
        dt_h = (b.time - a.time).total_seconds() / 3600
        if d / dt_h > MAX_KMH or max(a.speed_kmh, b.speed_kmh) < MOVING_KMH:
            continue
        total += d
    return total


def truth_stretches(fixes: list[TruthFix]) -> list[tuple[datetime, datetime]]:
    """Moving stretches: split at stand-stills (< 5 km/h) of 180 s or more and at gaps >= 300 s."""
    stretches: list[tuple[datetime, datetime]] = []
    start: TruthFix | None = None
    last_moving: TruthFix | None = None
    for prev, fix in zip([None, *fixes], fixes):
        if prev is not None and (fix.time - prev.time) >= timedelta(seconds=300) and start is not None:
            stretches.append((start.time, prev.time))
            start = last_moving = None
        if fix.speed_kmh >= MOVING_KMH:
            if last_moving is not None and fix.time - last_moving.time >= timedelta(seconds=180):
                stretches.append((start.time, last_moving.time))  # type: ignore[union-attr]
                start = None
            start = start or fix
            last_moving = fix
    if start is not None and last_moving is not None:
        stretches.append((start.time, last_moving.time))
    return stretches


@dataclass
class Result:
    trips: list[TripRecord]
    gaps: list[Gap]
    events: list[TripEvent]
    detector: TripDetector
    n_fixes: int


def detect(path: pathlib.Path) -> Result:
    fixes = list(read_fixes([path.read_bytes()], FixAssembler(min_date=RECORDING_MIN_DATE)))
    det = TripDetector()
    events: list[TripEvent] = []
    for fix in fixes:
        events += det.feed(fix)
    events += det.finish()
    trips = [e.record for e in events if isinstance(e, TripClosed)]
    gaps = [e.gap for e in events if isinstance(e, GapRecorded)]
    return Result(trips, gaps, events, det, len(fixes))


MOVING = ["dotmorten__NmeaSampleData", "leaflet-nmealayer__test", "gpsd__nl2008u"]
PARKED = [
    "gpsd__telit-he910",
    "gpsd__ublox-neo-m9n-nmea",
    "gpsd__quectel-l76k-nmea",
    "gpsd__sirfstarv-nmea",
    "gpsd__bu353s4",
    "gpsd__quectelLC79D",
    "gpsd__gpsdf",
    "hardloader__nmea",
    "gpsd__haicom-305N",
    "gpsd__et-332",
    "gpsd__nmea-rtk",
    "gpsd__magellan-ec10",
    "gpsd__unicore-um621",
    "gpsd__humminbird-M37",
    "gpsd__hemi",
]


@pytest.mark.parametrize("name", MOVING)
def test_moving_recording_distance_matches_ground_truth(
    name: str, recording: Callable[[str], pathlib.Path]
) -> None:
    path = recording(name)
    truth = truth_km(truth_fixes(path))
    assert truth > 0.3  # the recording really moves (else the comparison says nothing)
    res = detect(path)
    trip_km = sum(t.distance_km for t in res.trips)
    gap_km = sum(g.distance_km for g in res.gaps if not g.bridged)
    allowed = max(TOLERANCE * truth, TOLERANCE_FLOOR_KM)
    assert abs(trip_km + gap_km - truth) <= allowed, (trip_km, gap_km, truth)
    # the odometer chain closes across every trip
    for a, b in zip(res.trips, res.trips[1:]):
        assert b.odometer_start_km == a.odometer_end_km
    assert res.detector.odometer_km == pytest.approx(trip_km, abs=0.001 * max(1, len(res.trips)))


def test_garmin_drive_trips_match_the_moving_stretches(recording: Callable[[str], pathlib.Path]) -> None:
    """3 h near Lake Tahoe: stops and logger gaps split it; every moving stretch is one trip."""
    path = recording("dotmorten__NmeaSampleData")
    stretches = truth_stretches(truth_fixes(path))
    res = detect(path)
    assert len(res.trips) == len(stretches) >= 5
    for trip, (begin, end) in zip(res.trips, stretches):
        # each trip overlaps its own stretch (the trips come out in time order)
        assert trip.started_at < end and trip.ended_at > begin, (trip.started_at, trip.ended_at, begin, end)
        assert trip.distance_km > 0.2
    # trip km alone (without the 44 m parked-gap displacement) is within tolerance too
    truth = truth_km(truth_fixes(path))
    assert abs(sum(t.distance_km for t in res.trips) - truth) <= TOLERANCE * truth
    # the two logger gaps fall between trips: visible as gap events or a trip closed by a gap
    assert sum(1 for t in res.trips if "closed_by_gap" in t.flags) + len(res.gaps) >= 2


def test_leaflet_dashcam_drive_is_one_trip(recording: Callable[[str], pathlib.Path]) -> None:
    path = recording("leaflet-nmealayer__test")
    truth = truth_fixes(path)
    res = detect(path)
    (trip,) = res.trips
    # back-dated to the first fixes of the recording, not 200 m into the drive
    assert (trip.started_at - truth[0].time) <= timedelta(seconds=60)
    assert len(trip.track) >= 2 and trip.track[0].time == trip.started_at


def test_nl2008u_excerpt_shows_its_cut_out_drive_as_a_gap(recording: Callable[[str], pathlib.Path]) -> None:
    """The submitter cut the drive out: 20 min and ~0.7 km between two parked epochs.

    Nothing of the drive is in the file, so no trip can be measured; the displacement must be a
    visible, unbridged gap event with its straight-line distance, never a silent jump.
    """
    path = recording("gpsd__nl2008u")
    truth = truth_fixes(path)
    res = detect(path)
    assert not any(isinstance(e, TripOpened) for e in res.events)
    (gap,) = res.gaps
    assert not gap.bridged
    big_step = max(zip(truth, truth[1:]), key=lambda ab: (ab[1].time - ab[0].time))
    assert (gap.started_at, gap.ended_at) == (big_step[0].time, big_step[1].time)
    assert gap.distance_km == pytest.approx(haversine_km(*big_step), abs=0.002)


@pytest.mark.parametrize("name", PARKED)
def test_parked_recording_makes_no_trip(name: str, recording: Callable[[str], pathlib.Path]) -> None:
    path = recording(name)
    truth = truth_fixes(path)
    res = detect(path)
    assert res.n_fixes >= 10  # enough fixes that "no trip" means something
    if truth:  # hemi has no RMC: its GGA-only fixes are parked by the recording's notes
        spread_m = max(haversine_km(truth[0], f) for f in truth) * 1000
        assert spread_m < 200  # independent check that the receiver indeed stayed put
    assert res.trips == [] and res.gaps == []
    assert not any(isinstance(e, TripOpened) for e in res.events)
    assert res.detector.odometer_km == 0.0


@pytest.mark.parametrize("stop_window_s", [180.0, 60.5])
def test_stop_window_by_datetime_comparison_decides_like_the_float_test(stop_window_s: float) -> None:
    """The detector tests the stop window's start by comparing datetimes when the window is a
    whole number of microseconds; forced onto the float test (total_seconds), every recording
    gives the same events. Plus fixes exactly one window apart, at the boundary."""
    from device.trips import TripSettings

    settings = TripSettings(stop_window_s=stop_window_s)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    step = timedelta(seconds=stop_window_s / 4)
    # drive north for a while, then stand still: the stop is found exactly one window later
    edge = [Fix(t0 + i * step, 52.0 + min(i, 20) * 0.002, 5.0) for i in range(60)]
    data = pathlib.Path(__file__).resolve().parent.parent / "data" / "nmea"
    streams = [list(read_fixes([p.read_bytes()], FixAssembler(RECORDING_MIN_DATE))) for p in sorted(data.glob("*.nmea"))]
    for fixes in streams + [edge]:
        out = []
        for exact in (True, False):
            det = TripDetector(settings)
            assert (det._stop_window is not None) is True
            if not exact:
                det._stop_window = None
            events = [e for f in fixes for e in det.feed(f)] + det.finish()
            out.append(events)
        assert out[0] == out[1]


def detect_bytes(data: bytes) -> Result:
    fixes = list(read_fixes([data], FixAssembler(min_date=RECORDING_MIN_DATE)))
    det = TripDetector()
    events: list[TripEvent] = []
    for fix in fixes:
        events += det.feed(fix)
    events += det.finish()
    trips = [e.record for e in events if isinstance(e, TripClosed)]
    gaps = [e.gap for e in events if isinstance(e, GapRecorded)]
    return Result(trips, gaps, events, det, len(fixes))


def test_a_low_speed_loop_that_never_leaves_50_m_counts(tmp_path: pathlib.Path) -> None:
    """Issue 15: a 0.64 km loop at up to 25 km/h, never 50 m from where it began, was dropped by
    the 200 m net-displacement rule. Movement is confirmed by speed over ground and path length."""
    from tests.device.synthetic_nmea import HOME, nmea, parking_lot_loop

    path = tmp_path / "loop.nmea"
    path.write_bytes(nmea(parking_lot_loop()))
    fixes = truth_fixes(path)
    furthest_m = max(haversine_km(TruthFix(f.time, *HOME, 0.0), f) for f in fixes) * 1000
    assert furthest_m < 50  # the shape the issue describes
    truth = truth_km(fixes)
    assert truth == pytest.approx(0.64, abs=0.03)
    res = detect_bytes(path.read_bytes())
    trip_km = sum(t.distance_km for t in res.trips)
    assert abs(trip_km - truth) <= TOLERANCE * truth, (trip_km, truth)
    assert len(res.trips) == 1  # one manoeuvre, one trip: the loop is not split by the stop rule


# Every recording in which the receiver stands still (or moves less than a car's minimum trip:
# the walk in haicom-305N, the drifting boat in humminbird-M37, bt451's last 2 s in a car, 30 m
# behind a clock that went back): no trip and no km, also those with too few fixes for the test
# above (no fix at all, a simulator, garbage and bad checksums).
STILL = PARKED + [
    "gpsd__bt451", "gpsd__gp-320fw-2019-04-07-coldboot", "gpsd__garmin-geko201", "gpsd__mtk-3301", "gpsd__tn200",
]


@pytest.mark.parametrize("name", STILL)
def test_a_receiver_standing_still_makes_no_trip_and_no_km(name: str, recording: Callable[[str], pathlib.Path]) -> None:
    res = detect(recording(name))
    assert res.trips == [] and res.detector.odometer_km == 0.0


def test_every_recording_is_classified_as_moving_or_still() -> None:
    data = pathlib.Path(__file__).resolve().parent.parent / "data" / "nmea"
    assert sorted(p.stem for p in data.glob("*.nmea")) == sorted(MOVING + STILL)


def test_an_aircraft_is_flagged_as_beyond_a_road_vehicle() -> None:
    """Issue 15: an aircraft log (283 km/h, 2,177 m) became an unflagged business trip."""
    from device.trips import FLAG_IMPLAUSIBLE_MOTION
    from tests.device.synthetic_nmea import aircraft_flight, nmea

    res = detect_bytes(nmea(aircraft_flight()))
    assert res.trips
    airborne = [t for t in res.trips if t.distance_km > 0.5]
    assert airborne and all(FLAG_IMPLAUSIBLE_MOTION in t.flags for t in airborne), [t.flags for t in res.trips]


@pytest.mark.parametrize("shape", [
    {"top_kmh": 180.0, "climb_ms": 8.0},  # a small aircraft: a car's speed, but it climbs 8 m/s
    {"top_kmh": 180.0, "climb_ms": 0.0, "accel_kmh_s": 90.0},  # 0 to 180 km/h in 2 s (25 m/s2)
])
def test_a_climb_or_an_acceleration_no_car_makes_is_flagged_too(shape: dict) -> None:
    from device.trips import FLAG_IMPLAUSIBLE_MOTION
    from tests.device.synthetic_nmea import aircraft_flight, nmea

    res = detect_bytes(nmea(aircraft_flight(**shape)))
    assert res.trips and all(FLAG_IMPLAUSIBLE_MOTION in t.flags for t in res.trips), [t.flags for t in res.trips]
    calm = detect_bytes(nmea(aircraft_flight(top_kmh=180.0, climb_ms=0.0)))  # the same, as a car drives
    assert calm.trips and not any(FLAG_IMPLAUSIBLE_MOTION in t.flags for t in calm.trips)


@pytest.mark.parametrize("name", ["dotmorten__NmeaSampleData", "leaflet-nmealayer__test"])
def test_real_car_drives_are_not_flagged_implausible(name: str, recording: Callable[[str], pathlib.Path]) -> None:
    """The 3 h drive climbs from Reno to Lake Tahoe's passes (1,366 to 2,720 m) at up to 108 km/h."""
    from device.trips import FLAG_IMPLAUSIBLE_MOTION

    res = detect(recording(name))
    assert res.trips and not any(FLAG_IMPLAUSIBLE_MOTION in t.flags for t in res.trips)
