"""The door's general reads: trips of a driver or a vehicle, one trip, its track, the tax
report's rows with their gap lists, a vehicle's chain events, and the actor's usable grants."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Integer, func, select, text

from backend import audit
from backend.access.door import character
from backend.access.door.decide import Period, decide, deny, tax_report_access
from backend.access.door.envelopes import open_envelope
from backend.access.door.query import local_day, narrow, query_trips, utc_period_bounds
from backend.access.door.views import (ChainEventView, Subject, TrackPoint, TripView, audit_read,
                                       trip_views)
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TAX, TRIP_SUMMARIES
from backend.db import UTCDateTime, db, utcnow
from backend.models.access import Grant
from backend.models.accounts import User
from backend.models.seals import TripReseal
from backend.models.trips import ChainEvent, ChainEventKind, Trip, TripMode, TripTrack

def trips_for_driver(actor: User, driver_id: int, period: Period | None = None,
                     purpose: str = TAX) -> list[TripView]:
    """The trips of one driver (ordered by start). period None: everything the access allows."""
    access = decide(actor, purpose, TRIP_SUMMARIES, driver_id=driver_id, period=period)
    rows = query_trips(access, driver_id=driver_id, period=period)
    return trip_views(actor, access, rows, what="trips")


def trips_for_vehicle(actor: User, vehicle_id: int, period: Period | None = None,
                      purpose: str = TAX) -> list[TripView]:
    """The trips of one vehicle, whoever drove (finance, or a grant on the vehicle)."""
    access = decide(actor, purpose, TRIP_SUMMARIES, vehicle_id=vehicle_id, period=period)
    rows = query_trips(access, vehicle_id=vehicle_id, period=period)
    return trip_views(actor, access, rows, what="trips")


def trip(actor: User, trip_id: int, purpose: str = TAX) -> TripView:
    """One trip; AccessDenied also when it does not exist (no probing for ids)."""
    row = db.session.get(Trip, trip_id)
    if row is None:
        deny(actor, purpose, None, None, "no such trip", trip_id=trip_id)
    access = decide(actor, purpose, TRIP_SUMMARIES, driver_id=row.driver_id, vehicle_id=row.vehicle_id,
                     period=(local_day(row.started_at),) * 2, trip_id=trip_id)
    return trip_views(actor, access, [row], what="trip")[0]


def track(actor: User, trip_id: int, purpose: str = TAX) -> list[TrackPoint]:
    """The track points of a business trip (a private trip has none)."""
    row = db.session.get(Trip, trip_id)
    if row is None:
        deny(actor, purpose, None, None, "no such trip", trip_id=trip_id)
    access = decide(actor, purpose, BUSINESS_TRACKS, driver_id=row.driver_id, vehicle_id=row.vehicle_id,
                     period=(local_day(row.started_at),) * 2, trip_id=trip_id)
    classified = character.classifications([row.id]).get(row.id)
    trip_character = character.effective_character(row.mode, classified.value if classified else None)
    if trip_character == character.PRIVATE and PRIVATE_TRIP_DETAILS not in access.categories:
        deny(actor, purpose, row.driver_id, row.vehicle_id, "the track of a private trip needs the "
             f"{PRIVATE_TRIP_DETAILS} category", trip_id=trip_id,
             grant_id=access.grant.id if access.grant else None)
    points = [TrackPoint(p.at, p.lat, p.lon) for p in db.session.scalars(
        select(TripTrack).where(TripTrack.trip_id == trip_id).order_by(TripTrack.idx))]
    reseal = db.session.get(TripReseal, trip_id) if not points and row.mode == TripMode.BUSINESS.value else None
    if reseal is not None and reseal.track_sealed:
        points = [TrackPoint(datetime.fromisoformat(at), float(lat), float(lon))
                  for at, lat, lon in json.loads(open_envelope(reseal.track_sealed))]
        audit.record(audit.SEAL_OPENED, actor=actor, subject_user_id=row.driver_id, purpose=access.purpose,
                     grant_id=access.grant.id if access.grant else None,
                     details={"trip_ids": [row.id], "envelopes": 1, "what": "track"}, commit=False)
    if not access.own:
        audit_read(actor, access, [Subject(row.id, row.driver_id, row.vehicle_id,
                                             trip_character == character.PRIVATE)],
                    what="track", extra={"points": len(points)}, commit=False)
    if not access.own or reseal is not None:
        db.session.commit()
    return points


def tax_report_rows_with_gaps(actor: User, *, year: int, driver_id: int | None = None,
                    vehicle_id: int | None = None) -> list[TripView]:
    """What a tax report needs for one calendar year, per driver or per vehicle: summaries with
    business positions; private trips with date, times, odometer and km only (for the driver too)."""
    access, period = tax_report_access(actor, year, driver_id, vehicle_id)
    rows = query_trips(access, driver_id=driver_id, vehicle_id=vehicle_id, period=period)
    return trip_views(actor, access, rows, what="tax_report")


def chain_events_for_vehicle(actor: User, vehicle_id: int, period: Period | None = None,
                             purpose: str = TAX) -> list[ChainEventView]:
    """Gaps and breaks in a vehicle's device chain (no positions): finance, or a vehicle grant."""
    access = decide(actor, purpose, TRIP_SUMMARIES, vehicle_id=vehicle_id, period=period,
                     drivers_own_allowed=False)
    statement = select(ChainEvent).where(ChainEvent.vehicle_id == vehicle_id).order_by(ChainEvent.detected_at)
    bounds = utc_period_bounds(narrow(period, access.period))
    if bounds:
        statement = statement.where(ChainEvent.detected_at >= bounds[0], ChainEvent.detected_at < bounds[1])
    rows = list(db.session.scalars(statement))
    filled = _filled_at(rows)
    events = [ChainEventView(e.id, e.device_id, e.vehicle_id, e.kind, e.seq_from, e.seq_to, e.trip_id,
                             e.detail, e.detected_at, e.event_kind, e.occurred_at, e.event_body,
                             filled.get(e.id)) for e in rows]
    audit.record(audit.READ, actor=actor, subject_vehicle_id=vehicle_id, purpose=purpose,
                 grant_id=access.grant.id if access.grant else None,
                 details={"what": "chain_events", "records": len(events)})
    return events


