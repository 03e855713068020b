"""Trips as immutable facts, their business tracks, and the events of each device's hash chain.

These tables are written only by ingest (backend/ingest/records.py) and read only through the
door (backend/access/door/). The database refuses UPDATE and DELETE on them (triggers in
migration 0002): what a device uploaded stays as it was. Everything a person changes later is a
revision in a table of its own.

Retention: the only deletion ever allowed is backend.access.retention (docs/retention.md).
Migration 0008 lets the triggers pass a DELETE (and, on trips, an UPDATE that only sets
start_sealed/end_sealed to NULL) while a retention_runs row is open in the same transaction;
an open run can never be committed, and each committed run leaves a final run row and audit
events. The triggers are never dropped.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow

GENESIS_HASH = "0" * 64


class TripMode(str, Enum):
    BUSINESS = "business"
    PRIVATE = "private"


class IngestFlag(str, Enum):
    """Flags the backend adds at ingest (the device's own flags are kept apart, in `flags`)."""

    NO_ASSIGNMENT = "no_assignment"  # no driver was assigned to the vehicle at started_at
    CHAIN_GAP = "chain_gap"  # trips before this one are missing
    CHAIN_BREAK = "chain_break"  # prev_hash does not match the stored previous record
    HASH_MISMATCH = "hash_mismatch"  # the hash sent does not match the body


class ChainEventKind(str, Enum):
    GAP = "chain_gap"
    BREAK = "chain_break"
    DEVICE = "device_event"  # the device's own event (power lost, receiver lost, private switch)


TRIP_TABLES = ("trips", "trip_tracks", "chain_events")


class Trip(db.Model):
    __tablename__ = "trips"
    __table_args__ = (
        UniqueConstraint("device_id", "device_trip_id", name="uq_trips_device_trip"),
        Index("ix_trips_device_seq", "device_id", "seq"),
        # Covers the chain walks of checkpoints (device, seq, record hash) without reading the rows.
        Index("ix_trips_device_seq_hash", "device_id", "seq", "record_hash"),
        Index("ix_trips_driver_started", "driver_id", "started_at"),
        Index("ix_trips_vehicle_started", "vehicle_id", "started_at"),
        # Finance's fleet-wide trip list pages newest first by (started_at, id) (keyset paging).
        Index("ix_trips_started_id", "started_at", "id"),
        # The classify reminders find the fleet's trips that ended within the window, oldest first.
        Index("ix_trips_ended_id", "ended_at", "id"),
        CheckConstraint("mode IN ('business', 'private')", name="mode_known"),
        # The database itself guarantees that no private position is ever stored in plaintext.
        CheckConstraint("mode = 'business' OR (start_lat IS NULL AND start_lon IS NULL "
                        "AND end_lat IS NULL AND end_lon IS NULL)", name="private_has_no_positions"),
        CheckConstraint("mode = 'private' OR (start_sealed IS NULL AND end_sealed IS NULL)",
                        name="business_has_no_seals"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    # The driver assigned to the vehicle at started_at; null (with flag no_assignment) if none.
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    device_trip_id: Mapped[str] = mapped_column(String(36))  # the record's trip_id (UUID)
    seq: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    odometer_start_km: Mapped[float] = mapped_column(Float)
    odometer_end_km: Mapped[float] = mapped_column(Float)
    distance_km: Mapped[float] = mapped_column(Float)
    # "obd": the odometer figures are the car's own (PID A6), distance_km the GPS km; "gps"
    odometer_source: Mapped[str] = mapped_column(String(8), default="gps", server_default="gps")
    mode: Mapped[str] = mapped_column(String(16))
    flags: Mapped[list[str]] = mapped_column(JSON)  # the device's flags, as sent
    ingest_flags: Mapped[list[str]] = mapped_column(JSON)  # IngestFlag values
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    start_lat: Mapped[float | None] = mapped_column(Float)
    start_lon: Mapped[float | None] = mapped_column(Float)
    end_lat: Mapped[float | None] = mapped_column(Float)
    end_lon: Mapped[float | None] = mapped_column(Float)
    # none_as_null: a missing seal is SQL NULL (the check constraints test IS NULL), not JSON null.
    start_sealed: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    end_sealed: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    record_hash: Mapped[str] = mapped_column(String(64))  # computed by the backend from `body`
    prev_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # the canonical JSON that was hashed
    # The device's own Ed25519 signature (base64) of "ritbox-record-v1\n" + record_hash, as sent
    # (None for a record sent without one): `trips verify` checks the stored body against it.
    device_signature: Mapped[str | None] = mapped_column(String(88))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<Trip {self.id}>"


class TripTrack(db.Model):
    """One point of a business trip's simplified track (a table apart, so access to tracks can
    be granted apart from access to trips)."""

    __tablename__ = "trip_tracks"
    __table_args__ = (
        # Retention finds the cars whose tracks are due by their first points' times: one entry a
        # trip, and a day with nothing due reads nothing (migration 0038).
        Index("ix_trip_tracks_first_at", "at", sqlite_where=text("idx = 0"), postgresql_where=text("idx = 0")),
    )

    trip_id: Mapped[int] = mapped_column(ForeignKey("trips.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)


class ChainEvent(db.Model):
    """A missing or broken link in a device's hash chain, or an event the device recorded itself
    (kind device_event: uploaded with the trips, no positions), kept visible for finance."""

    __tablename__ = "chain_events"
    __table_args__ = (
        CheckConstraint("kind IN ('chain_gap', 'chain_break', 'device_event')", name="kind_known"),
        Index("ix_chain_events_device_detected", "device_id", "detected_at"),
        Index("ix_chain_events_vehicle_detected", "vehicle_id", "detected_at"),  # the report's read
        Index("ix_chain_events_device_event", "device_id", "device_event_id", unique=True),
        Index("ix_chain_events_trip", "trip_id"),  # retention deletes a trip's events (migration 0038)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    kind: Mapped[str] = mapped_column(String(16))
    seq_from: Mapped[int | None] = mapped_column(Integer)  # None for a device event
    seq_to: Mapped[int | None] = mapped_column(Integer)
    # The trip that revealed the event (stored in the same batch), if any.
    trip_id: Mapped[int | None] = mapped_column(ForeignKey("trips.id"))
    detail: Mapped[str] = mapped_column(String(500))  # why, in plain words (no positions)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A device event: the device's id of it (unique per device), its kind (device/store.py), when
    # it happened (None: the device did not know) and its validated body (backend.api.schema).
    device_event_id: Mapped[int | None] = mapped_column(Integer)
    event_kind: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_body: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class DeviceChainHead(db.Model):
    """Ingest bookkeeping: the newest link of each device's hash chain the backend holds.

    One row per device, locked (SELECT ... FOR UPDATE) while a batch is ingested, so that two
    concurrent batches of one device are verified one after the other.
    """

    __tablename__ = "device_chain_heads"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    head_seq: Mapped[int] = mapped_column(Integer, default=0)
    head_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    # Retention deleted this device's records up to this seq (backend.access.retention): a record
    # at or below it that the backend does not hold was deleted (or was due with them) and is
    # not stored again when a device sends it once more; ingest answers it as a duplicate.
    deleted_through_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
