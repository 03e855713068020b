"""A driver's named places (home, work, others), stored as WKT in lon/lat
(backend/models/places.py). A place is entered either as a centre (lat/lon) with a radius in
metres, or as an area: its corner points, one "lat, lon" per line, or a GeoJSON Polygon pasted
from a tool such as geojson.io. There is no map on purpose (the app works offline, without a
tile server), so the text is checked strictly and every problem is named. Only the driver
manages their own places."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from shapely.geometry import Point, Polygon
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity
from sqlalchemy import select

from backend.addresses.resolver import M_PER_DEG_LAT, M_PER_DEG_LON_EQUATOR
from backend.db import db
from backend.errors import N_, UserError
from backend.models.places import PLACE_KINDS, Place
from backend.trips.commute import Zone, zone_from_wkt

MIN_RADIUS_M, MAX_RADIUS_M = 10.0, 5000.0
# An area is for a building, a site or a car park: larger than a few km2 is almost certainly a
# typing error (a swapped or mistyped digit moves a corner kilometres), and a huge home or work
# area would propose trips as commute that are not. Smaller than a house plot is below what GPS
# can tell apart (positions are a few metres off).
MAX_AREA_KM2 = 5.0
MIN_AREA_M2 = 100.0
MAX_CORNERS = 200
MAX_AREA_TEXT = 20_000  # characters; a pasted GeoJSON of MAX_CORNERS corners fits easily


_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")




class Msgid(str):
    """A message parameter that is itself a msgid: the view translates it too."""


class PlaceError(UserError):
    """A place that cannot be saved (shape, size, overlap)."""

    def translated(self) -> str:
        from flask_babel import gettext

        params = {k: gettext(v) if isinstance(v, Msgid) else v for k, v in self.params.items()}
        return gettext(self.msgid, **params)


def places_of(driver_id: int) -> list[Place]:
    return list(db.session.scalars(select(Place).where(Place.driver_id == driver_id)
                                   .order_by(Place.kind, Place.name, Place.id)))


def _checked_kind_and_name(kind: str, name: str) -> str:
    name = (name or "").strip()
    if kind not in PLACE_KINDS:
        raise PlaceError(N_("Unknown kind of place."))
    if not name or len(name) > 200:
        raise PlaceError(N_("Give the place a name of at most 200 characters."))
    return name


def add_place(driver_id: int, kind: str, name: str, lat: float, lon: float, radius_m: float) -> Place:
    name = _checked_kind_and_name(kind, name)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PlaceError(N_("Latitude lies between -90 and 90, longitude between -180 and 180."))
    if not (MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M):
        raise PlaceError(N_("The radius lies between %(min)s and %(max)s metres."),
                         min=int(MIN_RADIUS_M), max=int(MAX_RADIUS_M))
    place = Place(driver_id=driver_id, kind=kind, name=name, geometry_wkt=Point(lon, lat).wkt,
                  radius_m=float(radius_m))
    db.session.add(place)
    db.session.commit()
    return place


def add_area(driver_id: int, kind: str, name: str, text: str) -> Place:
    """Store an area given as corner lines or GeoJSON (see parse_area); nothing is stored when
    any check fails."""
    name = _checked_kind_and_name(kind, name)
    polygon = parse_area(text)
    place = Place(driver_id=driver_id, kind=kind, name=name, geometry_wkt=polygon.wkt, radius_m=None)
    db.session.add(place)
    db.session.commit()
    return place


# --- reading an area ----------------------------------------------------------------------------

def _number(text: str) -> float | None:
    """A plain decimal number, with a decimal point or comma; not 1e3, nan, inf or 1_000 (which
    float() would take, and which no one types for a coordinate on purpose)."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    return float(text.replace(",", "."))


