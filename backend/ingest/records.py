"""Store a validated batch of trip records from one device, once and forever.

One transaction per batch (the caller commits). Idempotent on (device, trip_id): a record the
backend holds already is counted as a duplicate, and so is one that retention deleted; the same
trip_id with another body is a TripIdConflict (the caller refuses the batch). Each new record's
link in the device's hash chain is checked (backend.ingest.chain); a missing or broken link is
stored as a chain event and flags the trip, which is stored all the same: a trip is never
silently dropped.

Reads of the trip tables here are ingest bookkeeping only (which trip ids exist and their hashes,
the hashes of neighbouring records); trip contents are read elsewhere only through the door (backend.access.door).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update

from backend import audit
from backend.db import db, utcnow
from backend.local_time import LOCAL
from backend.models.fleet import Assignment, Device, Vehicle
from backend.models.trips import ChainEvent, ChainEventKind, DeviceChainHead, IngestFlag, Trip, TripTrack
from backend.ingest import chain

# audit kind: a trip id sent again with another body
TRIP_ID_CONFLICT = audit.kind("trip_id_conflict", _l("Trip sent again with other content (refused)"))


class TripIdConflict(Exception):
    """A record whose trip_id the backend holds (or the batch carries) with another body. Never a
    duplicate: the device's store or its sender is wrong, and a person must look."""

    def __init__(self, index: int, record: dict[str, Any]) -> None:
        super().__init__(f"trip {record['trip_id']} (seq {record['seq']}) was received before with another body")
        self.index, self.trip_id, self.seq = index, record["trip_id"], record["seq"]


@dataclass(frozen=True)
class IngestResult:
    stored: int
    duplicates: int
    highest_seq: int
    chain_events: int
    device_events: int = 0
    # (trip id, driver id, vehicle id, local day, km that are not business: recorded in private
    # mode, or driven without the device right before the trip) for backend.fleet.tax_notices.
    not_business: tuple = ()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


def _hash_of(record: dict[str, Any]) -> str:
    """The hash the backend stores for a record (recomputed: the `hash` member may be absent)."""
    return chain.record_hash(record["prev_hash"], chain.canonical_json(chain.body_of(record)))


def lock_chain_head(device: Device) -> DeviceChainHead:
    """The device's chain head row, locked for this transaction (created on first upload)."""
    head = db.session.scalar(select(DeviceChainHead).where(DeviceChainHead.device_id == device.id)
                             .with_for_update())
    if head is None:
        head = DeviceChainHead(device_id=device.id, head_seq=0, head_hash=chain.GENESIS_HASH)
        db.session.add(head)
        db.session.flush()
    return head


def _driver_for(assignments: list[Assignment], started_at: datetime) -> int | None:
    day: date = started_at.astimezone(LOCAL).date()
    for assignment in assignments:
        if assignment.covers(day):
            return assignment.driver_id
    return None


def _late_neighbours(device_id: str, seq: int, batch_by_seq: dict[int, str]) -> tuple[str | None, str | None, bool]:
    """For a record at or below the head: stored hash of seq-1, stored prev_hash of seq+1, and
    whether seq is taken. Rare (only when filling a gap), so one query per record is fine."""
    rows = db.session.execute(
        select(Trip.seq, Trip.record_hash, Trip.prev_hash)
        .where(Trip.device_id == device_id, Trip.seq.in_((seq - 1, seq, seq + 1)))).all()
    before = batch_by_seq.get(seq - 1)
    after_prev = None
    taken = False
    for row_seq, row_hash, row_prev in rows:
        if row_seq == seq - 1 and before is None:
            before = row_hash
        elif row_seq == seq:
            taken = True
        elif row_seq == seq + 1 and after_prev is None:
            after_prev = row_prev
    return before, after_prev, taken


def _store_device_events(device: Device, events: list[dict[str, Any]], now: datetime) -> int:
    """The device's own events (validated: backend.api.schema.validate_events) as chain events of
    kind device_event, each once: an event the backend holds already is skipped."""
    if not events:
        return 0
    held = set(db.session.scalars(select(ChainEvent.device_event_id).where(
        ChainEvent.device_id == device.id, ChainEvent.device_event_id.in_([e["id"] for e in events]))))
    rows = [{"device_id": device.id, "vehicle_id": device.vehicle_id, "kind": ChainEventKind.DEVICE.value,
             "seq_from": None, "seq_to": None, "trip_id": None, "detail": "", "detected_at": now,
             "device_event_id": e["id"], "event_kind": e["kind"],
             "occurred_at": _utc(e["at"]) if e["at"] else None, "event_body": e["body"]}
            for e in events if e["id"] not in held]
    if rows:
        db.session.execute(insert(ChainEvent.__table__), rows)
    return len(rows)


