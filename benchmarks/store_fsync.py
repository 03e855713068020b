"""Fsyncs per hour of driving for device.store, counted by the store and by strace.

Replays the 1 Hz recording leaflet-nmealayer__test.nmea (6 min of city driving), looped into one
hour, as a business trip into a fresh store: every fix is an add_point plus a save_progress
snapshot, as the daemon does. The script prints the store's own commit count, and, when strace is
installed, the real fsync/fdatasync syscalls of the driving phase (a run without driving is
measured too and subtracted, so opening and closing the file do not count).

    .venv/bin/python benchmarks/store_fsync.py [--hours N]
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORDING = REPO / "tests" / "data" / "nmea" / "leaflet-nmealayer__test.nmea"


def fixes() -> list[tuple[datetime, float, float]]:
    import pynmea2

    out = []
    for line in RECORDING.read_text(encoding="ascii", errors="replace").splitlines():
        if "RMC" not in line:
            continue
        try:
            msg = pynmea2.parse(line.strip(), check=True)
        except pynmea2.ParseError:
            continue
        if msg.status == "A" and msg.datestamp and msg.timestamp:
            when = datetime.combine(msg.datestamp, msg.timestamp).replace(tzinfo=timezone.utc)
            out.append((when, msg.latitude, msg.longitude))
    return out


def run(db: str, hours: float, drive: bool) -> dict:
    """One store session: open, drive (or not), close the trip, close the store."""
    from device.model import TrackPoint, TripMode, TripRecord
    from device.store import Store

    base = fixes()
    span = len(base)
    n = int(hours * 3600)
    points = [TrackPoint(base[i % span][0] + timedelta(seconds=(i // span) * span), base[i % span][1], base[i % span][2])
              for i in range(n)]
    store = Store(db)
    started = time.perf_counter()
    km = 0.0
    if drive:
        store.open_trip_started(points[0].time, (points[0].lat, points[0].lon), TripMode.BUSINESS, 0.0)
        for prev, p in zip([points[0], *points], points):
            km += math.dist((prev.lat, prev.lon), (p.lat, p.lon)) * 111.0
            store.add_point(p)
            store.save_progress(time=p.time, position=(p.lat, p.lon), distance_km=km)
    store.close_trip(TripRecord(points[0].time, points[-1].time, (points[0].lat, points[0].lon),
                                (points[-1].lat, points[-1].lon), km, 0.0, km, TripMode.BUSINESS,
                                track=points[::60]))
    elapsed = time.perf_counter() - started
    result = {"commits": store.commit_count, "checkpoints": store.checkpoint_count,
              "fsync_estimate": store.fsync_estimate, "points": n if drive else 0, "seconds": elapsed}
    store.close()
    return result


def strace_syncs(db: str, hours: float, drive: bool) -> int | None:
    if shutil.which("strace") is None:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        subprocess.run(["strace", "-f", "-c", "-o", out.name, "-e", "trace=fsync,fdatasync",
                        sys.executable, __file__, "--child", db, "--hours", str(hours)]
                       + (["--drive"] if drive else []), check=True, stdout=subprocess.DEVNULL, cwd=REPO)
        text = Path(out.name).read_text()
    return sum(int(m.group(1)) for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync$",
                                                    text, re.M))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--child", metavar="DB")
    parser.add_argument("--drive", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.child:
        print(json.dumps(run(args.child, args.hours, args.drive)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        measured = run(str(Path(tmp) / "own.db"), args.hours, True)
        driving = strace_syncs(str(Path(tmp) / "drive.db"), args.hours, True)
        idle = strace_syncs(str(Path(tmp) / "idle.db"), args.hours, False)
    print(f"driving time           : {args.hours:g} h at 1 Hz ({measured['points']} fixes)")
    print(f"store commits          : {measured['commits']} ({measured['commits'] / args.hours:.0f}/h)")
    print(f"store checkpoints      : {measured['checkpoints']}")
    print(f"fsyncs (store estimate): {measured['fsync_estimate'] / args.hours:.0f}/h")
    if driving is not None and idle is not None:
        print(f"fsyncs (strace)        : {(driving - idle) / args.hours:.0f}/h of driving "
              f"({driving} in the run minus {idle} for open, trip close and store close without driving)")
    else:
        print("fsyncs (strace)        : strace not installed")
    print(f"store time             : {measured['seconds'] / measured['points'] * 1e6:.0f} us per fix")
    print("target                 : <= 720 fsyncs per hour of driving")


if __name__ == "__main__":
    main()
