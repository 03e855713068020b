"""Ignition-off cuts the Pi's power (issue 15): a trip cut while the car stood still ends normally
at the next start; a cut while moving stays a `power_loss`.

The crash is real as far as the store goes: the first store is abandoned without a flush (its
SQLite connection closed under it, as a power cut leaves the file: only what was committed), and
the restart opens the same file. The recording is the real 3-hour Garmin drive: the car stops at
01:25:44 (speed 0.0 from there, logger running) and drives on at 01:53:14.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from device.model import TripMode
from device.nmea import RECORDING_MIN_DATE
from device.pipeline import Pipeline
from device.store import FLAG_POWER_LOSS, Store
from device.trips import TripClosed

DATA = Path(__file__).resolve().parents[1] / "data" / "nmea"
GARMIN = (DATA / "dotmorten__NmeaSampleData.nmea").read_bytes()
STANDING = b"$GPRMC,012558"  # 14 s after the car came to a stand-still (speed 0.0 since 01:25:44)
MOVING = b"$GPRMC,012404"  # driving at 30 knots
NEXT_START = b"$GPRMC,015300"  # 27 minutes later, where the car still stands: the next ignition-on


def crash(store: Store) -> None:
    """A power cut: nothing buffered reaches the file, the connection just goes."""
    store._db.close()
    store._db = None  # type: ignore[assignment]


def run(store: Store, data: bytes, finish: bool, mode: TripMode = TripMode.BUSINESS) -> tuple[Pipeline, list]:
    records: list = []
    pipeline = Pipeline(store, min_date=RECORDING_MIN_DATE, mode=mode,
                        on_event=lambda e: records.append(e.record) if isinstance(e, TripClosed) else None)
    pipeline.feed(data)
    if finish:
        pipeline.finish()
    return pipeline, records


def epoch_start(data: bytes, marker: bytes) -> int:
    """Offset of the epoch that `marker` opens (this receiver sends RMC first in each epoch)."""
    return data.index(marker)


def reference_trip(tmp_path: Path, mode: TripMode = TripMode.BUSINESS) -> dict:
    """The trip that ends at 01:25 when nothing is cut."""
    with Store(tmp_path / "whole.db") as store:
        run(store, GARMIN, finish=True, mode=mode)
        trips = [json.loads(t.body) for t in store.closed_trips()]
    (trip,) = [t for t in trips if t["ended_at"].startswith("2005-09-26T01:25")]
    return trip


def cut_and_restart(tmp_path: Path, cut_at: bytes, mode: TripMode = TripMode.BUSINESS) -> tuple[list[dict], Pipeline]:
    path = tmp_path / "cut.db"
    first = Store(path)
    run(first, GARMIN[:epoch_start(GARMIN, cut_at)], finish=False, mode=mode)
    crash(first)
    with Store(path) as store:
        assert store.pending_open_trip() is not None
        pipeline, _ = run(store, GARMIN[epoch_start(GARMIN, NEXT_START):], finish=True, mode=mode)
        assert store.verify_chain() is None
        return [json.loads(t.body) for t in store.closed_trips()], pipeline


@pytest.mark.parametrize("mode", [TripMode.BUSINESS, TripMode.PRIVATE])
def test_a_cut_while_standing_still_is_a_normal_end_at_the_next_start(tmp_path: Path, mode: TripMode) -> None:
    reference = reference_trip(tmp_path, mode)
    trips, pipeline = cut_and_restart(tmp_path, STANDING, mode)
    cut = [t for t in trips if t["started_at"] == reference["started_at"]]
    assert len(cut) == 1, [(t["started_at"], t["flags"]) for t in trips]
    (trip,) = cut
    assert FLAG_POWER_LOSS not in trip["flags"]
    assert pipeline.stats()["power_loss_closed"] == 0
    # ended where and when the uninterrupted run ends it (its stand-still point), with its km
    assert trip["ended_at"] == reference["ended_at"]
    assert trip["distance_km"] == pytest.approx(reference["distance_km"], abs=0.03)
    if mode is TripMode.BUSINESS:
        assert trip["end"] == pytest.approx(reference["end"], abs=0.0003)
    else:  # no plaintext position of a private trip (and no sealing key in this store)
        assert trip["end"] is None and trip["flags"] == reference["flags"] == ["positions_dropped_no_key"]
    # and the next drive is a trip of its own that continues the odometer
    later = [t for t in trips if t["started_at"] > trip["ended_at"]]
    assert later and later[0]["odometer_start_km"] == trip["odometer_end_km"]


def test_a_cut_while_moving_still_closes_with_power_loss(tmp_path: Path) -> None:
    trips, pipeline = cut_and_restart(tmp_path, MOVING)
    assert pipeline.stats()["power_loss_closed"] == 1
    cut = [t for t in trips if FLAG_POWER_LOSS in t["flags"]]
    assert len(cut) == 1 and cut[0]["ended_at"] < "2005-09-26T01:24:04"
