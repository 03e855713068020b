"""The door's read of the devices' hash chains for signed checkpoints (backend/checkpoints.py):
per device the seq and record hash of every stored trip, in order. No positions, no times, no
people: only what pins the chains.
"""
from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import bindparam, select, text

from backend.db import db
from backend.models.trips import ChainEvent, DeviceChainHead, Trip


def chain_links(device_ids: list[str] | None = None) -> Iterator[tuple[str, int, str]]:
    """(device_id, seq, record_hash) of every stored trip, by device and seq."""
    statement = select(Trip.device_id, Trip.seq, Trip.record_hash).order_by(Trip.device_id, Trip.seq)
    if device_ids is not None:
        statement = statement.where(Trip.device_id.in_(device_ids))
    # Core, not the ORM: a checkpoint walks every trip, and the ORM's per-row work cost more than
    # the comparison. The index ix_trips_device_seq_hash answers it without reading the rows.
    yield from db.session.connection().execute(statement.execution_options(yield_per=5000))


def chain_summaries(device_ids: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """device_id -> (seqs, hashes) of its stored trips: the seqs as decimal text and the record
    hashes, each joined by commas, both in the same order.

    The database concatenates, so a checkpoint comparison reads one row a device instead of one
    a trip (the per-row driver and Python work cost more than the comparison). The rows reach the
    aggregates in (device, seq) order: SQLite's GROUP BY walks the index on (device_id, seq,
    record_hash), PostgreSQL's gets them from an ordered subquery (an ORDER BY inside string_agg
    would sort every device again). Neither database promises that order to an aggregate, but
    both aggregates see the rows in the same order, so a caller that finds the seqs in the order
    it expects has the hashes in that order too."""
    where = "WHERE device_id IN :devices " if device_ids is not None else ""
    if db.session.get_bind().dialect.name == "postgresql":
        sql = (f"SELECT device_id, string_agg(seq::text, ','), string_agg(record_hash, ',') FROM (SELECT "
               f"device_id, seq, record_hash FROM trips {where}ORDER BY device_id, seq) AS links GROUP BY device_id")
    else:
        # CAST: SQLite would keep a seq written as text ('3,4') as it is.
        sql = (f"SELECT device_id, group_concat(CAST(seq AS INTEGER), ','), group_concat(record_hash, ',') "
               f"FROM trips {where}GROUP BY device_id")
    statement = text(sql)
    if device_ids is not None:
        statement = statement.bindparams(bindparam("devices", value=list(device_ids), expanding=True))
    return {device_id: (seqs, hashes) for device_id, seqs, hashes in db.session.execute(statement)}


def chain_heads(device_ids: list[str] | None = None) -> dict[str, tuple[int, str, int]]:
    """device_id -> (head seq, head hash, deleted_through_seq) as ingest and retention left them."""
    statement = select(DeviceChainHead.device_id, DeviceChainHead.head_seq, DeviceChainHead.head_hash,
                       DeviceChainHead.deleted_through_seq)
    if device_ids is not None:
        statement = statement.where(DeviceChainHead.device_id.in_(device_ids))
    return {device_id: (seq, hash_, deleted) for device_id, seq, hash_, deleted in db.session.execute(statement)}


def devices_of_vehicles(vehicle_ids: list[int]) -> list[str]:
    """Every device that recorded trips of these cars (a box moved between cars counts for each)."""
    return sorted(db.session.scalars(select(Trip.device_id).distinct().where(Trip.vehicle_id.in_(vehicle_ids))))


# --- the device's word (reads/device_word.py, `flask --app backend trips verify`) ---

RECORD_COLUMNS = ("id", "device_id", "seq", "device_trip_id", "prev_hash", "record_hash", "device_signature",
                  "body", "started_at", "ended_at", "odometer_start_km", "odometer_end_km", "distance_km",
                  "mode", "flags", "gaps", "start_lat", "start_lon", "end_lat", "end_lon", "start_sealed",
                  "end_sealed")


def stored_records(device_ids: list[str] | None = None, trip_ids: list[int] | None = None) -> Iterator:
    """Every stored trip with its kept body and signature and the columns read from that body,
    by device and seq (rows with the attributes of RECORD_COLUMNS)."""
    statement = select(*(getattr(Trip, name) for name in RECORD_COLUMNS)).order_by(Trip.device_id, Trip.seq)
    if device_ids is not None:
        statement = statement.where(Trip.device_id.in_(device_ids))
    if trip_ids is not None:
        statement = statement.where(Trip.id.in_(trip_ids))
    yield from db.session.execute(statement.execution_options(yield_per=2000))


def sealed_bodies(trip_ids: list[int]) -> dict[int, dict]:
    """trip id -> the sealed envelope of the body a reseal moved out of the trip row."""
    from backend.models.seals import TripReseal

    found: dict[int, dict] = {}
    for first in range(0, len(trip_ids), 500):
        found.update(db.session.execute(select(TripReseal.trip_id, TripReseal.body_sealed)
                                        .where(TripReseal.trip_id.in_(trip_ids[first:first + 500]))).all())
    return found


def declared_breaks(device_ids: list[str] | None = None) -> dict[str, list[tuple[int, int]]]:
    """device_id -> the (seq_from, seq_to) of every chain gap and break recorded at ingest."""
    statement = select(ChainEvent.device_id, ChainEvent.seq_from, ChainEvent.seq_to)
    if device_ids is not None:
        statement = statement.where(ChainEvent.device_id.in_(device_ids))
    found: dict[str, list[tuple[int, int]]] = {}
    for device_id, seq_from, seq_to in db.session.execute(statement):
        found.setdefault(device_id, []).append((seq_from, seq_to))
    return found
