"""Odometer calibrations (dashboard readings) and the corrections (correctieritten) they book.

The legal norm for distance is the car's own odometer, not GPS. A calibration records the
dashboard reading at a moment; the difference between the dashboard km driven since the previous
calibration and the GPS km of the trips in between is booked as corrections, one row per trip,
spread in proportion to each trip's GPS distance. The trips themselves are never changed: the GPS
figures stay as the device uploaded them, and a report shows both.

All distances here are whole metres, so a spread sums exactly to its correction.
Calibrations and corrections are facts: the database refuses UPDATE and DELETE on them
(triggers in migration 0005). A wrong reading is answered by a later one, never by editing.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import UTCDateTime, db, utcnow
from backend.models.accounts import User
from backend.models.fleet import Vehicle


class OdometerCalibration(db.Model):
    __tablename__ = "odometer_calibrations"
    __table_args__ = (
        UniqueConstraint("vehicle_id", "read_at", name="uq_odometer_calibrations_vehicle_read_at"),
        Index("ix_odometer_calibrations_vehicle_read_at", "vehicle_id", "read_at"),
        CheckConstraint("dashboard_m >= 0", name="dashboard_not_negative"),
        CheckConstraint("recorded_as IN ('finance', 'driver', 'cli')", name="recorded_as_known"),
        # The first calibration of a car only establishes the offset; every later one books.
        CheckConstraint("(previous_id IS NULL) = (correction_m IS NULL)", name="first_books_nothing"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("odometer_calibrations.id"), unique=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the dashboard showed it
    dashboard_m: Mapped[int] = mapped_column(BigInteger)  # the dashboard reading, metres
    # The GPS-based odometer at read_at: the end odometer of the last trip that ended by then
    # (None when the car has no trip yet). Kept for display: the original figure.
    gps_odometer_m: Mapped[int | None] = mapped_column(BigInteger)
    offset_m: Mapped[int | None] = mapped_column(BigInteger)  # dashboard_m - gps_odometer_m
    # Since the previous calibration: km on the dashboard, km the GPS trips cover, and the
    # difference (dashboard - GPS) that the correction rows spread. Null for the first.
    dashboard_delta_m: Mapped[int | None] = mapped_column(BigInteger)
    gps_delta_m: Mapped[int | None] = mapped_column(BigInteger)
    correction_m: Mapped[int | None] = mapped_column(BigInteger)
    trips_spread: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the reading lay beyond the plausibility bound and someone booked it anyway
    # (backend.odometer.service.is_implausible): their reason, shown with it in every report.
    confirm_reason: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the CLI
    recorded_as: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A photo of the dashboard, relative to the instance folder (never a URL, never outside it).
    photo_path: Mapped[str | None] = mapped_column(String(200))
    photo_sha256: Mapped[str | None] = mapped_column(String(64))
    photo_type: Mapped[str | None] = mapped_column(String(32))
    # "dashboard": read by a person; "obd": the car's own odometer, uploaded with its trips
    # (backend.odometer.obd), no photo
    source: Mapped[str] = mapped_column(String(16), default="dashboard", server_default="dashboard")

    vehicle: Mapped[Vehicle] = relationship(lazy="joined")
    recorded_by: Mapped[User | None] = relationship(lazy="joined")
    corrections: Mapped[list[OdometerCorrection]] = relationship(
        back_populates="calibration", lazy="selectin", order_by="OdometerCorrection.id")

    @property
    def dashboard_km(self) -> float:
        return self.dashboard_m / 1000

    @property
    def is_first(self) -> bool:
        return self.previous_id is None


class OdometerCorrection(db.Model):
    """One trip's share of a calibration's correction (a correctierit), or, when no trip was
    driven since the previous calibration, the whole correction on its own (trip_id None)."""

    __tablename__ = "odometer_corrections"
    __table_args__ = (
        UniqueConstraint("calibration_id", "trip_id", name="uq_odometer_corrections_calibration_trip"),
        Index("ix_odometer_corrections_trip", "trip_id"),
        Index("ix_odometer_corrections_vehicle", "vehicle_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    calibration_id: Mapped[int] = mapped_column(ForeignKey("odometer_calibrations.id"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    trip_id: Mapped[int | None] = mapped_column(ForeignKey("trips.id"))
    gps_distance_m: Mapped[int] = mapped_column(BigInteger)  # the trip's own GPS distance
    correction_m: Mapped[int] = mapped_column(BigInteger)  # its share (may be negative)

    calibration: Mapped[OdometerCalibration] = relationship(back_populates="corrections")


class OdometerReminder(db.Model):
    """A note that a car's calibration is due, for one finance user or the car's driver.

    One row per (user, car, last calibration): the job records it once, not every run. It is
    resolved when the car gets a new calibration.
    """

    __tablename__ = "odometer_reminders"
    __table_args__ = (
        UniqueConstraint("user_id", "due_key", name="uq_odometer_reminders_user_due_key"),
        Index("ix_odometer_reminders_user_open", "user_id", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    last_calibration_id: Mapped[int | None] = mapped_column(ForeignKey("odometer_calibrations.id"))
    # "<vehicle_id>:<last calibration id or 'none'>": unique per user even when there is none yet.
    due_key: Mapped[str] = mapped_column(String(40))
    due_since: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    vehicle: Mapped[Vehicle] = relationship(lazy="joined")
