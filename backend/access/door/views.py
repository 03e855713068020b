"""The door's shaped views: what a reader gets of a trip (TripView, TrackPoint, ChainEventView),
positions withheld or unsealed by the reader's categories, and the audit of every read and of
every seal opening (the driver's own reads are not audited as reads; seal openings always are).
No ORM object of a trip table ever leaves the door.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from backend import audit
from backend.access.door import character
from backend.access.door.decide import Access
from backend.access.door.envelopes import open_envelope, seal
from backend.access.purposes import PRIVATE_TRIP_DETAILS
from backend.db import among, db
from backend.local_time import LOCAL
from backend.models.accounts import User
from backend.models.seals import TripDisclosure, TripReseal
from backend.models.trips import ChainEventKind, Trip, TripMode

@dataclass(frozen=True)
class Position:
    lat: float
    lon: float


@dataclass(frozen=True)
class TripView:
    """One trip as the caller may see it. start/end are None when the caller may not see them
    (positions_withheld tells a private trip's hidden positions apart from none recorded)."""

    id: int
    vehicle_id: int
    driver_id: int | None
    started_at: datetime
    ended_at: datetime
    odometer_start_km: float
    odometer_end_km: float
    distance_km: float
    mode: str  # "business" or "private" as recorded by the device (privacy switch)
    flags: tuple[str, ...]
    ingest_flags: tuple[str, ...]
    gaps: tuple[dict, ...]
    start: Position | None
    end: Position | None
    positions_withheld: bool
    # The effective character (character.py): what decides privacy, for every reader.
    character: str | None = None
    sealed: bool = False  # the positions are stored sealed (recorded private, or sealed when classified private)
    # Sealed positions of a trip that is not private now, which its driver has not opened for the
    # tax report: shown as "withheld by the driver".
    withheld_by_driver: bool = False

    @property
    def is_private(self) -> bool:
        return (self.character or self.mode) == TripMode.PRIVATE.value

    @property
    def local_date(self) -> date:
        return self.started_at.astimezone(LOCAL).date()


@dataclass(frozen=True)
class TrackPoint:
    at: datetime
    lat: float
    lon: float


DEVICE_EVENT = ChainEventKind.DEVICE.value  # a ChainEventView.kind: the device's own event


@dataclass(frozen=True)
class ChainEventView:
    id: int
    device_id: str
    vehicle_id: int
    kind: str
    seq_from: int | None
    seq_to: int | None
    trip_id: int | None
    detail: str
    detected_at: datetime
    # A device event (kind device_event): its kind, when it happened, its body (no positions).
    event_kind: str | None = None
    occurred_at: datetime | None = None
    event_body: dict | None = None
    # A chain gap whose missing records all arrived later: when the last of them arrived.
    filled_at: datetime | None = None

    @property
    def at(self) -> datetime:
        """When it happened, as far as the backend knows (a chain event: when it was detected)."""
        return self.occurred_at or self.detected_at


@dataclass(frozen=True)
class Subject:
    """What the audit of a read needs of one trip."""

    id: int
    driver_id: int | None
    vehicle_id: int
    is_private: bool


@dataclass(frozen=True)
class Stored:
    """How a trip's positions are stored: in clear, or sealed (recorded private, or sealed when a
    person classified it private), and what the driver said about them since."""

    character: str
    clear: tuple[Position | None, Position | None]
    seals: tuple[dict | None, dict | None]
    disclosed: bool  # the driver opened the seals for the tax report under the current class


def stored_positions(rows: Sequence) -> dict[int, Stored]:
    """Character, clear positions and seals of trip rows (ORM rows or rows of plain columns with
    id, mode, start_lat, start_lon, end_lat, end_lon, start_sealed, end_sealed): three queries
    for any number of rows, the later two only for the few rows that need them."""
    classes = character.classifications(row.id for row in rows)
    business = TripMode.BUSINESS.value
    maybe_resealed = [row.id for row in rows if row.mode == business and row.start_lat is None
                      and row.end_lat is None]
    reseals = {r.trip_id: r for condition in among(TripReseal.trip_id, maybe_resealed)
               for r in db.session.scalars(select(TripReseal).where(condition))}
    out: dict[int, Stored] = {}
    sealed_ids = []
    # Per row (a car's year is a thousand): each column read once, look-ups held in locals.
    effective, class_of, reseal_of, none = character.effective_character, classes.get, reseals.get, (None, None)
    for row in rows:
        trip_id, mode = row.id, row.mode
        classified = class_of(trip_id)
        trip_character = effective(mode, classified.value if classified else None)
        if mode == business:
            reseal = reseal_of(trip_id)
            seals = (reseal.start_sealed, reseal.end_sealed) if reseal else none
            start_lat, end_lat = row.start_lat, row.end_lat
            clear = (Position(start_lat, row.start_lon) if start_lat is not None else None,
                     Position(end_lat, row.end_lon) if end_lat is not None else None)
        else:
            seals, clear = (row.start_sealed, row.end_sealed), none
        if (seals[0] or seals[1]) and trip_character != character.PRIVATE and classified:
            sealed_ids.append((trip_id, classified.revision_id))
        out[trip_id] = Stored(trip_character, clear, seals, False)
    if sealed_ids:
        disclosed = {tuple(pair) for condition in among(TripDisclosure.trip_id, [i for i, _ in sealed_ids])
                     for pair in db.session.execute(
                         select(TripDisclosure.trip_id, TripDisclosure.revision_id).where(condition))}
        for pair in sealed_ids:
            if pair in disclosed:
                stored = out[pair[0]]
                out[pair[0]] = Stored(stored.character, stored.clear, stored.seals, True)
    return out


def trip_views(actor: User, access: Access, rows: Iterable[Trip], what: str, *,
           open_seals: bool = True) -> list[TripView]:
    """open_seals False: sealed positions stay withheld whatever the access (summaries)."""
    rows = list(rows)
    opened: list[tuple[Trip, int]] = []
    views = []
    stored = stored_positions(rows)
    for row in rows:
        trip = stored[row.id]
        start, end, withheld, by_driver, envelopes = positions_for(trip, access.categories, open_seals)
        if envelopes:
            opened.append((row, envelopes))
        views.append(TripView(
            id=row.id, vehicle_id=row.vehicle_id, driver_id=row.driver_id, started_at=row.started_at,
            ended_at=row.ended_at, odometer_start_km=row.odometer_start_km, odometer_end_km=row.odometer_end_km,
            distance_km=row.distance_km, mode=row.mode, flags=tuple(row.flags or ()),
            ingest_flags=tuple(row.ingest_flags or ()), gaps=tuple(row.gaps or ()),
            start=start, end=end, positions_withheld=withheld, character=trip.character,
            sealed=bool(trip.seals[0] or trip.seals[1]), withheld_by_driver=by_driver))
    audit_openings(actor, access, opened)
    if not access.own:
        audit_read(actor, access, views, what=what, commit=False)
    if opened or not access.own:
        db.session.commit()
    return views


def positions_for(trip: Stored, categories: frozenset[str], open_seals: bool = True):
    """(start, end, withheld, withheld_by_driver, envelopes opened) for a reader holding
    `categories`. A private trip's positions need the private-details category; sealed positions
    of a trip that is no longer private open for others only once its driver opened them."""
    sealed = bool(trip.seals[0] or trip.seals[1])
    may_open = open_seals and (PRIVATE_TRIP_DETAILS in categories
                               or (trip.disclosed and trip.character != character.PRIVATE))
    if sealed:
        if may_open:
            start, end = (open_position(seal) if seal else None for seal in trip.seals)
            return start, end, False, False, sum(bool(seal) for seal in trip.seals)
        return None, None, True, trip.character != character.PRIVATE, 0
    if trip.character == character.PRIVATE and PRIVATE_TRIP_DETAILS not in categories:
        # Classified private but stored in clear (sealing it failed, or data from before 0016).
        return None, None, trip.clear != (None, None), False, 0
    return trip.clear[0], trip.clear[1], False, False, 0


def audit_openings(actor: User, access: Access, opened: list[tuple]) -> None:
    groups: dict[int | None, list[tuple]] = {}
    for row, envelopes in opened:
        groups.setdefault(row.driver_id, []).append((row, envelopes))
    for subject, trips in groups.items():
        audit.record(audit.SEAL_OPENED, actor=actor, subject_user_id=subject, purpose=access.purpose,
                     grant_id=access.grant.id if access.grant else None,
                     details={"trip_ids": [t.id for t, _ in trips], "envelopes": sum(n for _, n in trips)},
                     commit=False)


def _by_driver(rows: Iterable) -> dict[int | None, list]:
    groups: dict[int | None, list] = {}
    for row in rows:
        groups.setdefault(row.driver_id, []).append(row)
    return groups


def audit_read(actor: User, access: Access, trips: list, *, what: str, extra=None,
                commit: bool = True) -> None:
    """One READ event per employee whose records were read (one, naming the scope, if none).
    `trips` are TripViews (or Subject): the record list names the private ones apart."""
    groups = _by_driver(trips) or {access.driver_id: []}
    for subject, group in groups.items():
        details = {"what": what, "categories": sorted(access.categories), "records": len(group),
                   "trip_ids": [t.id for t in group]}
        private = [t.id for t in group if t.is_private]
        if private:
            details["private_trip_ids"] = private
        if access.period:
            details["period"] = [access.period[0].isoformat(), access.period[1].isoformat()]
        details.update(extra or {})
        audit.record(audit.READ, actor=actor, subject_user_id=subject,
                     subject_vehicle_id=access.vehicle_id if access.vehicle_id else
                     (group[0].vehicle_id if group else None),
                     purpose=access.purpose, grant_id=access.grant.id if access.grant else None,
                     details=details, commit=commit)


def seal_position(position: Position) -> dict:
    """A position sealed as the device seals one: the JSON array [lat, lon]."""
    return seal(json.dumps([position.lat, position.lon], separators=(",", ":")).encode("ascii"))


def open_position(envelope: dict | str) -> Position:
    """Open a sealed position (docs/sealed-box.md). Only the door calls this; the private key
    comes from the key file (backend.sealing_keys), never from the database."""
    lat, lon = json.loads(open_envelope(envelope).decode("ascii"))
    return Position(float(lat), float(lon))
