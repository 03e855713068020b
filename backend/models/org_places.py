"""The organisation's named places (offices, customers, depots) and the reverse-geocoding cache.

A named place is a point with a radius (metres) or, optionally, a polygon (WKT in lon/lat);
backend.addresses turns it into a shapely geometry. A position inside a named place resolves to
that place's name and address before any geocoder is asked.

Drivers' own home and work places live in backend/models/places.py (a colleague's module);
this table holds only the organisation's places, which are not personal data.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow


class OrgPlace(db.Model):
    __tablename__ = "org_places"
    __table_args__ = (
        CheckConstraint("kind IN ('office', 'customer', 'other')", name="kind_known"),
        CheckConstraint("radius_m > 0 AND radius_m <= 5000", name="radius_sane"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="position_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="office")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[int] = mapped_column(Integer, default=100)
    polygon_wkt: Mapped[str | None] = mapped_column(Text)  # lon/lat; wins over the radius when set
    street: Mapped[str | None] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(20))
    postcode: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="NL")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AddressCacheEntry(db.Model):
    """A geocoder's answer for a position rounded to 5 decimals (about a metre), per provider.

    Only positions the caller marked as not private are cached: a cache keyed by position would
    otherwise store private positions in plaintext.
    """

    __tablename__ = "address_cache"
    __table_args__ = (
        UniqueConstraint("lat_e5", "lon_e5", "provider", name="uq_address_cache_position_provider"),
        CheckConstraint("level IN ('street', 'place', 'none')", name="level_known"),
        Index("ix_address_cache_resolved_at", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lat_e5: Mapped[int] = mapped_column(Integer)  # round(lat * 100000)
    lon_e5: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(16))  # "geonames" or "pdok"
    level: Mapped[str] = mapped_column(String(16))  # "none": the provider found nothing
    street: Mapped[str | None] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(20))
    postcode: Mapped[str | None] = mapped_column(String(10))
    place: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    name: Mapped[str | None] = mapped_column(String(300))  # the provider's display name
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
