"""The ignition on a GPIO pin (device/ignition.py): the key turned while the car stands ends its
trip at once, written to the store before the power goes; turned while rolling, nothing ends.

The pin is gpiozero's own mock pin (the library's test pin factory, no Pi needed); the drive is
the real 3-hour Garmin recording, whose car stops at 01:25:44 (as in test_ignition_off.py)."""
from __future__ import annotations

import json
import pytest
from gpiozero.pins.mock import MockFactory  # gpiozero is in the dev extra: the test needs no Pi

from device.config import ConfigError, load_config
from device.ignition import IgnitionSense
from device.nmea import RECORDING_MIN_DATE
from device.pipeline import Pipeline
from device.store import Store
from device.trips import FLAG_ENGINE_OFF
from tests.device.test_ignition_off import GARMIN, MOVING, STANDING, epoch_start, reference_trip



@pytest.fixture
def pin():
    factory = MockFactory()
    sense = IgnitionSense(22, pin_factory=factory)
    wire = factory.pin(22)
    wire.drive_high()  # the ignition is on
    yield sense, wire
    sense.close()
    factory.reset()


def drive_until(store: Store, sense: IgnitionSense, marker: bytes) -> Pipeline:
    pipeline = Pipeline(store, min_date=RECORDING_MIN_DATE, ignition=sense)
    pipeline.feed(GARMIN[:epoch_start(GARMIN, marker)])
    return pipeline


def test_ignition_off_while_standing_ends_the_trip_at_once_and_writes_it(pin, tmp_path):
    sense, wire = pin
    with Store(tmp_path / "r.db") as store:
        pipeline = drive_until(store, sense, STANDING)
        before = len(list(store.closed_trips()))
        assert pipeline.detector.open_trip is not None
        wire.drive_low()  # the key is turned, 14 s after the car came to a stand-still
        pipeline.feed(b"")
        closed = list(store.closed_trips())
        assert len(closed) == before + 1 and pipeline.detector.open_trip is None
        trip = json.loads(closed[-1].body)
        events = [event["kind"] for event in store.events()]
    whole = reference_trip(tmp_path)  # the same trip, ended by the 180 s stop window
    assert FLAG_ENGINE_OFF in trip["flags"]
    assert trip["started_at"] == whole["started_at"] and trip["ended_at"] == whole["ended_at"]
    assert trip["distance_km"] == pytest.approx(whole["distance_km"], abs=0.01)
    assert "ignition_off" in events


def test_ignition_off_while_rolling_ends_nothing(pin, tmp_path):
    sense, wire = pin
    with Store(tmp_path / "r.db") as store:
        pipeline = drive_until(store, sense, MOVING)
        before = len(list(store.closed_trips()))
        wire.drive_low()
        pipeline.feed(b"")
        assert len(list(store.closed_trips())) == before and pipeline.detector.open_trip is not None


def test_the_ignition_pin_is_read_from_the_config(tmp_path):
    path = tmp_path / "ritbox.toml"
    path.write_text("[gpio]\nignition_pin = 22\nignition_active_high = false\n")
    config = load_config(path)
    assert config.gpio.ignition_pin == 22 and config.gpio.ignition_active_high is False
    path.write_text("[gpio]\nignition_pin = \"twenty\"\n")
    with pytest.raises(ConfigError):
        load_config(path)
