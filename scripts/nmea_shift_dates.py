"""Move an NMEA recording to other days: the date of every RMC and ZDA sentence is shifted by
a whole number of days and its checksum written anew. Times of day, positions, speeds and every
other sentence stay byte for byte, and a sentence whose checksum was wrong is left wrong (so the
device skips exactly the lines it skipped before).

The demo uses it to replay the recorded 2005 drive as if it was driven this week, so that its
trips fall inside the agreement's correction window and a request's reach.

    python scripts/nmea_shift_dates.py IN OUT --to 2026-11-21   # the recording's first day -> that day
"""
from __future__ import annotations

import argparse
import re
import sys
from datetime import date, datetime, timedelta
from functools import reduce
from operator import xor
from pathlib import Path

SENTENCE = re.compile(rb"^\$(?P<body>[A-Z]{2}(?P<type>RMC|ZDA),[^*]*)\*(?P<sum>[0-9A-Fa-f]{2})(?P<end>\s*)$")


def checksum(body: bytes) -> int:
    return reduce(xor, body, 0)


def _dated(line: bytes) -> tuple[re.Match, list[bytes]] | None:
    match = SENTENCE.match(line)
    if match is None or checksum(match["body"]) != int(match["sum"], 16):
        return None
    return match, match["body"].split(b",")


def _rmc_date(fields: list[bytes]) -> date | None:
    text = fields[9] if len(fields) > 9 else b""
    try:
        return datetime.strptime(text.decode("ascii"), "%d%m%y").date()
    except (UnicodeDecodeError, ValueError):
        return None


def _zda_date(fields: list[bytes]) -> date | None:
    try:
        return date(int(fields[4]), int(fields[3]), int(fields[2]))
    except (IndexError, ValueError):
        return None


def first_date(lines: list[bytes]) -> date | None:
    """The first day the recording names (RMC or ZDA with a good checksum)."""
    for line in lines:
        dated = _dated(line)
        if dated:
            match, fields = dated
            day = _rmc_date(fields) if match["type"] == b"RMC" else _zda_date(fields)
            if day:
                return day
    return None


def shift_line(line: bytes, days: int) -> bytes:
    dated = _dated(line)
    if dated is None:
        return line
    match, fields = dated
    if match["type"] == b"RMC":
        day = _rmc_date(fields)
        if day is None:
            return line
        fields[9] = (day + timedelta(days=days)).strftime("%d%m%y").encode()
    else:
        day = _zda_date(fields)
        if day is None:
            return line
        moved = day + timedelta(days=days)
        fields[2], fields[3], fields[4] = (f"{moved.day:02d}".encode(), f"{moved.month:02d}".encode(),
                                           str(moved.year).encode())
    body = b",".join(fields)
    return b"$" + body + b"*" + f"{checksum(body):02X}".encode() + match["end"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--to", required=True, type=date.fromisoformat,
                        help="the day the recording's first day becomes (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    lines = args.source.read_bytes().splitlines(keepends=True)
    start = first_date(lines)
    if start is None:
        print(f"{args.source}: no RMC or ZDA sentence with a date", file=sys.stderr)
        return 2
    days = (args.to - start).days
    args.target.write_bytes(b"".join(shift_line(line, days) for line in lines))
    print(f"{start.isoformat()} -> {args.to.isoformat()} ({days:+d} days)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
