"""The resolver: named places, then the offline GeoNames extract, then PDOK (when configured).

One Resolver loads the named places once (a report resolves thousands of positions with one).
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass

from flask import current_app
import numpy as np
import shapely
from shapely import wkt
from shapely.geometry import Point
from sqlalchemy import select, text, tuple_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend.addresses import NAMED_PLACE, PLACE, STREET, UNKNOWN, Address, geonames, pdok
from backend.db import db, integer_array, utcnow
from backend.models.org_places import AddressCacheEntry, OrgPlace

log = logging.getLogger(__name__)
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0


@dataclass(frozen=True)
class NamedPlace:
    """A place as a geometry in lon/lat plus what it says about its address."""

    name: str
    source: str  # "org_place", "place" (an organisation place of the places table) or "driver_place"
    geometry_wkt: str  # lon/lat
    radius_m: float | None  # for points
    street: str | None = None
    number: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str | None = None


class _Area:
    """A named place as a prepared shapely geometry in metres on a local plane centred on the
    place (equirectangular: exact enough for radii of metres to kilometres), built once; a query
    point is moved into that plane. A bounding box in degrees rejects far positions cheaply."""

    def __init__(self, place: NamedPlace) -> None:
        self.place = place
        geometry = wkt.loads(place.geometry_wkt)
        centre = geometry.centroid
        self.origin = np.array([centre.x, centre.y])
        self.scale = np.array([M_PER_DEG_LON_EQUATOR * math.cos(math.radians(centre.y)), M_PER_DEG_LAT])
        local = shapely.transform(geometry, lambda xy: (xy - self.origin) * self.scale)
        if local.geom_type == "Point":
            local = local.buffer(place.radius_m or 0, quad_segs=32)
        self.local = local
        self.area = local.area
        shapely.prepare(local)
        minx, miny, maxx, maxy = local.bounds
        self.bounds = (minx / self.scale[0] + self.origin[0], miny / self.scale[1] + self.origin[1],
                       maxx / self.scale[0] + self.origin[0], maxy / self.scale[1] + self.origin[1])

    def covers(self, lat: float, lon: float) -> bool:
        minx, miny, maxx, maxy = self.bounds
        if not (minx <= lon <= maxx and miny <= lat <= maxy):
            return False
        x, y = (np.array([lon, lat]) - self.origin) * self.scale
        return self.local.covers(Point(x, y))


def cache_key(lat: float, lon: float) -> tuple[int, int]:
    return round(lat * 100_000), round(lon * 100_000)


def _colleague_places(driver_id: int | None) -> list[NamedPlace]:
    """Places of backend.models.places (drivers' home and work, organisation places there)."""
    try:
        from backend.models.places import Place
    except ImportError:  # that module has not landed
        return []
    statement = select(Place).where(Place.driver_id.is_(None))
    if driver_id is not None:
        statement = select(Place).where((Place.driver_id.is_(None)) | (Place.driver_id == driver_id))
    return [NamedPlace(p.name, "place" if p.driver_id is None else "driver_place", p.geometry_wkt, p.radius_m)
            for p in db.session.scalars(statement)]


def load_named_places(driver_id: int | None) -> list[NamedPlace]:
    places = [NamedPlace(p.name, "org_place", p.polygon_wkt or f"POINT ({p.lon} {p.lat})",
                         None if p.polygon_wkt else float(p.radius_m), p.street, p.number, p.postcode, p.city,
                         p.country)
              for p in db.session.scalars(select(OrgPlace).where(OrgPlace.active.is_(True)))]
    return places + _colleague_places(driver_id)


class Resolver:
    def __init__(self, driver_id: int | None = None) -> None:
        self.driver_id = driver_id
        self.places = load_named_places(driver_id)
        self.areas = [_Area(place) for place in self.places]
        self.pdok_url: str | None = current_app.config.get("PDOK_URL")
        self.pdok_timeout = float(current_app.config.get("PDOK_TIMEOUT_SECONDS", 3))
        # (lat_e5, lon_e5, provider) -> Address, or None for a known miss (see prefetch).
        self._prefetched: dict[tuple[int, int, str], Address | None] = {}
        # (lat_e5, lon_e5) looked up by prefetch: a provider without a row there is a known miss.
        self._looked_up: set[tuple[int, int]] = set()
        self._pending: list[dict] = []  # cache rows not yet written (resolve_many writes them in bulk)
        # (lat, lon) -> the offline geocoder's answer, searched together for the positions prefetch
        # found no cache row of (see prefetch).
        self._offline: dict[tuple[float, float], geonames.GeoNamesPlace | None] = {}
        self._deferring = False
        self._places: dict[tuple[str, str], Address] = {}  # _geonames' answers, one per place

    def named_place(self, lat: float, lon: float) -> NamedPlace | None:
        """The smallest named place covering the position (ties: by name)."""
        if not self.areas:
            return None
        inside = [(area.area, area.place.name, area.place) for area in self.areas if area.covers(lat, lon)]
        return min(inside, key=lambda item: item[:2])[2] if inside else None

    def resolve(self, lat: float, lon: float, *, private: bool = False) -> Address:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat) or math.isnan(lon):
            raise ValueError("not a position")
        place = self.named_place(lat, lon)
        if place is not None and place.street and place.postcode:
            return Address(place.street, place.number, place.postcode, place.city, place.country or "NL",
                           NAMED_PLACE, place.source, place.name)
        found = self.geocode(lat, lon, private=private)
        if place is not None:  # a named place without an address of its own: the geocoder's, named
            return found.with_name(place.name, place.source)
        return found

    def geocode(self, lat: float, lon: float, *, private: bool) -> Address:
        offline = self._cached_or(lat, lon, "geonames", private, self._geonames)
        if self.pdok_url and not private and (offline is None or offline.level != STREET):
            online = self._cached_or(lat, lon, "pdok", private, self._pdok)
            if online is not None and online.level == STREET:
                return online
        return offline if offline is not None else UNKNOWN

    # --- providers --------------------------------------------------------------------------

    def _geonames(self, lat: float, lon: float) -> Address | None:
        try:
            found = self._offline[(lat, lon)] if (lat, lon) in self._offline else geonames.nearest_place(lat, lon)
        except geonames.GeocoderUnavailable as exc:
            log.warning("offline geocoder unavailable: %s", exc)
            return None
        if found is None:
            return Address(None, None, None, None, None, "none", "geonames", None)
        # One Address per place, as prefetch makes one per cached answer: a report's new
        # positions lie in a few towns, and the report works out each answer's text once.
        key = (found.city, found.country_code)
        address = self._places.get(key)
        if address is None:
            address = self._places[key] = Address(None, None, None, found.city, found.country_code, PLACE,
                                                  "geonames", found.city)
        return address

    def _pdok(self, lat: float, lon: float) -> Address | None:
        try:
            found = pdok.reverse(self.pdok_url, lat, lon, self.pdok_timeout)
        except pdok.PdokError as exc:
            log.warning("PDOK reverse geocoding failed: %s", exc)  # never the position
            return None  # not cached: the next call tries again
        if found is None:
            return Address(None, None, None, None, "NL", "none", "pdok", None)
        return Address(found.street, found.number, found.postcode, found.place, "NL", STREET, "pdok",
                       found.display_name)

    # --- cache ------------------------------------------------------------------------------

    def _cached_or(self, lat, lon, provider, private, compute) -> Address | None:
        lat_e5, lon_e5 = round(lat * 100_000), round(lon * 100_000)  # cache_key, inline: per position
        if not private:
            key = (lat_e5, lon_e5, provider)
            cached = self._prefetched.get(key)
            if cached is not None or key in self._prefetched or (lat_e5, lon_e5) in self._looked_up:
                pass  # prefetched: a row, or a known miss (no query per position)
            else:
                entry = db.session.scalar(select(AddressCacheEntry).where(
                    AddressCacheEntry.lat_e5 == lat_e5, AddressCacheEntry.lon_e5 == lon_e5,
                    AddressCacheEntry.provider == provider))
                cached = _from_entry(entry) if entry is not None else None
            if cached is not None:
                return _usable(cached)
        address = compute(lat, lon)
        if address is None:
            return None
        if not private:
            # INSERT ... ON CONFLICT DO NOTHING: another worker may have cached the same position
            # first; no savepoint needed, and the caller's transaction is never spoilt.
            values = dict(lat_e5=lat_e5, lon_e5=lon_e5, provider=provider, level=address.level,
                          street=address.street, number=address.number, postcode=address.postcode,
                          place=address.place, country=address.country,
                          name=(address.name or "")[:300] or None)
            self._pending.append(values)  # resolved_at: when written (_write_pending), one clock read
            if not self._deferring:
                self._write_pending()
            self._prefetched[(lat_e5, lon_e5, provider)] = address
        return _usable(address)

    def prefetch(self, positions) -> None:
        """Load the cache rows of many positions in a few queries (a report's thousands)."""
        keyed = {(lat, lon): cache_key(lat, lon) for lat, lon in positions}  # each position's key, once
        keys = sorted(set(keyed.values()))
        if not keys:
            return
        entry = AddressCacheEntry
        # Plain columns, not ORM rows (a report reads thousands), in Address's order.
        columns = select(entry.lat_e5, entry.lon_e5, entry.provider, entry.street, entry.number, entry.postcode,
                         entry.place, entry.country, entry.level, entry.name)
        position = tuple_(entry.lat_e5, entry.lon_e5)
        if db.session.get_bind().dialect.name == "postgresql":
            # One statement of two array parameters, however many positions (an IN list of
            # hundreds of pairs was a statement to build and plan per 500 of them).
            from sqlalchemy import func
            lats, lons = ([key[i] for key in keys] for i in (0, 1))
            statements = [columns.where(position.in_(select(func.unnest(integer_array(lats)),
                                                           func.unnest(integer_array(lons)))))]
        else:
            statements = [columns.where(position.in_(keys[start:start + 500])) for start in range(0, len(keys), 500)]
        # One Address per distinct answer, not per row: a year's positions lie in a few towns.
        interned: dict[tuple, Address] = {}
        connection = db.session.connection()  # Core rows: the ORM's per-row work is not needed here
        for statement in statements:
            for lat_e5, lon_e5, provider, street, number, postcode, place, country, level, name in \
                    connection.execute(statement):
                fields = (street, number, postcode, place, country, level, provider, name)
                address = interned.get(fields)
                if address is None:
                    address = interned[fields] = Address(*fields)
                self._prefetched[(lat_e5, lon_e5, provider)] = address
        self._looked_up.update(keys)  # known misses: no query per position later
        # The offline geocoder's answers for the positions without a cache row, in one search
        # (one by one they cost more than the rest of a report); a named place may still win.
        prefetched = self._prefetched
        missing = [position for position, (lat_e5, lon_e5) in keyed.items()
                   if prefetched.get((lat_e5, lon_e5, "geonames")) is None]
        if missing:
            try:
                self._offline.update(zip(missing, geonames.nearest_places(missing)))
            except geonames.GeocoderUnavailable:
                pass  # _geonames says so, position by position

    def defer_writes(self) -> None:
        """Collect new cache rows instead of inserting each at once; write_pending() inserts
        them in bulk (a report resolving its year lazily, position by position)."""
        self._deferring = True

    def write_pending(self) -> None:
        self._deferring = False
        self._write_pending()

    def resolve_many(self, positions, *, private: bool = False) -> list[Address]:
        """resolve() for many positions: the cache is read in bulk first and new cache rows are
        written in bulk at the end."""
        positions = list(positions)
        if not private:
            self.prefetch(positions)
        self._deferring = True
        try:
            return [self.resolve(lat, lon, private=private) for lat, lon in positions]
        finally:
            self._deferring = False
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        if db.session.get_bind().dialect.name == "postgresql":
            # One statement with the rows as one JSON parameter, however many (an executemany
            # sent and the ORM prepared every row on its own, and the driver's array adapter
            # checked every element: a car's year brings thousands).
            db.session.execute(_INSERT_ROWS, {"rows": json.dumps(self._pending), "resolved_at": utcnow()})
            self._pending = []
            return
        statement = sqlite_insert(AddressCacheEntry).on_conflict_do_nothing(index_elements=["lat_e5", "lon_e5", "provider"])
        now = utcnow()
        for start in range(0, len(self._pending), 1000):
            db.session.execute(statement, [{**row, "resolved_at": now} for row in self._pending[start:start + 1000]])
        self._pending = []


_CACHE_COLUMNS = {"lat_e5": "integer", "lon_e5": "integer", "provider": "text", "level": "text",
                  "street": "text", "number": "text", "postcode": "text", "place": "text", "country": "text",
                  "name": "text"}
# The rows' one resolved_at is a parameter of its own: no timestamp to write and parse per row.
_INSERT_ROWS = text(
    f"INSERT INTO address_cache ({', '.join(_CACHE_COLUMNS)}, resolved_at) SELECT {', '.join(_CACHE_COLUMNS)}, "
    f"CAST(:resolved_at AS timestamptz) FROM "
    f"json_to_recordset(CAST(:rows AS json)) AS rows({', '.join(f'{k} {v}' for k, v in _CACHE_COLUMNS.items())}) "
    "ON CONFLICT (lat_e5, lon_e5, provider) DO NOTHING")


def _from_entry(entry: AddressCacheEntry) -> Address:
    return Address(entry.street, entry.number, entry.postcode, entry.place, entry.country, entry.level,
                   entry.provider, entry.name)


def _usable(address: Address) -> Address | None:
    """A provider's "found nothing" (level none) is cached but is no answer."""
    return None if address.level == "none" else address
