"""The wiring: chunks -> NMEA -> trips -> store, start-up recovery and the privacy switch."""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from device.model import TripMode
from device.nmea import RECORDING_MIN_DATE
from device.pipeline import FLAG_RESUMED, ModeChange, Pipeline
from device.trips import decode_state, encode_state
from device.source import ReplaySource
from device.store import FLAG_POWER_LOSS, Store
from device.trips import TripClosed

DATA = Path(__file__).resolve().parents[1] / "data" / "nmea"
LEAFLET = DATA / "leaflet-nmealayer__test.nmea"


def split_leaflet(at: bytes = b"$GPRMC,142220") -> tuple[bytes, bytes]:
    data = LEAFLET.read_bytes()
    cut = data.index(at)
    return data[:cut], data[cut:]


def run(store: Store, *chunks: bytes, finish: bool = True, **kwargs) -> tuple[Pipeline, list]:
    records: list = []
    pipeline = Pipeline(
        store, min_date=RECORDING_MIN_DATE,
        on_event=lambda e: records.append(e.record) if isinstance(e, TripClosed) else None, **kwargs,
    )
    for chunk in chunks:
        pipeline.feed(chunk)
    if finish:
        pipeline.finish()
    return pipeline, records


def bodies(store: Store) -> list[dict]:
    return [json.loads(t.body) for t in store.closed_trips()]


def test_whole_recording_makes_one_chained_trip(tmp_path) -> None:
    with Store(tmp_path / "s.db") as store:
        pipeline, records = run(store, LEAFLET.read_bytes(), odometer_km=100.0)
        assert len(records) == 1
        stats = pipeline.stats()
        assert (stats["sentences"], stats["fixes"], stats["skipped"]["not_nmea"]) == (3201, 360, 360)
        stored = bodies(store)
        assert len(stored) == 1 and stored[0]["odometer_start_km"] == 100.0
        assert store.odometer_km == pytest.approx(100.0 + records[0].distance_km, abs=0.001)
        assert store.counters["fixes"] == 360 and store.counters["skipped.not_nmea"] == 360


def test_restart_within_the_bridging_limit_resumes_the_open_trip(tmp_path) -> None:
    first, second = split_leaflet()
    with Store(tmp_path / "whole.db") as store:
        _, whole = run(store, LEAFLET.read_bytes())

    path = tmp_path / "s.db"
    with Store(path) as store:
        pipeline, records = run(store, first, finish=False)
        assert records == [] and pipeline.stats()["trip_open"]
        pipeline.shutdown()  # SIGTERM: persist, close nothing
    with Store(path) as store:
        assert store.pending_open_trip() is not None
        pipeline, records = run(store, second)
        assert pipeline.stats()["resumed"] == 1 and pipeline.stats()["power_loss_closed"] == 0
    assert len(records) == 1
    resumed = records[0]
    assert FLAG_RESUMED in resumed.flags and FLAG_POWER_LOSS not in resumed.flags
    assert resumed.started_at == whole[0].started_at
    # One fix epoch is lost at the restart (the open epoch of the first part), nothing else.
    assert resumed.distance_km == pytest.approx(whole[0].distance_km, abs=0.03)
    with Store(path) as store:
        assert len(bodies(store)) == 1 and store.verify_chain() is None


def test_restart_with_an_earlier_or_much_later_fix_closes_with_power_loss(tmp_path) -> None:
    first, _ = split_leaflet()
    path = tmp_path / "s.db"
    with Store(path) as store:
        pipeline, _ = run(store, first, finish=False)
        open_distance = pipeline.stats()["odometer_km"]
        pipeline.shutdown()
    with Store(path) as store:
        # The same recording again: its first fix is older than the open trip's last one.
        pipeline, records = run(store, LEAFLET.read_bytes())
        assert pipeline.stats()["power_loss_closed"] == 1 and pipeline.stats()["resumed"] == 0
        stored = bodies(store)
    assert len(stored) == 2 and len(records) == 1
    assert FLAG_POWER_LOSS in stored[0]["flags"]
    assert stored[0]["distance_km"] == pytest.approx(open_distance, abs=0.2)  # as last persisted
    assert stored[1]["odometer_start_km"] == stored[0]["odometer_end_km"]


def test_a_private_open_trip_is_never_resumed(tmp_path) -> None:
    first, second = split_leaflet()
    path = tmp_path / "s.db"
    with Store(path) as store:
        pipeline, _ = run(store, first, finish=False, mode=TripMode.PRIVATE)
        pipeline.shutdown()
        assert store.pending_open_trip().state is None  # no positions kept for resuming
    with Store(path) as store:
        pipeline, records = run(store, second, mode=TripMode.PRIVATE)
        assert pipeline.stats()["power_loss_closed"] == 1
        stored = bodies(store)
    assert stored[0]["mode"] == "private" and FLAG_POWER_LOSS in stored[0]["flags"]
    assert stored[0]["track"] == [] and stored[0]["start"] is None


