"""Trips whose odometer is the car's: the pipeline with the OBD source against ELM327-emulator,
a real NMEA recording replayed while the emulated car's odometer advances (tests/device/obd_replay.py)."""
from __future__ import annotations

import json

import pytest

from device.car import FLAG_ODOMETER_DISAGREES
from device.cli import car_line
from device.store import Store
from tests.device.obd_replay import BASE_KM, CarReplay
from tests.device.test_obd_source import wait_for
from tests.device.test_obd_source import car  # noqa: F401 - the emulated car fixture

pytestmark = pytest.mark.slow


def bodies(store: Store) -> list[dict]:
    return [json.loads(t.body) for t in store.closed_trips()]


def test_trips_take_the_cars_odometer_and_keep_the_gps_km_beside_it(car, tmp_path):  # noqa: F811
    store = Store(tmp_path / "r.db")
    replay = CarReplay(car, store, factor=1.02)
    trips = replay.run(until_trips=2)
    first, second = bodies(store)[:2]
    assert first["odometer_source"] == "obd" and second["odometer_source"] == "obd"
    assert first["odometer_start_km"] == BASE_KM
    # the car's km (2% ahead of GPS, in 0.1 km steps) at the end; the GPS km stay beside them
    assert first["odometer_end_km"] == pytest.approx(BASE_KM + 1.02 * trips[0].distance_km, abs=0.15)
    assert first["distance_km"] == trips[0].distance_km
    assert second["odometer_start_km"] == first["odometer_end_km"]
    assert FLAG_ODOMETER_DISAGREES not in first["flags"]
    status = replay.pipeline.stats()["car"]
    assert status["odometer"] == "car" and status["connected"] is True
    assert "from the car" in car_line(status)
    store.close()


def test_a_car_whose_odometer_disagrees_with_gps_gets_the_flag(car, tmp_path):  # noqa: F811
    store = Store(tmp_path / "r.db")
    CarReplay(car, store, factor=1.3).run(until_trips=1)
    body = bodies(store)[0]
    assert body["odometer_source"] == "obd"
    assert FLAG_ODOMETER_DISAGREES in body["flags"]
    store.close()


def test_a_car_without_the_odometer_pid_keeps_gps_km_and_says_so(car, tmp_path):  # noqa: F811
    car.answer("ODOMETER", "NO DATA\r")
    store = Store(tmp_path / "r.db")
    replay = CarReplay(car, store, odometer=False)
    replay.run(until_trips=1)
    body = bodies(store)[0]
    assert "odometer_source" not in body  # hashed exactly as a GPS-only record
    assert body["odometer_start_km"] == 0.0
    assert store.counters.get("obd.odometer_no_data", 0) >= 3
    status = replay.pipeline.stats()["car"]
    assert status["odometer"] == "absent"
    assert "does not report its odometer" in car_line(status)
    assert [e["kind"] for e in store.events()].count("obd_no_odometer") == 1
    store.close()


def test_an_adapter_pulled_out_mid_drive_is_an_event_and_the_trip_keeps_gps_km(car, tmp_path):  # noqa: F811
    store = Store(tmp_path / "r.db")
    pulled = []

    def pull_out_while_driving(replay: CarReplay) -> None:
        if not pulled and replay.gps_km() > 10:
            replay.car.pull_out()
            replay.unplugged = True
            wait_for(lambda: not replay.source.state().connected)  # the car drives on meanwhile
            pulled.append(True)

    replay = CarReplay(car, store)
    replay.run(until_trips=1, on_step=pull_out_while_driving)
    body = bodies(store)[0]
    assert "odometer_source" not in body  # never half car, half GPS
    assert body["odometer_end_km"] == pytest.approx(body["odometer_start_km"] + body["distance_km"], abs=0.002)
    lost = [e for e in store.events() if e["kind"] == "obd_lost"]
    assert len(lost) == 1 and lost[0]["trip_open"] is True
    assert "no adapter answering" in car_line(replay.pipeline.stats()["car"])
    store.close()


def test_a_box_moved_to_another_car_records_vin_changed_once(car, tmp_path):  # noqa: F811
    from device.pipeline import META_VIN
    from tests.device.test_obd_source import VIN_A, VIN_B, vin_answer

    store = Store(tmp_path / "r.db")
    store.set_meta(META_VIN, VIN_A)  # installed in car A (an earlier run read its VIN)
    car.answer("VIN", vin_answer(VIN_B))
    replay = CarReplay(car, store)
    replay.run(until_trips=1)
    changed = [e for e in store.events() if e["kind"] == "vin_changed"]
    assert len(changed) == 1 and (changed[0]["vin_was"], changed[0]["vin"]) == (VIN_A, VIN_B)
    assert store.get_meta(META_VIN) == VIN_B
    assert "vin_changed" in bodies(store)[0]["flags"]  # the first trip in the other car says so
    store.close()


def test_engine_off_from_the_car_ends_the_trip_while_gps_jitters(car, tmp_path):  # noqa: F811
    """The engine state goes from the OBD source through the pipeline to the detector: the car
    switches off on arrival while the receiver wanders 250 m (tests/device/test_trips_engine.py)."""
    from device.nmea import RECORDING_MIN_DATE
    from device.obd_source import ObdSource
    from device.pipeline import Pipeline
    from device.trips import FLAG_ENGINE_OFF
    from tests.device.synthetic_nmea import Epoch, nmea
    from tests.device.test_trips import ROUTE, Walk
    from tests.device.test_trips_engine import drift

    def sentences(fixes) -> bytes:
        return nmea([Epoch(f.time, f.lat, f.lon, f.speed_kmh or 0.0, f.course_deg or 0.0, hdop=f.hdop or 0.9)
                     for f in fixes])

    walk = Walk().park(120).drive(ROUTE, speed_kmh=50)
    driven = len(walk.fixes)
    drift(walk, 20)
    store = Store(tmp_path / "r.db")
    source = ObdSource(car.port, poll_s=0.02)
    pipeline = Pipeline(store, min_date=RECORDING_MIN_DATE, car=source)
    source.start()
    try:
        wait_for(lambda: source.state().engine_on is True)
        pipeline.feed(sentences(walk.fixes[:driven]))
        car.answer("RPM", "NO DATA\r")  # the engine control unit sleeps: ignition off
        wait_for(lambda: source.state().engine_on is False)
        for i in range(driven, len(walk.fixes), 30):
            pipeline.feed(sentences(walk.fixes[i:i + 30]))
        pipeline.feed(b"")
        store.flush()
    finally:
        source.stop()
    (body,) = bodies(store)
    assert FLAG_ENGINE_OFF in body["flags"]
    assert body["distance_km"] == pytest.approx(sum(length for _, length in ROUTE) / 1000, abs=0.3)
    store.close()
