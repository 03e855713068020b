"""Named places: a driver's home and work (and others), as shapely geometries in text form.

A place is either a point with a radius in metres, or a polygon; the geometry is stored as WKT
with x = longitude, y = latitude (WGS84). driver_id None is an organisation place (an office,
a customer) that the address resolver may use for everyone.

A driver's home is personal data: only the driver manages it (backend/driver/), and commute
proposals (backend/trips/commute.py) and address resolution use it.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow


class PlaceKind(str, Enum):
    HOME = "home"
    WORK = "work"
    OTHER = "other"


PLACE_KINDS = tuple(k.value for k in PlaceKind)


class Place(db.Model):
    __tablename__ = "places"
    __table_args__ = (
        CheckConstraint("kind IN ('" + "', '".join(PLACE_KINDS) + "')", name="kind_known"),
        CheckConstraint("radius_m IS NULL OR radius_m > 0", name="radius_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    geometry_wkt: Mapped[str] = mapped_column(Text)  # POINT (lon lat) or POLYGON ((lon lat, ...))
    radius_m: Mapped[float | None] = mapped_column(Float)  # for points; None for polygons
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def geometry(self):
        from shapely import wkt
        return wkt.loads(self.geometry_wkt)
