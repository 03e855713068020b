"""The car's odometer end to end: a real NMEA recording replayed through the device pipeline
while ELM327-emulator's car (on a pseudo-terminal, read by python-OBD) drives along; the device
enrolls and uploads with `ritbox` over real HTTP to the backend in its own process; the
backend holds the trips with the car's odometer and took the car's reading as a calibration,
without anyone typing one."""
from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from device.store import Store
from tests.device.obd_replay import BASE_KM, CarReplay
from tests.device.test_obd_source import car  # noqa: F401 - the emulated car
from tests.e2e.test_sync import Backend, Device, backend, backend_template, device  # noqa: F401

pytestmark = pytest.mark.slow


def test_trips_carry_the_cars_odometer_and_the_backend_books_it_as_a_calibration(
        car, backend: Backend, device: Device):  # noqa: F811
    backend.start()
    device_id = device.enroll(backend)
    store = Store(device.store)
    try:
        trips = CarReplay(car, store, factor=1.02).run(until_trips=2)
    finally:
        store.close()
    code, result, stderr = device.sync()
    assert code == 0, (result, stderr)
    with closing(sqlite3.connect(backend.db_path)) as db:
        held = db.execute("SELECT odometer_source, odometer_start_km, odometer_end_km, distance_km FROM trips "
                          "WHERE device_id = ? ORDER BY seq", (device_id,)).fetchall()
        readings = db.execute("SELECT source, dashboard_m, photo_path, read_at FROM odometer_calibrations "
                              "ORDER BY read_at").fetchall()
    assert [row[0] for row in held] == ["obd", "obd"]
    assert held[0][1] == BASE_KM
    assert held[0][2] == pytest.approx(BASE_KM + 1.02 * trips[0].distance_km, abs=0.15)
    assert held[0][3] == trips[0].distance_km  # the GPS km beside the car's
    assert held[1][1] == held[0][2]
    # one reading from the batch: the car's figure at the last trip's end, no photo
    assert [(source, photo) for source, _, photo, _ in readings] == [("obd", None)]
    assert readings[0][1] == round(held[1][2] * 1000)