# _filled_at on PostgreSQL: the gaps as arrays, one index lookup on (device_id, seq) per gap;
# one statement text whatever the number of gaps (the UNION ALL below is built per gap).
_FILLED_AT = text(
    "SELECT g.event_id, count(t.id) AS arrived, max(t.received_at) AS last "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:devices AS varchar[]), CAST(:froms AS integer[]), "
    "CAST(:tos AS integer[])) AS g(event_id, device_id, seq_from, seq_to) "
    "LEFT JOIN trips t ON t.device_id = g.device_id AND t.seq >= g.seq_from AND t.seq <= g.seq_to "
    "GROUP BY g.event_id").columns(event_id=Integer, arrived=Integer, last=UTCDateTime())


def _filled_at(events: list[ChainEvent]) -> dict[int, datetime]:
    """Event id -> when the last missing record arrived, for the chain gaps whose missing
    records all arrived later. One statement for all of them (index lookups on (device_id,
    seq)), not one per gap."""
    from sqlalchemy import literal, union_all
    gaps = [e for e in events if e.kind == ChainEventKind.GAP.value and e.seq_from is not None]
    if not gaps:
        return {}
    expected = {e.id: e.seq_to - e.seq_from + 1 for e in gaps}
    if db.session.get_bind().dialect.name == "postgresql":
        rows = db.session.execute(_FILLED_AT, {"ids": [e.id for e in gaps], "devices": [e.device_id for e in gaps],
                                               "froms": [e.seq_from for e in gaps], "tos": [e.seq_to for e in gaps]})
        return {row.event_id: row.last for row in rows if row.arrived == expected[row.event_id]}
    lookups = [select(literal(e.id).label("event_id"), func.count().label("arrived"),
                      func.max(Trip.received_at).label("last")).where(
        Trip.device_id == e.device_id, Trip.seq >= e.seq_from, Trip.seq <= e.seq_to) for e in gaps]
    filled = {}
    for start in range(0, len(lookups), 400):  # SQLite takes at most 500 terms in a compound SELECT
        part = lookups[start:start + 400]
        for row in db.session.execute(union_all(*part) if len(part) > 1 else part[0]):
            if row.arrived == expected[row.event_id]:
                filled[row.event_id] = row.last
    return filled


def usable_grants(actor: User, purpose: str | None = None, now: datetime | None = None) -> list[Grant]:
    """The actor's grants that are active right now (for pages that offer what can be read)."""
    now = now or utcnow()
    statement = select(Grant).where(Grant.holder_id == actor.id, Grant.revoked_at.is_(None),
                                    Grant.expires_at > now).order_by(Grant.issued_at.desc())
    if purpose:
        statement = statement.where(Grant.purpose == purpose)
    return list(db.session.scalars(statement))

