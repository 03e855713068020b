"""Reads for finance's trip list and the check before a month is closed, built from the door's
deciding, querying and audit (the rules stay in one place).

- trip_page: one page of the fleet's trips, filtered and ordered (newest first) in SQL, paged by
  keyset (the start time and id of the last row shown), so a fleet of a million trips costs one
  indexed query per page and never a full load. Finance sees what the tax report shows: a
  private trip without any position; sealed positions only where its driver opened them for
  the tax report (audited as seal_opened, as in the report). Each page is audited as a read.
- month_check: how many trips of a month (one car or the fleet) are unclassified or lack a
  street-level address, counted in SQL (no trip row leaves the database); audited as a read.

"Unclassified" is the report's rule: a trip recorded in business mode that nobody classified.
"Incomplete address" is what SQL can know: a trip that is not private whose start or end has
no street-level address in the address cache and none written by a person (a position at a
named place the report names with its own address counts as incomplete here until a report
has resolved it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Integer, Text, and_, cast, exists, func, not_, or_, select

from backend import audit
from backend.access.door.decide import Access, decide
from backend.access.door.query import narrow, utc_period_bounds
from backend.access.door.views import TripView, trip_views
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TAX, TRIP_SUMMARIES
from backend.db import db
from backend.models.accounts import User
from backend.models.org_places import AddressCacheEntry
from backend.models.revisions import RevisionField, TripRevision
from backend.models.trips import Trip, TripMode

CHARACTERS = ("business", "commute", "private")
_EMPTY_JSON = ("", "[]", "null")


@dataclass(frozen=True)
class TripFilter:
    """What finance narrows the list to; every field optional."""

    vehicle_id: int | None = None
    driver_id: int | None = None
    month: date | None = None  # the first day of a calendar month (Europe/Amsterdam)
    character: str | None = None  # one of CHARACTERS (the effective character)
    unclassified: bool = False
    flagged: bool = False  # the device or ingest flagged the trip
    incomplete_address: bool = False


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the start time and id of its last trip (keyset paging)."""

    started_at: datetime
    trip_id: int


@dataclass(frozen=True)
class TripPage:
    trips: list[TripView]
    next: Cursor | None  # None: this is the last page


def _classification():
    """The trip's newest classification value (None: never classified, or cleared)."""
    return (select(TripRevision.new_value)
            .where(TripRevision.trip_id == Trip.id, TripRevision.field == RevisionField.CLASSIFICATION.value)
            .order_by(TripRevision.id.desc()).limit(1).scalar_subquery())


def _written(field: RevisionField):
    """A person wrote an address for this side of the trip (the newest revision is not empty)."""
    newest = (select(TripRevision.new_value)
              .where(TripRevision.trip_id == Trip.id, TripRevision.field == field.value)
              .order_by(TripRevision.id.desc()).limit(1).scalar_subquery())
    return func.coalesce(newest, "") != ""


def _street_level(lat, lon):
    return exists().where(AddressCacheEntry.lat_e5 == cast(func.round(lat * 100_000), Integer),
                          AddressCacheEntry.lon_e5 == cast(func.round(lon * 100_000), Integer),
                          AddressCacheEntry.level == "street")


def _incomplete(character):
    side_missing = [and_(not_(_written(field)), or_(lat.is_(None), not_(_street_level(lat, lon))))
                    for field, lat, lon in ((RevisionField.START_ADDRESS, Trip.start_lat, Trip.start_lon),
                                            (RevisionField.END_ADDRESS, Trip.end_lat, Trip.end_lon))]
    return and_(character != TripMode.PRIVATE.value, or_(*side_missing))


def _conditions(wanted: TripFilter, access: Access) -> list:
    classification = _classification()
    character = func.coalesce(classification, Trip.mode)
    conditions = []
    for column, values in ((Trip.driver_id, (wanted.driver_id, access.driver_id)),
                           (Trip.vehicle_id, (wanted.vehicle_id, access.vehicle_id))):
        conditions.extend(column == value for value in values if value is not None)
    period = None
    if wanted.month is not None:
        following = date(wanted.month.year + wanted.month.month // 12, wanted.month.month % 12 + 1, 1)
        period = (wanted.month, date.fromordinal(following.toordinal() - 1))
    bounds = utc_period_bounds(narrow(period, access.period))
    if bounds:
        conditions += [Trip.started_at >= bounds[0], Trip.started_at < bounds[1]]
    if wanted.character:
        conditions.append(character == wanted.character)
    if wanted.unclassified:
        conditions += [Trip.mode == TripMode.BUSINESS.value, classification.is_(None)]
    if wanted.flagged:
        conditions.append(or_(*(and_(column.is_not(None), cast(column, Text).not_in(_EMPTY_JSON))
                                for column in (Trip.flags, Trip.ingest_flags))))
    if wanted.incomplete_address:
        conditions.append(_incomplete(character))
    return conditions


def _finance_access(actor: User, wanted: TripFilter) -> Access:
    access = decide(actor, TAX, TRIP_SUMMARIES, driver_id=wanted.driver_id, vehicle_id=wanted.vehicle_id,
                          drivers_own_allowed=False)
    # What the tax report shows, whoever asks: never private positions nor tracks.
    return Access(access.purpose, access.categories - {PRIVATE_TRIP_DETAILS, BUSINESS_TRACKS},
                        access.own, access.grant, access.driver_id, access.vehicle_id, access.period)


def trip_page(actor: User, wanted: TripFilter, *, after: Cursor | None = None, size: int = 50) -> TripPage:
    """One page of trips, newest first, after `after` (None: the first page)."""
    access = _finance_access(actor, wanted)
    statement = select(Trip).where(*_conditions(wanted, access))
    if after is not None:
        statement = statement.where(or_(Trip.started_at < after.started_at,
                                        and_(Trip.started_at == after.started_at, Trip.id < after.trip_id)))
    rows = list(db.session.scalars(statement.order_by(Trip.started_at.desc(), Trip.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    views = trip_views(actor, access, rows, what="finance_trip_list")
    return TripPage(views, Cursor(rows[-1].started_at, rows[-1].id) if more and rows else None)


@dataclass(frozen=True)
class MonthCheck:
    trips: int
    unclassified: int
    incomplete_address: int


def month_check(actor: User, month: date, vehicle_id: int | None = None) -> MonthCheck:
    """What is still open in a month before finance closes it (counts only, in SQL)."""
    wanted = TripFilter(vehicle_id=vehicle_id, month=month)
    access = _finance_access(actor, wanted)
    base = _conditions(wanted, access)
    character = func.coalesce(_classification(), Trip.mode)

    def count(*extra) -> int:
        return db.session.scalar(select(func.count()).select_from(Trip).where(*base, *extra))

    found = MonthCheck(count(), count(*_conditions(TripFilter(unclassified=True), access)),
                       count(_incomplete(character)))
    audit.record(audit.READ, actor=actor, subject_vehicle_id=vehicle_id, purpose=TAX,
                 details={"what": "month_check", "month": month.strftime("%Y-%m"), "records": found.trips,
                          "categories": sorted(access.categories)})
    return found
