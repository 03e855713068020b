"""The record of the reminders to classify trips before they lock: one row per driver and lock
day, so a rerun of the job (or a second worker) reminds nobody twice about the same day."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow


class ClassifyReminder(db.Model):
    __tablename__ = "classify_reminders"
    __table_args__ = (UniqueConstraint("driver_id", "lock_day", name="uq_classify_reminders_driver_lock_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The local (Europe/Amsterdam) day on which the trips' correction window ends.
    lock_day: Mapped[date] = mapped_column(Date)
    trips: Mapped[int] = mapped_column(Integer)  # how many trips were still unclassified
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
