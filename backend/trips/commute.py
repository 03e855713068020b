"""Commute proposals: a trip between one of the driver's homes and one of their work places
(either direction) is proposed as commute (woon-werk). Only a proposal: the driver confirms or
changes the class, and nothing is written until they do.

Pure functions over positions and shapely geometries (x = longitude, y = latitude). A place is
a point with a radius in metres, or a polygon. A driver may have several homes (a partner's
home counts as a residence) and several work places.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from shapely import wkt
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8
COMMUTE = "commute"
HOME, WORK = "home", "work"

LatLon = tuple[float, float]


@dataclass(frozen=True)
class Zone:
    kind: str  # "home", "work" or "other"
    geometry: BaseGeometry  # lon/lat
    radius_m: float | None = None  # for a point
    name: str = ""  # the driver's name for the place, for the proposal's reason


def zone_from_wkt(kind: str, geometry_wkt: str, radius_m: float | None, name: str = "") -> Zone:
    return Zone(kind, wkt.loads(geometry_wkt), radius_m, name)


def circle(kind: str, lat: float, lon: float, radius_m: float) -> Zone:
    return Zone(kind, Point(lon, lat), radius_m)


def distance_m(a: LatLon, b: LatLon) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def contains(zone: Zone, position: LatLon) -> bool:
    if zone.geometry.geom_type == "Point":
        return distance_m((zone.geometry.y, zone.geometry.x), position) <= (zone.radius_m or 0.0)
    return zone.geometry.covers(Point(position[1], position[0]))


def first_containing(zones: Iterable[Zone], kind: str, position: LatLon) -> Zone | None:
    return next((z for z in zones if z.kind == kind and contains(z, position)), None)


def commute_ends(start: LatLon | None, end: LatLon | None, zones: Iterable[Zone]) -> tuple[Zone, Zone] | None:
    """The (from, to) places of a trip from a home to a work place or back; None otherwise (or
    when a position is missing, e.g. a trip recorded in private mode)."""
    if start is None or end is None:
        return None
    zones = list(zones)
    for from_kind, to_kind in ((HOME, WORK), (WORK, HOME)):
        origin, destination = first_containing(zones, from_kind, start), first_containing(zones, to_kind, end)
        if origin is not None and destination is not None:
            return origin, destination
    return None


def propose(start: LatLon | None, end: LatLon | None, zones: Iterable[Zone]) -> str | None:
    """"commute" for a trip from a home to a work place or back; None otherwise."""
    return COMMUTE if commute_ends(start, end, zones) is not None else None
