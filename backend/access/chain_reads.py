"""The door's read of the devices' hash chains for signed checkpoints (backend/checkpoints.py):
per device the seq and record hash of every stored trip, in order. No positions, no times, no
people: only what pins the chains.
"""
from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from backend.db import db
from backend.models.trips import DeviceChainHead, Trip


def chain_links(device_ids: list[str] | None = None) -> Iterator[tuple[str, int, str]]:
    """(device_id, seq, record_hash) of every stored trip, by device and seq."""
    statement = select(Trip.device_id, Trip.seq, Trip.record_hash).order_by(Trip.device_id, Trip.seq)
    if device_ids is not None:
        statement = statement.where(Trip.device_id.in_(device_ids))
    yield from db.session.execute(statement.execution_options(yield_per=5000))


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
