"""THE door: every read of trip data passes here, told who asks (actor) and for which purpose.

- purpose TAX (default): a driver reads their own trips, including their own private positions
  (unsealed for them only) and tracks; finance reads what the tax report needs (summaries and
  business start/end positions; never tracks, never private positions).
- any other purpose: only inside an active, unexpired grant held by the actor whose scope
  (employee or vehicle, period, data categories) covers the read.

Anything else raises AccessDenied, which is audited before it is raised (and committed, so the
refusal survives the 403). Every read except a driver's own is audited; every seal opening is
audited, the driver's own included. Callers get TripView/TrackPoint value objects carrying only
what they may see; no ORM object of a trip table ever leaves this module.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select

from backend import audit
from backend.access import agreements, character
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TAX, TRIP_SUMMARIES
from backend.db import db, utcnow
from backend.local_time import LOCAL, utc_bounds
from backend.models.access import Grant
from backend.models.accounts import Role, User
from backend.models.seals import TripDisclosure, TripReseal
from backend.models.trips import ChainEvent, ChainEventKind, Trip, TripMode, TripTrack

log = logging.getLogger(__name__)
SEAL_ALG = "X25519-HKDF-SHA256-ChaCha20Poly1305"
SEAL_INFO = b"ritbox-sealed-box-v1"

_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

Period = tuple[date, date]  # inclusive calendar dates, Europe/Amsterdam


# What a refused read of one trip says, whatever the reason and whether the trip exists or not
# (the reason is audited and kept on the exception, never shown): trip ids cannot be probed.
TRIP_REFUSED = "you may not read this trip, or it does not exist"


class AccessDenied(Exception):
    """A read the purpose and the actor's grants do not allow. Views answer 403 with str(self);
    `reason` is what the audit log records."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class SealError(Exception):
    """An envelope that cannot be opened (unknown key, tampered, malformed)."""


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
    # The effective character (backend.access.character): what decides privacy, for every reader.
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
class _Access:
    """What one read may return, decided before any trip row is touched."""

    purpose: str
    categories: frozenset[str]
    own: bool  # the driver reading their own data
    grant: Grant | None
    driver_id: int | None  # rows restricted to this driver (None: not restricted)
    vehicle_id: int | None  # rows restricted to this vehicle
    period: Period | None  # rows restricted to this period


# --- public API ----------------------------------------------------------------------------

def trips_for_driver(actor: User, driver_id: int, period: Period | None = None,
                     purpose: str = TAX) -> list[TripView]:
    """The trips of one driver (ordered by start). period None: everything the access allows."""
    access = _decide(actor, purpose, TRIP_SUMMARIES, driver_id=driver_id, period=period)
    rows = _query(access, driver_id=driver_id, period=period)
    return _views(actor, access, rows, what="trips")


def trips_for_vehicle(actor: User, vehicle_id: int, period: Period | None = None,
                      purpose: str = TAX) -> list[TripView]:
    """The trips of one vehicle, whoever drove (finance, or a grant on the vehicle)."""
    access = _decide(actor, purpose, TRIP_SUMMARIES, vehicle_id=vehicle_id, period=period)
    rows = _query(access, vehicle_id=vehicle_id, period=period)
    return _views(actor, access, rows, what="trips")


def trip(actor: User, trip_id: int, purpose: str = TAX) -> TripView:
    """One trip; AccessDenied also when it does not exist (no probing for ids)."""
    row = db.session.get(Trip, trip_id)
    if row is None:
        deny(actor, purpose, None, None, "no such trip", trip_id=trip_id)
    access = _decide(actor, purpose, TRIP_SUMMARIES, driver_id=row.driver_id, vehicle_id=row.vehicle_id,
                     period=(_local_day(row.started_at),) * 2, trip_id=trip_id)
    return _views(actor, access, [row], what="trip")[0]


