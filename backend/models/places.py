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

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow


class PlaceKind(str, Enum):
    HOME = "home"
    WORK = "work"
    OTHER = "other"
    CUSTOMER = "customer"  # a known place: trips ending there are proposed business (backend.trips.proposals)


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


class DriverWorkingHours(db.Model):
    """A driver's working days and hours: trips inside them are proposed business
    (backend.trips.proposals). A setting of the driver's own, like their places."""

    __tablename__ = "driver_working_hours"
    __table_args__ = (
        CheckConstraint("start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440",
                        name="hours_in_a_day"),
        CheckConstraint("length(weekdays) BETWEEN 1 AND 7", name="weekdays_given"),
    )

    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    weekdays: Mapped[str] = mapped_column(String(7))  # ISO weekdays as digits, Monday 1: "12345"
    start_minute: Mapped[int] = mapped_column(Integer)  # minutes after local midnight
    end_minute: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
