"""Private mode at the CLI level: no plaintext private position anywhere in the store's files.

The store file, its -wal and its -shm are searched for every textual and binary form in which a
position of the private part could have been written: the receiver's own ddmm.mmmm strings, decimal
degrees with 4 to 6 decimals, and IEEE doubles (SQLite stores REAL big-endian).
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from device import sealing
from device.chain import coord
from device.nmea import RECORDING_MIN_DATE, FixAssembler
from device.store import Store

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "nmea"
LEAFLET = DATA / "leaflet-nmealayer__test.nmea"  # 6 minute drive, St Petersburg
GARMIN = DATA / "dotmorten__NmeaSampleData.nmea"  # 3 hour drive, Reno / Lake Tahoe


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def fixes(path: Path):
    asm = FixAssembler(min_date=RECORDING_MIN_DATE)
    return asm.feed_bytes(path.read_bytes()) + asm.close()


def raw_positions(path: Path) -> dict[str, list[bytes]]:
    """hhmmss -> the ddmm.mmmm latitude and dddmm.mmmm longitude strings of RMC/GGA/GLL lines."""
    out: dict[str, list[bytes]] = {}
    for line in path.read_bytes().splitlines():
        fields = line.split(b"*")[0].split(b",")
        kind = fields[0][-3:]
        if kind == b"RMC" and len(fields) > 6:
            tod, lat, lon = fields[1], fields[3], fields[5]
        elif kind == b"GGA" and len(fields) > 5:
            tod, lat, lon = fields[1], fields[2], fields[4]
        elif kind == b"GLL" and len(fields) > 5:
            tod, lat, lon = fields[5], fields[1], fields[3]
        else:
            continue
        if lat and lon:
            out.setdefault(tod[:6].decode("ascii", "replace"), []).extend([lat, lon])
    return out


def forms(fix, raw: dict[str, list[bytes]]) -> set[bytes]:
    """Every way a position could have been written to disk (text, and SQLite REAL doubles)."""
    out: set[bytes] = set(raw.get(fix.time.strftime("%H%M%S"), []))
    for value in (fix.lat, fix.lon):
        magnitude = abs(value)
        for decimals in (4, 5, 6):
            out.add(f"{magnitude:.{decimals}f}".encode())
        for number in (value, coord(value)):
            out.add(struct.pack(">d", number))  # SQLite REAL
            out.add(struct.pack("<d", number))  # packed open track chunks (device.store.CHUNK_POINT)
    return out


def decimal_substrings(content: bytes) -> set[bytes]:
    """Every substring of `content` of the form digits '.' digits (up to 5 + 8 digits).

    Set membership in this is the same as `form in content` for decimal text forms, and fast
    enough to test tens of thousands of forms against megabytes.
    """
    out: set[bytes] = set()
    for match in re.finditer(rb"[0-9.]+", content):
        run = match.group()
        parts = run.split(b".")
        for left, right in zip(parts, parts[1:]):
            for k in range(max(0, len(left) - 5), len(left)):
                for n in range(1, min(len(right), 8) + 1):
                    out.add(left[k:] + b"." + right[:n])
    return out


def leaks(files: dict[str, bytes], secret: set[bytes], binary_sample: int = 1) -> list[tuple[str, bytes]]:
    """(file, form) for every secret form found; binary forms are searched one in `binary_sample`."""
    text = {f for f in secret if b"." in f and f.replace(b".", b"").isdigit()}
    binary = sorted(secret - text)[::binary_sample]
    found = []
    for name, content in files.items():
        found += [(name, form) for form in text & decimal_substrings(content)]
        found += [(name, form) for form in binary if form in content]
    return sorted(found)


def store_files(store: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in (store, Path(f"{store}-wal"), Path(f"{store}-shm"))
        if p.exists()
    }


def config_with_key(tmp_path: Path, policy: str = "sealed") -> tuple[Path, object]:
    key = sealing.generate_private_key()
    public = base64.b64encode(sealing.public_key_raw(key)).decode("ascii")
    path = tmp_path / "ritbox.toml"
    path.write_text(f'[privacy]\nprivate_positions = "{policy}"\nsealing_key = "{public}"\n')
    return path, key


def replay(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RITBOX_DEVICE_CONFIG=str(config))
    return subprocess.run(
        [sys.executable, "-m", "device.cli", "replay", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def stored_bodies(store: Path) -> list[dict]:
    with Store(store) as opened:
        assert opened.verify_chain() is None
        return [json.loads(t.body) for t in opened.closed_trips()]


@pytest.mark.parametrize("policy", ["sealed", "none"])
def test_private_part_of_a_drive_leaves_no_plaintext_position(tmp_path, policy) -> None:
    config, key = config_with_key(tmp_path, policy)
    store = tmp_path / "ritbox.db"
    result = replay(
        config, str(LEAFLET), "--fast", "--json", "--store", str(store),
        "--private-from", "2016-04-11T14:21:00Z", "--private-until", "2016-04-11T14:23:00Z",
    )
    assert result.returncode == 0, result.stderr
    trips = json.loads(result.stdout)["trips"]
    assert [t["mode"] for t in trips] == ["business", "private", "business"]
    private = trips[1]

    # Positions of the private part; the switch points themselves are also business start/end
    # points (the business trips end and start there), so a margin of 3 s is left out.
    lo, hi = utc(private["started_at"]), utc(private["ended_at"])
    all_fixes = fixes(LEAFLET)
    raw = raw_positions(LEAFLET)
    inside = [f for f in all_fixes if (f.time - lo).total_seconds() > 3 and (hi - f.time).total_seconds() > 3]
    outside = [f for f in all_fixes if f.time < lo or f.time > hi]
    assert len(inside) > 100
    secret = set().union(*(forms(f, raw) for f in inside))
    public = set().union(*(forms(f, raw) for f in outside))
    secret -= public  # a form shared with a business position proves nothing
    assert len(secret) > 500

    files = store_files(store)
    assert store.name in files
    found = leaks(files, secret)
    assert found == [], f"plaintext private positions in the store: {found[:5]}"
    # The check can fail: business positions, written in the clear, are found the same way.
    business_forms = set().union(*(forms(f, raw) for f in outside)) - set().union(*(forms(f, raw) for f in inside))
    assert leaks({store.name: files[store.name]}, business_forms)

    bodies = stored_bodies(store)
    assert [b["mode"] for b in bodies] == ["business", "private", "business"]
    business, hidden = bodies[0], bodies[1]
    assert business["track"] and business["start"] and business["end"]  # the business part keeps its track
    assert hidden["track"] == [] and hidden["start"] is None and hidden["end"] is None
    if policy == "sealed":
        # Sealed, not dropped: the backend's private key opens the private trip's end.
        lat, lon = json.loads(sealing.open_sealed(key, hidden["end_sealed"]))
        assert (lat, lon) == (pytest.approx(bodies[2]["start"][0], abs=1e-3), pytest.approx(bodies[2]["start"][1], abs=1e-3))
    else:
        assert hidden["start_sealed"] is None and hidden["end_sealed"] is None


def test_private_long_drive_killed_midway_leaves_no_plaintext_in_db_wal_or_shm(tmp_path) -> None:
    """Whole 3-hour drive private; SIGKILL mid-run so that the WAL and SHM are still there."""
    config, _ = config_with_key(tmp_path)
    store = tmp_path / "ritbox.db"
    env = dict(os.environ, RITBOX_DEVICE_CONFIG=str(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "replay", str(GARMIN), "--fast", "--private", "--store", str(store)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Kill once a few private trips are closed (one line each on stdout), the drive still going.
    closed = 0
    assert proc.stdout is not None
    while closed < 3:
        line = proc.stdout.readline()
        assert line, f"replay ended early: {proc.stderr.read() if proc.stderr else ''}"
        closed += " private" in line
    # At once (a few ms): a fixed 0.2 s was longer than the rest of the fast replay once the
    # pipeline got faster (it ends ~0.15 s after the third trip here), and a store closed
    # cleanly has no WAL left to check. After the third trip a third of the drive is still to go.
    time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)

    files = store_files(store)
    assert set(files) == {store.name, f"{store.name}-wal", f"{store.name}-shm"}
    assert len(files[f"{store.name}-wal"]) > 0
    raw = raw_positions(GARMIN)
    secret = set().union(*(forms(f, raw) for f in fixes(GARMIN)))
    # Text forms: all of them; binary doubles: one in 8 (each costs a scan of the files).
    found = leaks(files, secret, binary_sample=8)
    assert found == [], f"plaintext private positions in the store: {found[:5]}"

    bodies = stored_bodies(store)
    assert len(bodies) >= 3 and all(b["mode"] == "private" for b in bodies)
    assert all(b["track"] == [] and b["start"] is None and b["start_sealed"] for b in bodies)
