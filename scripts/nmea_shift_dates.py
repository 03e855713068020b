"""Move an NMEA recording to other days: the date of every RMC and ZDA sentence is shifted by
a whole number of days and its checksum written anew. Times of day, positions, speeds and every
other sentence stay byte for byte, and a sentence whose checksum was wrong is left wrong (so the
device skips exactly the lines it skipped before).

The demo uses it to replay the recorded 2005 drive as if it was driven this week, so that its
trips fall inside the agreement's correction window and a request's reach.

With --move-to LAT,LON the drive is also moved to another place: the recording's first position
becomes LAT,LON and every other position keeps its distance north and east of it in metres (a
fixed move; a plain move in degrees would shrink east-west distances by a fifth between Nevada
and the Netherlands, and the positions would no longer match the recorded speeds). Sentences
with a position (GGA, RMC, GLL) are parsed and written anew with pynmea2, checksum included;
a sentence whose checksum was wrong is left as it was.

    python scripts/nmea_shift_dates.py IN OUT --to 2026-11-21   # the recording's first day -> that day
    python scripts/nmea_shift_dates.py IN OUT --to 2026-11-21 --move-to 52.1561,5.3878
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from datetime import date, datetime, timedelta
from functools import reduce
from operator import xor
from pathlib import Path

import pynmea2

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


POSITIONED = ("GGA", "RMC", "GLL")


def _parsed(line: bytes):
    """The sentence with a position on this line, or None (other sentences, bad checksums)."""
    try:
        sentence = pynmea2.parse(line.decode("ascii").strip(), check=True)
    except (UnicodeDecodeError, pynmea2.ParseError, pynmea2.ChecksumError, AttributeError, ValueError):
        return None
    if sentence.sentence_type not in POSITIONED or not sentence.lat or not sentence.lon:
        return None
    return sentence


def first_position(lines: list[bytes]) -> tuple[float, float] | None:
    for line in lines:
        sentence = _parsed(line)
        if sentence is not None:
            return sentence.latitude, sentence.longitude
    return None


def _nmea_angle(value: float, degree_digits: int, decimals: int) -> tuple[str, bool]:
    """(D)DDMM.mmmm of an angle, and whether it is negative (S or W)."""
    scaled = round(abs(value) * 60 * 10 ** decimals)  # in units of the last minute digit
    degrees, minutes = divmod(scaled, 60 * 10 ** decimals)
    text = f"{degrees:0{degree_digits}d}{minutes // 10 ** decimals:02d}"
    if decimals:
        text += f".{minutes % 10 ** decimals:0{decimals}d}"
    return text, value < 0


class Move:
    """The fixed move from the recording's first position to another: metres north and east."""

    EARTH_RADIUS_M = 6_371_008.8

    def __init__(self, origin: tuple[float, float], target: tuple[float, float]) -> None:
        self.origin, self.target = origin, target

    def apply(self, lat: float, lon: float) -> tuple[float, float]:
        moved_lat = lat + self.target[0] - self.origin[0]
        east_m = math.radians(lon - self.origin[1]) * math.cos(math.radians(lat)) * self.EARTH_RADIUS_M
        moved_lon = self.target[1] + math.degrees(east_m / (self.EARTH_RADIUS_M * math.cos(math.radians(moved_lat))))
        return moved_lat, moved_lon


def move_line(line: bytes, move: Move) -> bytes:
    sentence = _parsed(line)
    if sentence is None:
        return line
    lat, lon = move.apply(sentence.latitude, sentence.longitude)
    fields = {name: index for index, name in enumerate(field[1] for field in sentence.fields)}
    lat_decimals = len(sentence.lat.partition(".")[2])
    lon_decimals = len(sentence.lon.partition(".")[2])
    lat_text, south = _nmea_angle(lat, 2, lat_decimals)
    lon_text, west = _nmea_angle(lon, 3, lon_decimals)
    sentence.data[fields["lat"]], sentence.data[fields["lat_dir"]] = lat_text, "S" if south else "N"
    sentence.data[fields["lon"]], sentence.data[fields["lon_dir"]] = lon_text, "W" if west else "E"
    ending = line[len(line.rstrip(b"\r\n")):]
    return str(sentence).encode("ascii") + ending


def _position_arg(text: str) -> tuple[float, float]:
    lat, _, lon = text.partition(",")
    position = float(lat), float(lon)
    if not (-90 <= position[0] <= 90 and -180 <= position[1] <= 180):
        raise argparse.ArgumentTypeError(f"not a position: {text}")
    return position


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--to", required=True, type=date.fromisoformat,
                        help="the day the recording's first day becomes (YYYY-MM-DD)")
    parser.add_argument("--move-to", type=_position_arg, metavar="LAT,LON",
                        help="the place the recording's first position becomes (decimal degrees)")
    args = parser.parse_args(argv)
    lines = args.source.read_bytes().splitlines(keepends=True)
    start = first_date(lines)
    if start is None:
        print(f"{args.source}: no RMC or ZDA sentence with a date", file=sys.stderr)
        return 2
    days = (args.to - start).days
    lines = [shift_line(line, days) for line in lines]
    print(f"{start.isoformat()} -> {args.to.isoformat()} ({days:+d} days)")
    if args.move_to:
        origin = first_position(lines)
        if origin is None:
            print(f"{args.source}: no sentence with a position", file=sys.stderr)
            return 2
        move = Move(origin, args.move_to)
        lines = [move_line(line, move) for line in lines]
        print(f"{origin[0]:.5f},{origin[1]:.5f} -> {args.move_to[0]:.5f},{args.move_to[1]:.5f}")
    args.target.write_bytes(b"".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
