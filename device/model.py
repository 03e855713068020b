"""Value objects shared by the device pipeline: source -> nmea -> trips -> store.

Each stage owns its logic; this module only fixes the shapes that cross stage borders,
so that the stages can be built and tested on their own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class TripMode(str, Enum):
    """What the driver's privacy switch said while the trip was driven."""

    BUSINESS = "business"
    PRIVATE = "private"


class PrivatePositions(str, Enum):
    """The agreement's policy for positions of private trips."""

    SEALED = "sealed"  # start/end sealed with the backend's public key, no track
    NONE = "none"  # no positions at all, only times and km


# Fix and TrackPoint are made once per fix and once per track point: not frozen, because a frozen
# dataclass's __init__ sets every field through object.__setattr__ (a Fix cost 1.6 us instead of
# 0.3 us). Treat them as read-only all the same; nothing hashes them (eq=True makes them
# unhashable, so a set or dict key of them fails loudly rather than silently).
@dataclass(slots=True)
class Fix:
    """One merged position epoch from the receiver. `time` is timezone-aware UTC from RMC/ZDA."""

    time: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    course_deg: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    quality: int | None = None  # GGA fix quality, None when no GGA was seen for the epoch
    flags: frozenset[str] = frozenset()  # e.g. "dead_reckoning", "date_corrected"
    # GGA altitude above mean sea level, decoded at most once per device.nmea.ALTITUDE_INTERVAL
    # (only the plausibility check uses it); None in between
    altitude_m: float | None = None


@dataclass(slots=True)
class TrackPoint:
    """A point of a business trip's track (never produced for private trips)."""

    time: datetime
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch without usable fixes inside or between trips.

    `bridged` gaps were short and their straight-line distance was added to the trip;
    unbridged gaps are events of their own (the km are not invented).
    """

    started_at: datetime
    ended_at: datetime
    distance_km: float
    bridged: bool


@dataclass(slots=True)
class TripRecord:
    """A closed trip as the trip detector hands it to the store.

    Positions are plaintext here; the store seals or drops them for private trips
    before anything touches the disk.
    """

    started_at: datetime
    ended_at: datetime
    start: tuple[float, float] | None  # (lat, lon)
    end: tuple[float, float] | None
    distance_km: float
    odometer_start_km: float
    odometer_end_km: float
    mode: TripMode
    flags: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    track: list[TrackPoint] = field(default_factory=list)  # simplified; empty when private
    # "obd": the odometer figures are the car's own (PID A6), distance_km stays the GPS km;
    # "gps": the device's running GPS odometer (device.pipeline.CarOdometer decides)
    odometer_source: str = "gps"
