"""Engine off/on from the car (OBD) as a trip boundary signal beside the GPS detector."""
from __future__ import annotations

from device.trips import FLAG_ENGINE_OFF, TripDetector
from tests.device.test_trips import ROUTE, Walk, records


def drift(walk: Walk, minutes: float) -> Walk:
    """A receiver that wanders back and forth 250 m at walking pace (multipath in a street
    canyon): by GPS alone the car never stands still for a whole stop window."""
    rounds = int(minutes * 60 / 300)
    for i in range(rounds):
        walk.drive([(0.0, 250.0), (180.0, 250.0)], speed_kmh=6.0, noise_m=1.0, seed=i)
    return walk


def feed(fixes, det, engine_off_at=None):
    events = []
    for fix in fixes:
        if engine_off_at is not None and fix.time >= engine_off_at:
            events += det.engine(False, engine_off_at)
            engine_off_at = None
        events += det.feed(fix)
    return events


def test_gps_jitter_alone_keeps_the_trip_open():
    walk = Walk().park(120).drive(ROUTE, speed_kmh=50)
    drift(walk, 20)
    assert records(feed(walk.fixes, TripDetector())) == []


def test_engine_off_for_a_stop_window_ends_the_trip_even_when_gps_jitters():
    walk = Walk().park(120).drive(ROUTE, speed_kmh=50)
    arrived = walk.time
    drift(walk, 20)
    det = TripDetector()
    trips = records(feed(walk.fixes, det, engine_off_at=arrived))
    assert len(trips) == 1  # the jitter after the engine went off opens no new trip either
    trip = trips[0]
    assert trip.ended_at <= arrived
    assert FLAG_ENGINE_OFF in trip.flags
    route_km = sum(length for _, length in ROUTE) / 1000
    assert abs(trip.distance_km - route_km) < 0.3  # the drift after the engine went off adds nothing
    assert det.open_trip is None


def test_engine_on_without_movement_is_no_trip():
    walk = Walk().park(900, seed=4, sigma_m=5.0)
    det = TripDetector()
    events = det.engine(True, walk.fixes[0].time)
    events += feed(walk.fixes, det)
    assert events == [] and det.open_trip is None


def test_a_hybrid_driving_on_electricity_is_not_ended_by_engine_off():
    """Engine speed 0 while the car drives on (a hybrid): GPS movement beyond the engine-off
    radius wins, the trip goes on."""
    walk = Walk().park(120).drive(ROUTE[:2], speed_kmh=50)
    off = walk.time
    walk.drive(ROUTE[2:], speed_kmh=30)
    det = TripDetector()
    events = feed(walk.fixes, det, engine_off_at=off)
    assert records(events) == [] and det.open_trip is not None


def test_ignition_off_while_standing_ends_the_trip_at_once():
    """The ignition on a GPIO (device/ignition.py): once the car stands still, ignition off ends
    the trip there and then, so that it is uploaded before a UPS HAT lets the power go; it does
    not wait a stop window as the engine rule does."""
    walk = Walk().park(120).drive(ROUTE, speed_kmh=50)
    arrived = walk.time
    walk.park(20, seed=3, sigma_m=2.0)  # standing still for 20 s, then the key is turned
    det = TripDetector()
    events = feed(walk.fixes, det)
    assert records(events) == [] and det.open_trip is not None
    off = walk.fixes[-1].time
    trips = records(det.ignition_off(off))
    assert len(trips) == 1 and FLAG_ENGINE_OFF in trips[0].flags
    assert trips[0].ended_at <= off and (off - trips[0].ended_at).total_seconds() <= 25
    route_km = sum(length for _, length in ROUTE) / 1000
    assert abs(trips[0].distance_km - route_km) < 0.3
    assert det.open_trip is None
    # The receiver jitters on with the ignition off: no new trip.
    walk.park(600, seed=5, sigma_m=8.0)
    assert records(feed(walk.fixes[-600:], det)) == [] and det.open_trip is None
    assert arrived <= off


def test_ignition_off_while_moving_keeps_the_trip():
    """A key turned while the car still rolls (or a loose wire): nothing ends at once."""
    walk = Walk().park(120).drive(ROUTE[:2], speed_kmh=50)
    det = TripDetector()
    feed(walk.fixes, det)
    assert records(det.ignition_off(walk.fixes[-1].time)) == [] and det.open_trip is not None
