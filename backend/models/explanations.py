"""Explanations of unexplained km: a stretch of a car's odometer that no trip covers (driven
without the box, or with the box off), explained afterwards by the driver or finance with a reason
("garage, proefrit monteur"). Then its km count as explained instead of against the 500 km limit.

A stretch is named by its car and the device odometer (metres) at its two ends: the end of the
trip before it and the start of the trip after it, which never change (trips are immutable).
Append-only like trip revisions (triggers in migration 0022): a later explanation of the same
stretch supersedes the earlier one, which stays. Written only by backend/trips/stretches.py.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow


class KmExplanation(db.Model):
    __tablename__ = "km_explanations"
    __table_args__ = (
        CheckConstraint("author_role IN ('driver', 'finance')", name="author_role_known"),
        CheckConstraint("to_odometer_m >= from_odometer_m", name="stretch_forward"),
        Index("ix_km_explanations_stretch", "vehicle_id", "from_odometer_m", "to_odometer_m"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    from_odometer_m: Mapped[int] = mapped_column(Integer)
    to_odometer_m: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author_role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
