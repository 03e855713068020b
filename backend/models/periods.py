"""Closed periods: finance closes a month, for one vehicle or fleet-wide (vehicle_id None).

After a month is closed, drivers can no longer change its trips (only add notes); finance can
still correct them, with a mandatory reason that shows in the report. A closing is a fact: the
database refuses UPDATE and DELETE on this table (migration 0005), there is no reopening.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow


class PeriodClosing(db.Model):
    __tablename__ = "period_closings"
    __table_args__ = (
        Index("ix_period_closings_month", "month", "vehicle_id"),
        Index("ix_period_closings_vehicle_month", "vehicle_id", "month"),  # one car's closings
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)  # the month's first day
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))  # None: the whole fleet
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: from the CLI
    closed_via: Mapped[str] = mapped_column(String(16))  # "web" or "cli"
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
