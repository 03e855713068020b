"""The inspector package's reads (backend/access/inspector_package.py): the subject's trips of a
tax year, the device records around them as the devices signed them, and the devices' chain
events. The package is built only after the report's read was decided and audited by the door
(build_report raises AccessDenied first); these reads add the record chain that report stands on.

What is withheld keeps the door's rules: the body of a trip a person classified private after
recording (it holds what was sealed) and, in a driver's package, the bodies of other drivers'
trips between theirs. Such a record keeps its seq, hashes and the device's signature only, so
the chain still verifies.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from backend.db import db
from backend.local_time import utc_bounds
from backend.models.fleet import Device, Vehicle
from backend.models.seals import SEALED_BODY
from backend.models.trips import ChainEvent, DeviceChainHead, Trip


def inspector_scope(year: int, vehicle_id: int | None, driver_id: int | None) -> list[tuple[int, str, int]]:
    """(trip id, device id, seq) of the subject's trips that started in the tax year (local days)."""
    start, end = utc_bounds(date(year, 1, 1), date(year, 12, 31))
    statement = select(Trip.id, Trip.device_id, Trip.seq).where(Trip.started_at >= start, Trip.started_at < end)
    if vehicle_id is not None:
        statement = statement.where(Trip.vehicle_id == vehicle_id)
    else:
        statement = statement.where(Trip.driver_id == driver_id)
    return list(db.session.execute(statement.order_by(Trip.device_id, Trip.seq)))


def inspector_records(scope: list[tuple[int, str, int]]) -> tuple[list[dict], list[int], list[str]]:
    """Per device the records from its first to its last trip in scope (others withheld)."""
    in_scope = {trip_id for trip_id, _, _ in scope}
    ranges: dict[str, list[int]] = {}
    for _, device_id, seq in scope:
        low_high = ranges.setdefault(device_id, [seq, seq])
        low_high[0], low_high[1] = min(low_high[0], seq), max(low_high[1], seq)
    devices = []
    withheld_ids: list[int] = []
    for device_id, (low, high) in sorted(ranges.items()):
        device = db.session.get(Device, device_id)
        vehicle = db.session.get(Vehicle, device.vehicle_id)
        head = db.session.get(DeviceChainHead, device_id)
        records = []
        for row in db.session.execute(
                select(Trip.id, Trip.seq, Trip.device_trip_id, Trip.prev_hash, Trip.record_hash,
                       Trip.device_signature, Trip.body)
                .where(Trip.device_id == device_id, Trip.seq >= low, Trip.seq <= high).order_by(Trip.seq)):
            withheld = None
            if row.id not in in_scope:
                withheld = "other_driver"
            elif row.body == SEALED_BODY:
                withheld = "classified_private"
            if withheld:
                withheld_ids.append(row.id)
            records.append({"trip": row.id, "seq": row.seq, "trip_id": row.device_trip_id, "prev_hash": row.prev_hash,
                            "hash": row.record_hash, "signature": row.device_signature,
                            "body": None if withheld else row.body, "withheld": withheld})
        devices.append({"device_id": device_id, "public_key": device.public_key, "kenteken": vehicle.display_kenteken,
                        "deleted_through": head.deleted_through_seq if head else 0, "records": records})
    return devices, withheld_ids, sorted(ranges)


def vehicles_of_trips(trip_ids: list[int]) -> list[int]:
    """The vehicles these trips were driven in, sorted."""
    return sorted(set(db.session.scalars(select(func.distinct(Trip.vehicle_id)).where(Trip.id.in_(trip_ids)))))


def chain_events_of_devices(device_ids: list[str]) -> list[dict]:
    """The devices' chain events (no positions), by device, seq and id; detected_at a datetime."""
    rows = db.session.scalars(select(ChainEvent).where(ChainEvent.device_id.in_(device_ids))
                              .order_by(ChainEvent.device_id, ChainEvent.seq_from, ChainEvent.id))
    return [{"device_id": r.device_id, "kind": r.kind, "seq_from": r.seq_from, "seq_to": r.seq_to,
             "detail": r.detail, "detected_at": r.detected_at} for r in rows]