def track(actor: User, trip_id: int, purpose: str = TAX) -> list[TrackPoint]:
    """The track points of a business trip (a private trip has none)."""
    row = db.session.get(Trip, trip_id)
    if row is None:
        deny(actor, purpose, None, None, "no such trip", trip_id=trip_id)
    access = _decide(actor, purpose, BUSINESS_TRACKS, driver_id=row.driver_id, vehicle_id=row.vehicle_id,
                     period=(_local_day(row.started_at),) * 2, trip_id=trip_id)
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
        _audit_read(actor, access, [_Subject(row.id, row.driver_id, row.vehicle_id,
                                             trip_character == character.PRIVATE)],
                    what="track", extra={"points": len(points)}, commit=False)
    if not access.own or reseal is not None:
        db.session.commit()
    return points


def tax_report_rows(actor: User, *, year: int, driver_id: int | None = None,
                    vehicle_id: int | None = None) -> list[TripView]:
    """What a tax report needs for one calendar year, per driver or per vehicle: summaries with
    business positions; private trips with date, times, odometer and km only (for the driver too)."""
    if (driver_id is None) == (vehicle_id is None):
        raise ValueError("tax_report_rows needs exactly one of driver_id and vehicle_id")
    period = (date(year, 1, 1), date(year, 12, 31))
    access = _decide(actor, TAX, TRIP_SUMMARIES, driver_id=driver_id, vehicle_id=vehicle_id, period=period)
    # A report never carries private positions, whoever asks.
    access = _Access(access.purpose, access.categories - {PRIVATE_TRIP_DETAILS, BUSINESS_TRACKS},
                     access.own, access.grant, access.driver_id, access.vehicle_id, access.period)
    rows = _query(access, driver_id=driver_id, vehicle_id=vehicle_id, period=period)
    return _views(actor, access, rows, what="tax_report")


def chain_events_for_vehicle(actor: User, vehicle_id: int, period: Period | None = None,
                             purpose: str = TAX) -> list[ChainEventView]:
    """Gaps and breaks in a vehicle's device chain (no positions): finance, or a vehicle grant."""
    access = _decide(actor, purpose, TRIP_SUMMARIES, vehicle_id=vehicle_id, period=period,
                     drivers_own_allowed=False)
    statement = select(ChainEvent).where(ChainEvent.vehicle_id == vehicle_id).order_by(ChainEvent.detected_at)
    bounds = _utc_bounds(_narrow(period, access.period))
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


def _filled_at(events: list[ChainEvent]) -> dict[int, datetime]:
    """Event id -> when the last missing record arrived, for the chain gaps whose missing
    records all arrived later. One statement for all of them (a UNION ALL of index lookups on
    (device_id, seq)), not one per gap."""
    from sqlalchemy import literal, union_all
    gaps = [e for e in events if e.kind == ChainEventKind.GAP.value and e.seq_from is not None]
    if not gaps:
        return {}
    lookups = [select(literal(e.id).label("event_id"), func.count().label("arrived"),
                      func.max(Trip.received_at).label("last")).where(
        Trip.device_id == e.device_id, Trip.seq >= e.seq_from, Trip.seq <= e.seq_to) for e in gaps]
    expected = {e.id: e.seq_to - e.seq_from + 1 for e in gaps}
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


# --- deciding ------------------------------------------------------------------------------

def _decide(actor: User, purpose: str, category: str, *, driver_id: int | None = None,
            vehicle_id: int | None = None, period: Period | None = None, trip_id: int | None = None,
            drivers_own_allowed: bool = True) -> _Access:
    if actor is None or not getattr(actor, "is_authenticated", True) or not actor.is_active:
        deny(actor, purpose, driver_id, vehicle_id, "not logged in", trip_id=trip_id)
    if period is not None and period[1] < period[0]:
        raise ValueError("period ends before it starts")
    if purpose == TAX:
        return _decide_tax(actor, category, driver_id, vehicle_id, period, trip_id, drivers_own_allowed)
    return _decide_grant(actor, purpose, category, driver_id, vehicle_id, period, trip_id)


def _tax_access() -> tuple[frozenset[str], frozenset[str]]:
    """(driver's own categories, finance's categories) under the tax purpose. Without an
    agreement in force the tax registration's legal minimum applies: the driver sees all of
    their own data, finance the summaries."""
    version = agreements.in_force()
    if version is None:
        return (frozenset({TRIP_SUMMARIES, BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS}), frozenset({TRIP_SUMMARIES}))
    agreement = agreements.load(version)
    own = frozenset(name.removeprefix("own_") for name in agreement.tax_driver_access)
    return own, frozenset(agreement.tax_finance_access) - {BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS}


