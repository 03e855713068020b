"""SIGKILL a replay into a store at random moments; the store must stay sound every time."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.store import FLAG_POWER_LOSS, Store

ROOT = Path(__file__).resolve().parents[2]
GARMIN = ROOT / "tests" / "data" / "nmea" / "dotmorten__NmeaSampleData.nmea"  # the 3-hour drive
KILLS = 15
SEED = 20261123


def replay_command(store: Path) -> list[str]:
    return [sys.executable, "-m", "device.cli", "replay", str(GARMIN), "--fast", "--json", "--store", str(store)]


def environment(config: Path) -> dict[str, str]:
    return dict(os.environ, RITBOX_DEVICE_CONFIG=str(config))


def closed_rows(store_path: Path) -> dict[int, tuple[str, str, str, str]]:
    """Open the store after a kill and check its invariants; return its closed trips by seq."""
    store = Store(store_path)
    try:
        assert store.verify_chain() is None, "the hash chain must verify after a kill"
        rows = {t.seq: (t.trip_id, t.body, t.prev_hash, t.hash) for t in store.closed_trips()}
        head_seq, head_hash = store.chain_head()
        assert sorted(rows) == list(range(1, head_seq + 1)), "sequence numbers must be contiguous"
        if head_seq:
            assert rows[head_seq][3] == head_hash
        open_trip = store.pending_open_trip()
        if open_trip is not None:
            assert open_trip.last_time is None or open_trip.last_time >= open_trip.started_at
        return rows
    finally:
        store.close()


def has_open_trip(store_path: Path) -> bool:
    store = Store(store_path)
    try:
        return store.pending_open_trip() is not None
    finally:
        store.close()


@pytest.fixture
def scratch(tmp_path) -> Iterator[Path]:
    """A folder for the stores: in RAM when possible. A SIGKILL ends the process, not the
    kernel, so what was written survives in the page cache either way; RAM only takes the
    disk's fsync latency out of the test's run time."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="ritbox-kill-") as folder:
            yield Path(folder)
    else:
        yield tmp_path


def test_sigkill_at_random_moments_never_breaks_the_store(tmp_path, scratch) -> None:
    config = tmp_path / "ritbox.toml"
    config.write_text("")
    env = environment(config)

    # One undisturbed run on its own store: how long a run takes, and what it finds.
    reference = scratch / "reference.db"
    started = time.monotonic()
    done = subprocess.run(replay_command(reference), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    duration = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    reference_trips = json.loads(done.stdout)["trips"]
    assert len(reference_trips) >= 3

    rng = random.Random(SEED)
    store = scratch / "killed.db"
    seen: dict[int, tuple[str, str, str, str]] = {}
    kills_with_open_trip = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(
            replay_command(store), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(rng.uniform(0.3, duration))
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
        assert b"Traceback" not in stderr
        if not store.exists():
            continue  # killed before the store was created
        rows = closed_rows(store)
        for seq, row in seen.items():
            assert rows.get(seq) == row, f"closed trip {seq} was lost or altered by a kill"
        seen = rows
        kills_with_open_trip += has_open_trip(store)

    # A run that completes: it closes what a kill left open (power_loss) and replays everything.
    final = subprocess.run(replay_command(store), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    assert [t["distance_km"] for t in summary["trips"]] == [t["distance_km"] for t in reference_trips]

    rows = closed_rows(store)
    for seq, row in seen.items():
        assert rows[seq] == row
    assert not has_open_trip(store), "the completed run closed its last trip (end of input)"
    bodies = [json.loads(body) for _, body, _, _ in (rows[s] for s in sorted(rows))]
    power_loss = [b for b in bodies if FLAG_POWER_LOSS in b["flags"]]
    print(f"kills with an open trip: {kills_with_open_trip}, power_loss records: {len(power_loss)}, records: {len(bodies)}")
    assert kills_with_open_trip > 0, "the seed should make at least one kill hit an open trip"
    # Each kill that left a trip open leads to one power_loss record (several kills can hit
    # the same open trip before a run gets far enough to close it).
    assert 1 <= len(power_loss) <= kills_with_open_trip
    for body in power_loss:
        assert body["ended_at"] >= body["started_at"]
        assert body["odometer_end_km"] >= body["odometer_start_km"]
    # The odometer chain stays closed across kills: each record starts where the previous ended.
    for earlier, later in zip(bodies, bodies[1:]):
        assert later["odometer_start_km"] == earlier["odometer_end_km"]
