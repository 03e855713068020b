"""A real NMEA recording replayed through the device pipeline while ELM327-emulator's car drives
along: its odometer (PID A6) follows the GPS km times a factor, as a real car's runs a few %
ahead of GPS. The replay waits, step by step, until the OBD source has read the car's new
odometer, so the run is the same every time (no timing in the outcome).

The OBD source's plausibility filter runs on the replay's GPS time (a replay is faster than
the car could drive in wall-clock time)."""
from __future__ import annotations

from pathlib import Path

from device.model import TripRecord
from device.nmea import RECORDING_MIN_DATE
from device.obd_source import ObdSource
from device.pipeline import Pipeline
from device.store import Store
from device.trips import TripClosed
from tests.device.test_obd_source import EmulatedCar, odometer_answer, wait_for

RECORDING = Path(__file__).resolve().parents[1] / "data" / "nmea" / "dotmorten__NmeaSampleData.nmea"
BASE_KM = 48210.0
CHUNK_LINES = 20


class CarReplay:
    def __init__(self, car: EmulatedCar, store: Store, *, factor: float = 1.02, base_km: float = BASE_KM,
                 odometer: bool = True) -> None:
        self.car, self.factor, self.base_km = car, factor, base_km
        self.shown_km = base_km
        if odometer:
            car.answer("ODOMETER", odometer_answer(base_km))
        self.records: list[TripRecord] = []
        self.unplugged = False  # set by a step that pulls the adapter out: the car is not followed
        self.pipeline: Pipeline | None = None
        self.source = ObdSource(car.port, poll_s=0.01, clock=self._gps_seconds)
        self.pipeline = Pipeline(store, min_date=RECORDING_MIN_DATE, car=self.source,
                                 on_event=self._collect)

    def _gps_seconds(self) -> float:
        at = self.pipeline.last_fix_time if self.pipeline is not None else None
        return at.timestamp() if at is not None else 0.0

    def _collect(self, event) -> None:
        if isinstance(event, TripClosed):
            self.records.append(event.record)

    def gps_km(self) -> float:
        assert self.pipeline is not None and self.pipeline.detector is not None
        progress = self.pipeline.detector.open_progress
        return sum(r.distance_km for r in self.records) + (progress.distance_km if progress else 0.0)

    def drive_car(self) -> None:
        """Set the car's odometer to where it is after the GPS km so far; wait until it is read."""
        target = round(self.base_km + self.factor * self.gps_km(), 1)
        if target != self.shown_km and not self.unplugged:
            jumps = self.source.counts().get("odometer_jump", 0)
            self.car.answer("ODOMETER", odometer_answer(target))
            # A trip's start is confirmed a few hundred metres late and its km counted at once:
            # more than the car can drive in no GPS time, so the source waits (odometer_jump)
            # until the replay's clock has moved on - as it would for a real glitch.
            wait_for(lambda: self.source.state().odometer_km == target
                     or self.source.counts().get("odometer_jump", 0) > jumps)
            self.shown_km = target

    def run(self, until_trips: int, on_step=None) -> list[TripRecord]:
        """Replay until `until_trips` trips closed (or the recording ends); `on_step(self)` after
        each chunk (to pull the adapter out, change the answer ...)."""
        pipeline = self.pipeline
        assert pipeline is not None
        self.source.start()
        try:
            wait_for(lambda: self.source.state().odometer_km == self.base_km
                     or self.source.state().odometer_supported is False)
            lines = RECORDING.read_bytes().splitlines(keepends=True)
            for i in range(0, len(lines), CHUNK_LINES):
                pipeline.feed(b"".join(lines[i:i + CHUNK_LINES]))
                if on_step is not None:
                    on_step(self)
                if len(self.records) >= until_trips:
                    break
                if self.source.state().odometer_supported:
                    self.drive_car()
            pipeline.feed(b"")  # the last events of the adapter into the store
            pipeline.store.flush()
        finally:
            self.source.stop()
        return self.records