def test_privacy_request_from_another_thread_splits_at_the_latest_fix(tmp_path) -> None:
    first, second = split_leaflet()
    with Store(tmp_path / "s.db") as store:
        pipeline, records = run(store, first, finish=False)
        latest = pipeline.last_fix_time
        thread = threading.Thread(target=pipeline.request_mode, args=(TripMode.PRIVATE,))
        thread.start()
        thread.join()
        assert pipeline.mode is TripMode.PRIVATE  # reported at once, applied at the next step
        pipeline.feed(second)
        pipeline.finish()
    assert [r.mode for r in records] == [TripMode.BUSINESS, TripMode.PRIVATE]
    assert records[0].ended_at <= latest
    assert records[1].track == []


def test_scheduled_mode_changes_apply_at_their_nmea_time(tmp_path) -> None:
    with Store(tmp_path / "s.db") as store:
        _, whole = run(store, LEAFLET.read_bytes())
    start = whole[0].started_at
    switch = start + timedelta(seconds=120)
    with Store(tmp_path / "t.db") as store:
        _, split = run(store, LEAFLET.read_bytes(), schedule=[ModeChange(switch, TripMode.PRIVATE)])
    assert [r.mode for r in split] == [TripMode.BUSINESS, TripMode.PRIVATE]
    assert switch - timedelta(seconds=10) <= split[0].ended_at < switch


def test_resume_state_round_trips(tmp_path) -> None:
    with Store(tmp_path / "s.db") as store:
        pipeline, _ = run(store, split_leaflet()[0], finish=False)
        snapshot = pipeline.detector.open_trip
        assert snapshot is not None and len(snapshot.window) > 1
        state = json.loads(json.dumps(encode_state(snapshot)))  # it must survive JSON
        assert decode_state(state, list(snapshot.track)) == snapshot
        assert FLAG_RESUMED in decode_state(state, list(snapshot.track), extra_flag=FLAG_RESUMED).flags
        # The stop window is rebuilt from the persisted track: without it, or with a point of
        # it missing, the state cannot resume (the pipeline then closes the trip, power_loss).
        track = list(snapshot.track)
        for broken in ([], track[:-1], track[:-2] + track[-1:]):
            with pytest.raises(ValueError):
                decode_state(state, broken)


def test_a_version_2_state_with_its_packed_window_still_resumes(tmp_path) -> None:
    """A store written before version 3 carries the stop window packed in the state itself."""
    import base64

    from device import trips as trips_module

    with Store(tmp_path / "s.db") as store:
        pipeline, _ = run(store, split_leaflet()[0], finish=False)
        snapshot = pipeline.detector.open_trip
    state = encode_state(snapshot)
    raw = b"".join(trips_module._POINT.pack(trips_module._t(p.time), p.lat, p.lon, p.cum_km)
                   for p in snapshot.window)
    state.update(v=2, window=base64.b64encode(raw).decode("ascii"))
    assert decode_state(json.loads(json.dumps(state)), list(snapshot.track)) == snapshot


def test_replay_source_feeds_the_pipeline_like_one_big_chunk(tmp_path) -> None:
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        one, _ = run(a, LEAFLET.read_bytes())
        many = Pipeline(b, min_date=RECORDING_MIN_DATE)
        many.run(ReplaySource(LEAFLET, chunk_size=97))  # sentences split across chunks
        many.finish()
        assert many.stats() == one.stats()


def test_two_crashes_in_one_trip_resume_twice(tmp_path) -> None:
    """A crash (the store closed without the pipeline's shutdown: points newer than the last
    resume state are on disk) and a resume, then the same again: both restarts resume the trip,
    and the km come out as without the crashes."""
    data = LEAFLET.read_bytes()
    cut1, cut2 = data.index(b"$GPRMC,142140"), data.index(b"$GPRMC,142310")
    with Store(tmp_path / "whole.db") as store:
        _, whole = run(store, data)
    path = tmp_path / "s.db"
    resumed = []
    for part, last in ((data[:cut1], False), (data[cut1:cut2], False), (data[cut2:], True)):
        store = Store(path)
        pipeline, records = run(store, part, finish=last)
        resumed.append(pipeline.stats()["resumed"])
        store.close()  # no shutdown(): what the store holds is what a crash right now leaves
    assert resumed == [0, 1, 1]
    assert len(records) == 1 and pipeline.stats()["power_loss_closed"] == 0
    assert records[0].started_at == whole[0].started_at
    assert records[0].distance_km == pytest.approx(whole[0].distance_km, abs=0.05)
    with Store(path) as store:
        assert len(bodies(store)) == 1 and store.verify_chain() is None
