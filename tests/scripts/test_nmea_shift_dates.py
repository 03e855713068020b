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


AMERSFOORT = (52.1561, 5.3878)
NETHERLANDS = (50.75, 53.56, 3.35, 7.23)  # south, north, west, east


def _fixes(lines: list[bytes]) -> list[tuple[float, float]]:
    import pynmea2
    fixes = []
    for line in lines:
        if line[3:6] == b"RMC":
            try:
                sentence = pynmea2.parse(line.decode("ascii"), check=True)
            except (pynmea2.ParseError, pynmea2.ChecksumError):
                continue
            fixes.append((sentence.latitude, sentence.longitude))
    return fixes


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    import math
    mid = math.radians((a[0] + b[0]) / 2)
    return 6_371_008.8 * math.hypot(math.radians(b[0] - a[0]), math.radians(b[1] - a[1]) * math.cos(mid))


def test_a_drive_moved_to_the_netherlands_keeps_its_shape_and_valid_checksums(tmp_path) -> None:
    import pynmea2
    target = tmp_path / "moved.nmea"
    assert SHIFT["main"]([str(RECORDING), str(target), "--to", "2026-11-20", "--move-to", "52.1561,5.3878"]) == 0
    dated = tmp_path / "dated.nmea"
    SHIFT["main"]([str(RECORDING), str(dated), "--to", "2026-11-20"])
    before, after = dated.read_bytes().splitlines(), target.read_bytes().splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert {old[3:6] for old, _ in changed} == {b"GGA", b"RMC", b"GLL"}
    for old, new in changed:
        moved = pynmea2.parse(new.decode("ascii"), check=True)  # raises on a wrong checksum
        original = pynmea2.parse(old.decode("ascii"), check=True)
        position = {"lat", "lat_dir", "lon", "lon_dir"}
        names = [field[1] for field in moved.fields][:len(moved.data)]
        assert [v for n, v in zip(names, moved.data) if n not in position] == \
               [v for n, v in zip(names, original.data) if n not in position]
        south, north, west, east = NETHERLANDS
        assert south < moved.latitude < north and west < moved.longitude < east
    old_fixes, new_fixes = _fixes(before), _fixes(after)
    assert new_fixes[0] == pytest.approx(AMERSFOORT, abs=1e-5)
    # Distances between fixes are the recording's (within a few decimetres over 2 s).
    for i in range(1, len(old_fixes), 97):
        assert _metres(new_fixes[i - 1], new_fixes[i]) == pytest.approx(_metres(old_fixes[i - 1], old_fixes[i]),
                                                                       abs=0.5)
    # And so is the shape: the distance from the start to any fix.
    for i in range(0, len(old_fixes), 211):
        assert _metres(new_fixes[0], new_fixes[i]) == pytest.approx(_metres(old_fixes[0], old_fixes[i]), rel=0.01)


def test_the_device_finds_the_same_trips_in_the_netherlands(tmp_path) -> None:
    target = tmp_path / "moved.nmea"
    SHIFT["main"]([str(RECORDING), str(target), "--to", "2026-11-20", "--move-to", "52.1561,5.3878"])
    original, moved = _replay(RECORDING, tmp_path / "a.db"), _replay(target, tmp_path / "b.db")
    assert (moved["sentences"], moved["skipped"], moved["fixes"]) == \
           (original["sentences"], original["skipped"], original["fixes"])
    assert len(moved["trips"]) == len(original["trips"]) == 6
    for old, new in zip(original["trips"], moved["trips"]):
        assert new["distance_km"] == pytest.approx(old["distance_km"], rel=0.01)
        assert (new["mode"], new["flags"]) == (old["mode"], old["flags"])