def ingest(device: Device, records: list[dict[str, Any]],
           device_events_sent: list[dict[str, Any]] = ()) -> IngestResult:
    """Add a batch of validated records (backend.api.schema) of one device, and the device's own
    events sent with them, to the session."""
    head_row = lock_chain_head(device)
    head = chain.ChainHead(head_row.head_seq, head_row.head_hash)

    trip_ids = {record["trip_id"] for record in records}
    # The stored hash of each known trip id: it covers prev_hash and body, so a record sent again
    # is a duplicate only if it is the same record.
    known: dict[str, str] = dict(db.session.execute(select(Trip.device_trip_id, Trip.record_hash).where(
        Trip.device_id == device.id, Trip.device_trip_id.in_(trip_ids))).all())
    # A share lock on the car: a change of its assignments (backend.fleet.service, which locks the
    # car for update and then checks that no stored trip falls outside the new period) waits for
    # this batch to commit, and this batch waits for such a change - so no trip is attributed by
    # an assignment that a concurrent change is cutting short. Uploads of one car share it.
    db.session.execute(select(Vehicle.id).where(Vehicle.id == device.vehicle_id).with_for_update(read=True))
    assignments = list(db.session.scalars(select(Assignment).where(Assignment.vehicle_id == device.vehicle_id)))

    duplicates = 0
    fresh: list[dict[str, Any]] = []
    # Records retention deleted (at or below this seq) stay deleted: a device sending one again
    # learns it may prune it, and nothing is stored (backend.access.retention).
    deleted_through = head_row.deleted_through_seq
    in_batch: dict[str, dict[str, Any]] = {}
    for index, record in sorted(enumerate(records), key=lambda pair: pair[1]["seq"]):
        trip_id = record["trip_id"]
        if trip_id in known or trip_id in in_batch:
            held = known[trip_id] if trip_id in known else _hash_of(in_batch[trip_id])
            if _hash_of(record) != held:
                raise TripIdConflict(index, record)
            duplicates += 1
            continue
        if record["seq"] <= deleted_through:
            duplicates += 1
            continue
        in_batch[trip_id] = record
        fresh.append(record)

    now = utcnow()
    trip_rows: list[dict[str, Any]] = []
    links: list[chain.Link] = []
    batch_hashes: dict[int, str] = {}
    for record in fresh:
        if record["seq"] > head.seq:
            link = chain.link_next(head, record)
        else:
            before, after_prev, taken = _late_neighbours(device.id, record["seq"], batch_hashes)
            link = chain.link_late(record, before, after_prev, taken)
        batch_hashes[record["seq"]] = link.hash
        links.append(link)
        started_at = _utc(record["started_at"])
        driver_id = _driver_for(assignments, started_at)
        ingest_flags = list(dict.fromkeys(link.flags))
        if driver_id is None:
            ingest_flags.append(IngestFlag.NO_ASSIGNMENT.value)
        business = record["mode"] == "business"
        start, end = record["start"] or (None, None), record["end"] or (None, None)
        trip_rows.append({
            "device_id": device.id, "vehicle_id": device.vehicle_id, "driver_id": driver_id,
            "device_trip_id": record["trip_id"], "seq": record["seq"],
            "started_at": started_at, "ended_at": _utc(record["ended_at"]),
            "odometer_start_km": float(record["odometer_start_km"]),
            "odometer_end_km": float(record["odometer_end_km"]),
            "distance_km": float(record["distance_km"]), "mode": record["mode"],
            "odometer_source": record.get("odometer_source", "gps"),
            "flags": record["flags"], "ingest_flags": sorted(ingest_flags), "gaps": record["gaps"],
            "start_lat": start[0] if business else None, "start_lon": start[1] if business else None,
            "end_lat": end[0] if business else None, "end_lon": end[1] if business else None,
            "start_sealed": None if business else record["start_sealed"],
            "end_sealed": None if business else record["end_sealed"],
            "record_hash": link.hash, "prev_hash": record["prev_hash"], "body": link.canonical,
            "device_signature": record.get("signature"),
            "received_at": now,
        })

    events = 0
    if trip_rows:
        # Core inserts on the tables (not the ORM bulk path): this runs for every upload.
        trips_table = Trip.__table__
        ids = list(db.session.execute(
            insert(trips_table).returning(trips_table.c.id, sort_by_parameter_order=True), trip_rows).scalars())
        track_rows = []
        event_rows = []
        for trip_id, record, link in zip(ids, fresh, links):
            for idx, (at, lat, lon) in enumerate(record["track"]):
                track_rows.append({"trip_id": trip_id, "idx": idx, "at": _utc(at), "lat": lat, "lon": lon})
            for kind, seq_from, seq_to, detail in link.events:
                event_rows.append({"device_id": device.id, "vehicle_id": device.vehicle_id, "kind": kind,
                                   "seq_from": seq_from, "seq_to": seq_to, "trip_id": trip_id,
                                   "detail": detail[:500], "detected_at": now})
        if track_rows:
            db.session.execute(insert(TripTrack.__table__), track_rows)
        if event_rows:
            db.session.execute(insert(ChainEvent.__table__), event_rows)
        events = len(event_rows)
        if head.seq != head_row.head_seq:
            db.session.execute(update(DeviceChainHead).where(DeviceChainHead.device_id == device.id)
                               .values(head_seq=head.seq, head_hash=head.hash, updated_at=now))
    device_events = _store_device_events(device, list(device_events_sent), now)
    # Every seq up to the head is stored or recorded as a chain_gap event: the device may prune it.
    return IngestResult(stored=len(trip_rows), duplicates=duplicates, highest_seq=head.seq, chain_events=events,
                        device_events=device_events,
                        not_business=_not_business(ids, trip_rows) if trip_rows else ())


def _not_business(ids: list[int], rows: list[dict[str, Any]]) -> tuple:
    """Per stored trip, the km that are not business as far as the batch shows: a private-mode
    trip's km, plus odometer km between the previous record of the batch and this one."""

    out, previous = [], {}
    for trip_id, row in sorted(zip(ids, rows), key=lambda pair: pair[1]["seq"]):
        km = row["odometer_end_km"] - row["odometer_start_km"] if row["mode"] != "business" else 0.0
        before = previous.get(row["seq"] - 1)
        if before is not None and row["odometer_start_km"] - before > 0.05:
            km += row["odometer_start_km"] - before
        previous[row["seq"]] = row["odometer_end_km"]
        out.append((trip_id, row["driver_id"], row["vehicle_id"], row["started_at"].astimezone(LOCAL).date(),
                    round(km, 3)))
    return tuple(out)
