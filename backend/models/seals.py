"""What follows a driver's word about a trip's character after ingest (docs/access.md,
"Private follows the trip's effective character").

- TripReseal: a trip recorded in business mode that a person later classified private. Its clear
  start/end positions, track and record body are replaced by envelopes sealed to the backend's
  key (docs/sealed-box.md) in the same transaction as the classification; the trip row keeps
  NULL positions and a placeholder body, its track rows are deleted. The trip-table triggers
  allow exactly that change, and only for a trip with a row here that names a classification
  revision to private of the same trip (migration 0016).
- TripDisclosure: the driver's explicit act of opening a sealed trip's positions for the tax
  report, once the trip's current classification is not private. It counts only for the
  classification revision it names: a later reclassification needs a new act.

Both tables are append-only (triggers); retention deletes their rows with their trips.
Written only by backend/access/door/seals.py.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow

# What a sealed trip row keeps in `body` (the trigger of migration 0016 allows only this text).
SEALED_BODY = '{"sealed":"trip_reseals"}'


class TripReseal(db.Model):
    __tablename__ = "trip_reseals"

    trip_id: Mapped[int] = mapped_column(ForeignKey("trips.id"), primary_key=True, autoincrement=False)
    # The classification revision (to private) that sealed the trip.
    revision_id: Mapped[int] = mapped_column(ForeignKey("trip_revisions.id"))
    start_sealed: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    end_sealed: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # The track as sealed JSON [[at, lat, lon], ...] and the record body the device hashed.
    track_sealed: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    body_sealed: Mapped[dict[str, Any]] = mapped_column(JSON)
    track_points: Mapped[int] = mapped_column(Integer)
    sealed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TripDisclosure(db.Model):
    __tablename__ = "trip_disclosures"
    __table_args__ = (Index("ix_trip_disclosures_trip", "trip_id", "revision_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trip_id: Mapped[int] = mapped_column(ForeignKey("trips.id"))
    # The classification revision (not private) the driver opened the positions under.
    revision_id: Mapped[int] = mapped_column(ForeignKey("trip_revisions.id"))
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
