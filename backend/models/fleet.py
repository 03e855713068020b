"""The fleet: vehicles, which driver may use which vehicle when, and the devices in the cars.

A device is known to the backend only by its Ed25519 *public* key: nothing stored here can sign
an upload in a device's name. Enrollment tokens are stored as SHA-256 digests, never in clear.
"""
from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import UTCDateTime, db, utcnow
from backend.models.accounts import User


class DeviceStatus(str, Enum):
    PENDING = "pending"  # slot created, enrollment token issued, no key yet
    ACTIVE = "active"  # enrolled: its public key verifies its uploads
    RETIRED = "retired"  # taken out of service: uploads are refused


DEVICE_STATUS_VALUES = tuple(status.value for status in DeviceStatus)


class Vehicle(db.Model):
    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised: upper case, no dashes (e.g. "GBXJ12"); shown with the sidecode's dashes.
    kenteken: Mapped[str] = mapped_column(String(6), unique=True)
    make: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The last local day the car belonged to the fleet (sold, lease ended); null while in use.
    # The row stays: its trips are kept for years and must keep their vehicle.
    retired_on: Mapped[date | None] = mapped_column(Date)

    assignments: Mapped[list[Assignment]] = relationship(back_populates="vehicle")
    devices: Mapped[list[Device]] = relationship(back_populates="vehicle")

    @property
    def display_kenteken(self) -> str:
        from backend.fleet.kenteken import display
        return display(self.kenteken)

    def __repr__(self) -> str:
        return f"<Vehicle {self.id}>"


class Assignment(db.Model):
    """A driver may use a vehicle from available_from to available_until (inclusive, open when null).

    Dates are calendar dates in Europe/Amsterdam, as the tax rules count them.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint("available_until IS NULL OR available_until >= available_from",
                        name="period_ordered"),
        Index("ix_assignments_vehicle_from", "vehicle_id", "available_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    available_from: Mapped[date] = mapped_column(Date)
    available_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    driver: Mapped[User] = relationship(lazy="joined")
    vehicle: Mapped[Vehicle] = relationship(back_populates="assignments", lazy="joined")

    def covers(self, day: date) -> bool:
        return self.available_from <= day and (self.available_until is None or day <= self.available_until)


class Device(db.Model):
    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint("status IN ('" + "', '".join(DEVICE_STATUS_VALUES) + "')", name="status_known"),
        # An active device always has a key; a pending one never has one yet.
        CheckConstraint("status != 'active' OR public_key IS NOT NULL", name="active_has_key"),
    )

    # A random UUID: the device names itself by it in every upload (X-Ritbox-Device).
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DeviceStatus.PENDING.value)
    # Raw 32-byte Ed25519 public key as standard base64; never a private key.
    public_key: Mapped[str | None] = mapped_column(String(44))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    vehicle: Mapped[Vehicle] = relationship(back_populates="devices", lazy="joined")

    def __repr__(self) -> str:
        return f"<Device {self.id}>"


class EnrollmentToken(db.Model):
    """A one-time token that lets one device slot receive its public key."""

    __tablename__ = "enrollment_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiRequestSeen(db.Model):
    """Signed requests seen within the timestamp window, so an exact replay is refused.

    Rows older than the window are useless (the timestamp check refuses them anyway) and are
    purged as new requests come in.
    """

    __tablename__ = "api_requests_seen"
    __table_args__ = (
        UniqueConstraint("device_id", "timestamp", "body_sha256", name="uq_api_requests_seen_request"),
        Index("ix_api_requests_seen_seen_at", "seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    timestamp: Mapped[str] = mapped_column(String(40))  # the header text as signed
    body_sha256: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

