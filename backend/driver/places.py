"""A driver's named places (home, work, others): entered as lat/lon and a radius in metres,
stored as WKT points (backend/models/places.py). Only the driver manages their own places."""
from __future__ import annotations

from sqlalchemy import select
from shapely.geometry import Point

from backend.db import db
from backend.models.places import PLACE_KINDS, Place
from backend.trips.commute import Zone, zone_from_wkt

MIN_RADIUS_M, MAX_RADIUS_M = 10.0, 5000.0


def _l(msgid: str) -> str:
    return msgid


class PlaceError(Exception):
    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params


def places_of(driver_id: int) -> list[Place]:
    return list(db.session.scalars(select(Place).where(Place.driver_id == driver_id)
                                   .order_by(Place.kind, Place.name, Place.id)))


def add_place(driver_id: int, kind: str, name: str, lat: float, lon: float, radius_m: float) -> Place:
    name = (name or "").strip()
    if kind not in PLACE_KINDS:
        raise PlaceError(_l("Unknown kind of place."))
    if not name or len(name) > 200:
        raise PlaceError(_l("Give the place a name of at most 200 characters."))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PlaceError(_l("Latitude lies between -90 and 90, longitude between -180 and 180."))
    if not (MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M):
        raise PlaceError(_l("The radius lies between %(min)s and %(max)s metres."),
                         min=int(MIN_RADIUS_M), max=int(MAX_RADIUS_M))
    place = Place(driver_id=driver_id, kind=kind, name=name, geometry_wkt=Point(lon, lat).wkt,
                  radius_m=float(radius_m))
    db.session.add(place)
    db.session.commit()
    return place


def delete_place(driver_id: int, place_id: int) -> bool:
    """Remove one of the driver's own places (a setting, not a trip fact); False if not theirs."""
    place = db.session.get(Place, place_id)
    if place is None or place.driver_id != driver_id:
        return False
    db.session.delete(place)
    db.session.commit()
    return True


def zones_for(driver_id: int) -> list[Zone]:
    return [zone_from_wkt(p.kind, p.geometry_wkt, p.radius_m) for p in places_of(driver_id)]
