"""Benchmark of the NMEA stage alone: device.nmea (framing + assembly) vs bare pynmea2.

    .venv/bin/python benchmarks/nmea_stage.py [--file F] [--repeat N]

Times, in CPU seconds and best of N runs, (a) `pynmea2.parse(line, check=True)` over every
non-blank line and (b) `FixAssembler.feed_bytes` over the file's bytes in 64 KiB chunks, and
prints sentences/s for both and their ratio. The whole-pipeline benchmark is device_pipeline.py;
this one shows how much of the budget the NMEA stage leaves to trips and store.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pynmea2

from device.nmea import RECORDING_MIN_DATE, FixAssembler

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT / "tests" / "data" / "nmea" / "dotmorten__NmeaSampleData.nmea"


def bare(lines: list[str]) -> None:
    for line in lines:
        try:
            pynmea2.parse(line, check=True)
        except pynmea2.ParseError:
            pass


def stage(data: bytes) -> FixAssembler:
    asm = FixAssembler(RECORDING_MIN_DATE)
    for i in range(0, len(data), 65536):
        asm.feed_bytes(data[i : i + 65536])
    asm.close()
    return asm


def best(fn, arg, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn(arg)
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data = args.file.read_bytes()
    lines = [ln for ln in data.decode("ascii", "replace").splitlines() if ln.strip()]
    t_bare = best(bare, lines, args.repeat)
    t_stage = best(stage, data, args.repeat)
    stats = stage(data).stats()
    n = len(lines)
    print(f"file: {args.file.name} ({len(data)} bytes, {n} non-blank lines)")
    print(f"bare pynmea2.parse(check=True): {n / t_bare:>12,.0f} sentences/s ({t_bare:.3f} s CPU)")
    print(f"device.nmea stage:              {n / t_stage:>12,.0f} sentences/s ({t_stage:.3f} s CPU)")
    print(f"ratio stage/bare:               {t_bare / t_stage:.2f}x")
    print(f"fixes: {stats['fixes']}, sentences: {stats['sentences']}, used: {stats['used']}")


if __name__ == "__main__":
    main()