def _split_line(line: str) -> list[str] | None:
    """Latitude and longitude of one corner line, or None when it cannot be told apart.

    Accepted: "52.0907, 5.1214", "52.0907,5.1214", "52.0907 5.1214", "52.0907; 5.1214" and,
    with decimal commas, "52,0907; 5,1214", "52,0907 5,1214" and "52,0907, 5,1214" (a comma
    followed by a space separates; a comma between digits is a decimal comma). "52,0907,5,1214"
    and "52,5" are ambiguous and refused."""
    if ";" in line:
        return line.split(";")
    if re.search(r"\s", line):
        return re.split(r"\s*,\s+|\s+", line)
    if "." in line:  # no space: a comma can only be the separator when the decimals use points
        return line.split(",")
    return None


def _corners_from_lines(text: str) -> list[tuple[float, float]]:
    corners = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = _split_line(line)
        if parts is None:
            raise PlaceError(N_("Line %(line)s: cannot tell latitude from longitude; put a semicolon or a space "
                                "between them, e.g. 52,0907; 5,1214."), line=number)
        values = [_number(part) for part in parts]
        if len(values) != 2 or None in values:
            raise PlaceError(N_("Line %(line)s: give one corner as two numbers, latitude first, "
                                "e.g. 52.0907, 5.1214."), line=number)
        lat, lon = values
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise PlaceError(N_("Line %(line)s: latitude lies between -90 and 90, longitude between -180 and 180."),
                             line=number)
        corners.append((lat, lon))
    return corners


def _refuse_constant(name: str) -> float:
    raise ValueError(name)  # NaN, Infinity: json.loads would accept them