def _decide_tax(actor, category, driver_id, vehicle_id, period, trip_id, drivers_own_allowed) -> _Access:
    own_categories, finance_categories = _tax_access()
    if (drivers_own_allowed and driver_id is not None and driver_id == actor.id
            and actor.has_role(Role.DRIVER) and category in own_categories):
        return _Access(TAX, own_categories, True, None, driver_id, vehicle_id, period)
    if actor.has_role(Role.FINANCE) and category in finance_categories:
        return _Access(TAX, finance_categories, False, None, driver_id, vehicle_id, period)
    reason = ("the tax purpose does not let this role read tracks" if category == BUSINESS_TRACKS
              and actor.has_role(Role.FINANCE) else
              "the tax purpose lets a driver read only their own trips and finance the tax report data")
    deny(actor, TAX, driver_id, vehicle_id, reason, trip_id=trip_id)


def _decide_grant(actor, purpose, category, driver_id, vehicle_id, period, trip_id) -> _Access:
    now = utcnow()
    held = list(db.session.scalars(select(Grant).where(Grant.holder_id == actor.id, Grant.purpose == purpose)
                                   .order_by(Grant.issued_at.desc())))
    if not held:
        deny(actor, purpose, driver_id, vehicle_id, f"no grant for purpose {purpose}", trip_id=trip_id)
    reasons = []
    for grant in held:
        reason = _grant_refusal(grant, now, category, driver_id, vehicle_id, period)
        if reason is None and (changed := _grants().differs_from_issue(grant)):
            _grants().report_tampered(grant, changed)
            reason = f"the grant differs from its grant_issued event ({', '.join(changed)})"
        if reason is None:
            return _Access(purpose, frozenset(grant.category_list), False, grant,
                           grant.subject_user_id, grant.subject_vehicle_id,
                           (grant.period_start, grant.period_end))
        reasons.append((grant.id, reason))
    grant_id, reason = reasons[0]
    deny(actor, purpose, driver_id, vehicle_id, f"grant {grant_id}: {reason}", trip_id=trip_id, grant_id=grant_id)


def _grants():
    from backend.access import grants  # grants -> notice_mail -> door: imported when first needed
    return grants


def _grant_refusal(grant: Grant, now: datetime, category: str, driver_id, vehicle_id, period) -> str | None:
    if grant.revoked_at is not None:
        return "revoked"
    if now >= grant.expires_at:
        return "expired"
    if category not in grant.category_list:
        return f"data category {category} not granted"
    if grant.subject_user_id is not None and driver_id != grant.subject_user_id:
        return "the employee is outside the grant"
    if grant.subject_vehicle_id is not None and vehicle_id != grant.subject_vehicle_id:
        return "the vehicle is outside the grant"
    if period is not None and not (grant.period_start <= period[0] and period[1] <= grant.period_end):
        return "the period is outside the grant"
    return None


def deny(actor, purpose, driver_id, vehicle_id, reason, *, trip_id=None, grant_id=None):
    """Audit a refused read (committed, so it survives the 403) and raise AccessDenied.
    Public so that every read module of the door refuses the same way."""
    details = {"reason": reason}
    if trip_id is not None:
        details["trip_id"] = trip_id
    if purpose is not None and not _PURPOSE.match(str(purpose)):
        details["purpose_given"] = str(purpose)[:64]  # not a purpose name: kept as a detail
        purpose = None
    audit.record(audit.READ_DENIED, actor=actor if actor is not None and getattr(actor, "id", None) else None,
                 subject_user_id=driver_id, subject_vehicle_id=vehicle_id, purpose=purpose,
                 grant_id=grant_id, details=details)
    log.info("access denied for purpose %s", purpose)
    # A read of one trip by id says the same whatever the reason: an unknown id is not told apart.
    raise AccessDenied(TRIP_REFUSED if trip_id is not None else reason, reason)


