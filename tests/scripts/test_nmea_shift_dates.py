"""scripts/nmea_shift_dates.py moves a real recording's dates and nothing else: the device finds
the same trips, a day-shift later, and skips the same lines for the same reasons."""
from __future__ import annotations

import json
import runpy
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "data" / "nmea" / "dotmorten__NmeaSampleData.nmea"
SHIFT = runpy.run_path(str(ROOT / "scripts" / "nmea_shift_dates.py"))


def _replay(path: Path, store: Path) -> dict:
    result = subprocess.run([sys.executable, "-m", "device", "replay", str(path), "--fast", "--json",
                             "--store", str(store)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_only_rmc_and_zda_dates_change_and_their_checksums_stay_right(tmp_path) -> None:
    target = tmp_path / "moved.nmea"
    assert SHIFT["main"]([str(RECORDING), str(target), "--to", "2026-11-20"]) == 0
    before = RECORDING.read_bytes().splitlines()
    after = target.read_bytes().splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert changed  # the recording has dated sentences
    for old, new in changed:
        assert old[3:6] in (b"RMC", b"ZDA") and new[3:6] == old[3:6]
        body, digest = new[1:].split(b"*")
        assert int(digest, 16) == SHIFT["checksum"](body)
        # Everything but the date fields is the same.
        old_fields, new_fields = old[1:].split(b"*")[0].split(b","), body.split(b",")
        dates = {9} if old[3:6] == b"RMC" else {2, 3, 4}
        assert [f for i, f in enumerate(old_fields) if i not in dates] == \
               [f for i, f in enumerate(new_fields) if i not in dates]
    # A sentence whose checksum is wrong is left as it was.
    broken = b"$GPRMC,235234,A,4916.45,N,12311.12,W,000.5,054.7,250905,020.3,E*00"
    assert SHIFT["shift_line"](broken, 30) == broken


@pytest.mark.parametrize("days", [7727])
def test_the_device_finds_the_same_trips_moved_by_whole_days(tmp_path, days) -> None:
    start = SHIFT["first_date"](RECORDING.read_bytes().splitlines())
    target = tmp_path / "moved.nmea"
    SHIFT["main"]([str(RECORDING), str(target), "--to", (start + timedelta(days=days)).isoformat()])
    original, moved = _replay(RECORDING, tmp_path / "a.db"), _replay(target, tmp_path / "b.db")
    assert (moved["sentences"], moved["skipped"], moved["fixes"]) == \
           (original["sentences"], original["skipped"], original["fixes"])
    assert len(moved["trips"]) == len(original["trips"]) == 6

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    for old, new in zip(original["trips"], moved["trips"]):
        assert at(new["started_at"]) - at(old["started_at"]) == timedelta(days=days)
        assert at(new["ended_at"]) - at(old["ended_at"]) == timedelta(days=days)
        assert (new["distance_km"], new["mode"], new["flags"]) == (old["distance_km"], old["mode"], old["flags"])