def _corners_from_geojson(text: str) -> list[tuple[float, float]]:
    """The outline of a GeoJSON Polygon, a Feature with one, or a FeatureCollection of exactly
    one such Feature (what geojson.io exports). Coordinates are [longitude, latitude]."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        raise PlaceError(N_("The pasted GeoJSON cannot be read; copy it again in full.")) from None
    not_a_polygon = PlaceError(N_("Paste one GeoJSON Polygon (an area without holes), or a Feature(Collection) "
                                  "with exactly one."))
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list) or len(features) != 1:
            raise not_a_polygon
        data = features[0]
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    if not isinstance(data, dict) or data.get("type") != "Polygon":
        raise not_a_polygon
    rings = data.get("coordinates")
    if not isinstance(rings, list) or len(rings) != 1 or not isinstance(rings[0], list):
        raise not_a_polygon  # holes (more rings) make no sense for a home or work place
    corners = []
    for number, position in enumerate(rings[0], start=1):
        if (not isinstance(position, list) or len(position) < 2
                or not all(type(v) in (int, float) for v in position[:2])):
            raise not_a_polygon
        lon, lat = float(position[0]), float(position[1])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise PlaceError(N_("Corner %(n)s of the GeoJSON: latitude lies between -90 and 90, longitude "
                                "between -180 and 180 (GeoJSON gives longitude first)."), n=number)
        corners.append((lat, lon))
    return corners


def local_plane(polygon: Polygon) -> Polygon:
    """The polygon in metres on a plane centred on it (equirectangular, as the address lookup's
    areas: exact to well under a percent over a few km)."""
    centre = polygon.centroid
    kx = M_PER_DEG_LON_EQUATOR * math.cos(math.radians(centre.y))
    return Polygon([((x - centre.x) * kx, (y - centre.y) * M_PER_DEG_LAT) for x, y in polygon.exterior.coords])


_VALIDITY_REASONS = {
    "Self-intersection": Msgid(N_("edges cross")),
    "Ring Self-intersection": Msgid(N_("the outline touches itself")),
    "Too few points in geometry component": Msgid(N_("too few corners")),
}


def parse_area(text: str) -> Polygon:
    """A valid polygon in lon/lat (counter-clockwise) from corner lines or GeoJSON; PlaceError
    names the first problem."""
    text = (text or "").strip()
    if len(text) > MAX_AREA_TEXT:
        raise PlaceError(N_("The area text is too long (at most %(max)s characters)."), max=MAX_AREA_TEXT)
    corners = _corners_from_geojson(text) if text.startswith("{") else _corners_from_lines(text)
    # Closed automatically: a last corner equal to the first is the closing one, and a corner
    # typed twice in a row is one corner.
    unique = [c for i, c in enumerate(corners) if i == 0 or c != corners[i - 1]]
    if len(unique) > 1 and unique[0] == unique[-1]:
        unique.pop()
    if len(set(unique)) < 3:
        raise PlaceError(N_("An area needs at least 3 different corners; %(n)s given."), n=len(set(unique)))
    if len(unique) > MAX_CORNERS:
        raise PlaceError(N_("An area has at most %(max)s corners; %(n)s given."), max=MAX_CORNERS, n=len(unique))
    polygon = Polygon([(lon, lat) for lat, lon in unique])
    # Corners (nearly) on one line: their hull has no area to speak of. The hull, as a bow tie's
    # own area is 0 too (its signed halves cancel) and it must get the "edges cross" message.
    hull = polygon.convex_hull
    if hull.geom_type != "Polygon" or local_plane(hull).area < 1.0:
        raise PlaceError(N_("The corners lie on one line; an area needs corners around it."))
    if not polygon.is_valid:
        reason = explain_validity(polygon)
        found = re.fullmatch(r"(.*?)\s*\[(\S+) (\S+)\]", reason)
        label, where = (found.group(1), (float(found.group(3)), float(found.group(2)))) if found else (reason, None)
        if where is None:
            raise PlaceError(N_("The corners do not form a valid area (%(reason)s). List the corners in order "
                                "around the area."), reason=_VALIDITY_REASONS.get(label, label))
        raise PlaceError(N_("The corners do not form a valid area: %(reason)s near %(lat)s, %(lon)s. List the "
                            "corners in order around the area, so that no edges cross."),
                         reason=_VALIDITY_REASONS.get(label, label), lat=f"{where[0]:.5f}", lon=f"{where[1]:.5f}")
    area_m2 = local_plane(polygon).area
    if area_m2 > MAX_AREA_KM2 * 1_000_000:
        raise PlaceError(N_("The area is about %(size)s ha, larger than the %(max)s ha (%(km2)s km²) an area may "
                            "be. Check the corners, or draw the area around the building or site only."),
                         size=round(area_m2 / 10_000), max=round(MAX_AREA_KM2 * 100), km2=f"{MAX_AREA_KM2:g}")
    if area_m2 < MIN_AREA_M2:
        raise PlaceError(N_("The area is only about %(size)s m²; an area is at least %(min)s m², as GPS "
                            "positions are a few metres off."), size=round(area_m2), min=round(MIN_AREA_M2))
    return orient(polygon, 1.0)


# --- showing a place ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    """What the places list says about a place's geometry."""

    is_area: bool
    lat: float  # the centre, or an area's centroid
    lon: float
    radius_m: float | None = None
    corners: int | None = None
    area_m2: float | None = None


def shape_of(place: Place) -> Shape:
    geometry = place.geometry()
    if geometry.geom_type == "Point":
        return Shape(False, geometry.y, geometry.x, radius_m=place.radius_m)
    centre = geometry.centroid
    outline = geometry.exterior if geometry.geom_type == "Polygon" else geometry.convex_hull.exterior
    return Shape(True, centre.y, centre.x, corners=len(outline.coords) - 1,
                 area_m2=local_plane(Polygon(outline)).area)


def delete_place(driver_id: int, place_id: int) -> bool:
    """Remove one of the driver's own places (a setting, not a trip fact); False if not theirs."""
    place = db.session.get(Place, place_id)
    if place is None or place.driver_id != driver_id:
        return False
    db.session.delete(place)
    db.session.commit()
    return True


def zones_for(driver_id: int) -> list[Zone]:
    return [zone_from_wkt(p.kind, p.geometry_wkt, p.radius_m, p.name) for p in places_of(driver_id)]