# --- reading -------------------------------------------------------------------------------

def _local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL).date()


def _utc_bounds(period: Period | None) -> tuple[datetime, datetime] | None:
    if period is None:
        return None
    return utc_bounds(period[0], period[1])


def _narrow(asked: Period | None, allowed: Period | None) -> Period | None:
    if asked is None:
        return allowed
    if allowed is None:
        return asked
    return (max(asked[0], allowed[0]), min(asked[1], allowed[1]))


def _query(access: _Access, *, driver_id=None, vehicle_id=None, period=None) -> Sequence[Trip]:
    statement = select(Trip).order_by(Trip.started_at, Trip.id)
    # Both what was asked and what the access allows restrict the rows.
    for column, values in ((Trip.driver_id, (driver_id, access.driver_id)),
                           (Trip.vehicle_id, (vehicle_id, access.vehicle_id))):
        for value in values:
            if value is not None:
                statement = statement.where(column == value)
    bounds = _utc_bounds(_narrow(period, access.period))
    if bounds:
        statement = statement.where(Trip.started_at >= bounds[0], Trip.started_at < bounds[1])
    return db.session.scalars(statement).all()


@dataclass(frozen=True)
class _Subject:
    """What the audit of a read needs of one trip."""

    id: int
    driver_id: int | None
    vehicle_id: int
    is_private: bool


@dataclass(frozen=True)
class _Stored:
    """How a trip's positions are stored: in clear, or sealed (recorded private, or sealed when a
    person classified it private), and what the driver said about them since."""

    character: str
    clear: tuple[Position | None, Position | None]
    seals: tuple[dict | None, dict | None]
    disclosed: bool  # the driver opened the seals for the tax report under the current class


def stored_positions(rows: Sequence) -> dict[int, _Stored]:
    """Character, clear positions and seals of trip rows (ORM rows or rows of plain columns with
    id, mode, start_lat, start_lon, end_lat, end_lon, start_sealed, end_sealed): three queries
    for any number of rows, the later two only for the few rows that need them."""
    from backend.db import among
    classes = character.classifications(row.id for row in rows)
    business = TripMode.BUSINESS.value
    maybe_resealed = [row.id for row in rows if row.mode == business and row.start_lat is None
                      and row.end_lat is None]
    reseals = {r.trip_id: r for condition in among(TripReseal.trip_id, maybe_resealed)
               for r in db.session.scalars(select(TripReseal).where(condition))}
    out: dict[int, _Stored] = {}
    sealed_ids = []
    for row in rows:
        classified = classes.get(row.id)
        trip_character = character.effective_character(row.mode, classified.value if classified else None)
        if row.mode == business:
            reseal = reseals.get(row.id)
            seals = (reseal.start_sealed, reseal.end_sealed) if reseal else (None, None)
            clear = (Position(row.start_lat, row.start_lon) if row.start_lat is not None else None,
                     Position(row.end_lat, row.end_lon) if row.end_lat is not None else None)
        else:
            seals, clear = (row.start_sealed, row.end_sealed), (None, None)
        if (seals[0] or seals[1]) and trip_character != character.PRIVATE and classified:
            sealed_ids.append((row.id, classified.revision_id))
        out[row.id] = _Stored(trip_character, clear, seals, False)
    if sealed_ids:
        disclosed = {tuple(pair) for condition in among(TripDisclosure.trip_id, [i for i, _ in sealed_ids])
                     for pair in db.session.execute(
                         select(TripDisclosure.trip_id, TripDisclosure.revision_id).where(condition))}
        for pair in sealed_ids:
            if pair in disclosed:
                stored = out[pair[0]]
                out[pair[0]] = _Stored(stored.character, stored.clear, stored.seals, True)
    return out


