"""NMEA for movements the real recordings in tests/data/nmea do not contain (a low-speed loop,
an aircraft): RMC + GGA per epoch, with valid checksums, built from a list of epochs.

Only for shapes no recording has; the targets are held on the real recordings too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

M_PER_DEG_LAT = 111_195.0  # metres per degree of latitude (mean sphere), plenty for synthetic shapes


@dataclass(frozen=True)
class Epoch:
    time: datetime
    lat: float
    lon: float
    speed_kmh: float
    course_deg: float = 0.0
    altitude_m: float = 10.0
    hdop: float = 0.9


def _checksum(body: str) -> str:
    value = 0
    for ch in body.encode("ascii"):
        value ^= ch
    return f"{value:02X}"


def _sentence(body: str) -> bytes:
    return f"${body}*{_checksum(body)}\r\n".encode("ascii")


def _coord(value: float, positive: str, negative: str, degree_digits: int) -> tuple[str, str]:
    hemi = positive if value >= 0 else negative
    value = abs(value)
    degrees = int(value)
    minutes = (value - degrees) * 60
    return f"{degrees:0{degree_digits}d}{minutes:08.5f}", hemi


def nmea(epochs: list[Epoch]) -> bytes:
    out = []
    for e in epochs:
        tod = e.time.strftime("%H%M%S") + f".{e.time.microsecond // 10000:02d}"
        lat, ns = _coord(e.lat, "N", "S", 2)
        lon, ew = _coord(e.lon, "E", "W", 3)
        knots = e.speed_kmh / 1.852
        out.append(_sentence(f"GPRMC,{tod},A,{lat},{ns},{lon},{ew},{knots:.2f},{e.course_deg:.1f},"
                             f"{e.time.strftime('%d%m%y')},,,A"))
        out.append(_sentence(f"GPGGA,{tod},{lat},{ns},{lon},{ew},1,09,{e.hdop:.1f},{e.altitude_m:.1f},M,47.0,M,,"))
    return b"".join(out)


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (lat + north_m / M_PER_DEG_LAT,
            lon + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))))


def _jitter(i: int) -> tuple[float, float]:
    """Deterministic metre-scale noise, like a receiver's."""
    return 1.5 * math.sin(i * 1.7), 1.5 * math.cos(i * 2.3)


def parked(t0: datetime, lat: float, lon: float, seconds: int, start_index: int = 0) -> list[Epoch]:
    out = []
    for i in range(seconds):
        dn, de = _jitter(start_index + i)
        p = offset(lat, lon, dn, de)
        out.append(Epoch(t0 + timedelta(seconds=i), p[0], p[1], 0.4 * abs(math.sin(i)), 0.0))
    return out


T0 = datetime(2026, 5, 4, 8, 0, 0, tzinfo=timezone.utc)
HOME = (52.0907, 5.1214)  # Utrecht


def parking_lot_loop(radius_m: float = 24.0, laps: float = 4.25) -> list[Epoch]:
    """Parked 60 s, then laps of a circle through the parking spot (never more than 2 x radius
    from it) at 10-25 km/h, then parked 240 s where the loop ended (4.25 laps of 24 m: 0.64 km)."""
    epochs = parked(T0, *HOME, 60)
    centre = offset(*HOME, radius_m, 0.0)
    angle = -math.pi / 2  # the spot is the circle's southernmost point
    end_angle = angle + laps * 2 * math.pi
    t = T0 + timedelta(seconds=60)
    i = 0
    while angle < end_angle:
        speed = 10.0 + 15.0 * min(1.0, i / 10) * (0.8 + 0.2 * math.sin(i / 7))  # km/h, up to 25
        angle = min(end_angle, angle + speed / 3.6 / radius_m)
        dn, de = _jitter(i)
        north, east = radius_m * math.sin(angle) + dn * 0.5, radius_m * math.cos(angle) + de * 0.5
        lat, lon = offset(*centre, north, east)
        course = (math.degrees(math.atan2(-math.sin(angle), math.cos(angle))) + 360) % 360
        t += timedelta(seconds=1)
        epochs.append(Epoch(t, lat, lon, speed, course))
        i += 1
    last = epochs[-1]
    return epochs + parked(t + timedelta(seconds=1), last.lat, last.lon, 240, start_index=i)


def aircraft_flight(top_kmh: float = 283.0, climb_ms: float = 8.0, accel_kmh_s: float = 9.0) -> list[Epoch]:
    """Taxi, take-off roll, a climb at 8 m/s to 2,177 m and cruise at 283 km/h heading east
    (the issue's aircraft log); the parameters make a slower one that only climbs, etc."""
    epochs = parked(T0, *HOME, 60)
    t = T0 + timedelta(seconds=60)
    east = 0.0
    altitude = 10.0
    speed = 20.0
    for i in range(260):
        if i < 60:
            speed = 20.0  # taxi
        elif speed < top_kmh:
            speed = min(top_kmh, speed + accel_kmh_s)  # take-off roll (9 km/h/s: 2.5 m/s2)
        if speed > min(230.0, top_kmh - 1) and altitude < 2177.0:
            altitude = min(2177.0, altitude + climb_ms)
        east += speed / 3.6
        t += timedelta(seconds=1)
        lat, lon = offset(*HOME, 0.0, east)
        epochs.append(Epoch(t, lat, lon, speed, 90.0, altitude))
    return epochs
