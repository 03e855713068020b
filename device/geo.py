"""Small geodesy helpers for the trip detector: great-circle distance and track simplification.

Distances are metres on a spherical Earth (mean radius). For car trips of a few hundred km the
spherical error (< 0.5 %) is far below GPS and odometer calibration error, and the backend
calibrates the GPS km against the real odometer anyway.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from shapely.geometry import LineString

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points given in degrees."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    # min() guards asin against a rounding overshoot for antipodal points
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class LocalProjection:
    """Equirectangular projection around a reference point, in metres.

    Good to well under a metre over the extent of one trip's track (tens of km), which is all a
    10 m simplification tolerance needs; no pyproj dependency.
    """

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0 = lat0
        self.lon0 = lon0
        self._kx = math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
        self._ky = math.radians(1.0) * EARTH_RADIUS_M

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        # wrap the longitude difference so a track crossing the antimeridian stays continuous
        dlon = (lon - self.lon0 + 180.0) % 360.0 - 180.0
        return dlon * self._kx, (lat - self.lat0) * self._ky


def simplify_indices(points: Sequence[tuple[float, float]], tolerance_m: float) -> list[int]:
    """Indices of the (lat, lon) points kept by a Douglas-Peucker simplification.

    Returning indices rather than coordinates lets the caller keep each point's timestamp.
    The first and last points are always kept.
    """
    n = len(points)
    if n <= 2:
        return list(range(n))
    proj = LocalProjection(*points[0])
    xy = [proj.to_xy(lat, lon) for lat, lon in points]
    # An array, not the list: shapely would otherwise check the list point by point in Python.
    simplified = LineString(np.array(xy, dtype=float)).simplify(tolerance_m, preserve_topology=False)
    kept = list(simplified.coords)
    if not kept:  # degenerate input (all points equal) may simplify to an empty line
        return [0, n - 1]
    # Douglas-Peucker keeps the end points and a subset of the interior vertices in order, so
    # one forward scan over the interior maps every kept coordinate back to its index.
    indices = [0]
    i = 1
    for coord in kept[1:-1]:
        while i < n - 1 and xy[i] != coord:
            i += 1
        if i == n - 1:  # cannot happen with shapely's DP; fall back to keeping everything
            return list(range(n))
        indices.append(i)
        i += 1
    indices.append(n - 1)
    return indices