def _views(actor: User, access: _Access, rows: Iterable[Trip], what: str, *,
           open_seals: bool = True) -> list[TripView]:
    """open_seals False: sealed positions stay withheld whatever the access (summaries)."""
    rows = list(rows)
    opened: list[tuple[Trip, int]] = []
    views = []
    stored = stored_positions(rows)
    for row in rows:
        trip = stored[row.id]
        start, end, withheld, by_driver, envelopes = _positions(trip, access.categories, open_seals)
        if envelopes:
            opened.append((row, envelopes))
        views.append(TripView(
            id=row.id, vehicle_id=row.vehicle_id, driver_id=row.driver_id, started_at=row.started_at,
            ended_at=row.ended_at, odometer_start_km=row.odometer_start_km, odometer_end_km=row.odometer_end_km,
            distance_km=row.distance_km, mode=row.mode, flags=tuple(row.flags or ()),
            ingest_flags=tuple(row.ingest_flags or ()), gaps=tuple(row.gaps or ()),
            start=start, end=end, positions_withheld=withheld, character=trip.character,
            sealed=bool(trip.seals[0] or trip.seals[1]), withheld_by_driver=by_driver))
    _audit_openings(actor, access, opened)
    if not access.own:
        _audit_read(actor, access, views, what=what, commit=False)
    if opened or not access.own:
        db.session.commit()
    return views


def _positions(trip: _Stored, categories: frozenset[str], open_seals: bool = True):
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


def _audit_openings(actor: User, access: _Access, opened: list[tuple]) -> None:
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


def _audit_read(actor: User, access: _Access, trips: list, *, what: str, extra=None,
                commit: bool = True) -> None:
    """One READ event per employee whose records were read (one, naming the scope, if none).
    `trips` are TripViews (or _Subject): the record list names the private ones apart."""
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


# --- seals ---------------------------------------------------------------------------------

def _b64(value: str, length: int | None, name: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        raise SealError(f"envelope {name} is not base64") from None
    if length is not None and len(raw) != length:
        raise SealError(f"envelope {name} has {len(raw)} bytes, expected {length}")
    return raw


def seal(plaintext: bytes) -> dict:
    """Seal bytes to the backend's current sealing key, in the device's envelope format
    (docs/sealed-box.md): only the key file opens it, a database dump does not."""
    from backend import sealing_keys

    recipient = sealing_keys.current_key()
    esk = X25519PrivateKey.generate()
    epk = esk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=SEAL_INFO + epk + recipient.public_raw).derive(
        esk.exchange(X25519PublicKey.from_public_bytes(recipient.public_raw)))
    nonce = os.urandom(12)
    return {"v": 1, "alg": SEAL_ALG, "kid": recipient.kid, "epk": base64.b64encode(epk).decode("ascii"),
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "ct": base64.b64encode(ChaCha20Poly1305(key).encrypt(nonce, plaintext, None)).decode("ascii")}


def seal_position(position: Position) -> dict:
    """A position sealed as the device seals one: the JSON array [lat, lon]."""
    return seal(json.dumps([position.lat, position.lon], separators=(",", ":")).encode("ascii"))


def open_position(envelope: dict | str) -> Position:
    """Open a sealed position (docs/sealed-box.md). Only the door calls this; the private key
    comes from the key file (backend.sealing_keys), never from the database."""
    lat, lon = json.loads(open_envelope(envelope).decode("ascii"))
    return Position(float(lat), float(lon))


def open_envelope(envelope: dict | str) -> bytes:
    """The plaintext of any envelope sealed to one of the backend's keys."""
    from backend import sealing_keys

    if isinstance(envelope, str):
        envelope = json.loads(envelope)
    if envelope.get("v") != 1 or envelope.get("alg") != SEAL_ALG:
        raise SealError("unknown envelope version or algorithm")
    try:
        private_key = sealing_keys.private_key(str(envelope.get("kid")))
    except sealing_keys.SealingKeyError as exc:
        raise SealError(str(exc)) from None
    epk = _b64(envelope.get("epk", ""), 32, "epk")
    nonce = _b64(envelope.get("nonce", ""), 12, "nonce")
    ct = _b64(envelope.get("ct", ""), None, "ct")
    recipient = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(epk))
    except ValueError:
        raise SealError("envelope epk is a low-order point") from None
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO + epk + recipient).derive(shared)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ct, None)
    except InvalidTag:
        raise SealError("envelope does not open: tampered or sealed to another key") from None
