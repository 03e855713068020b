"""Fleet bookkeeping over the trip table: how many trips an assignment already carries, and on
which local days the first and the last of them started.

Why here: trips are attributed to a driver at ingest from the assignments, and trip facts are
immutable, so the fleet service must not shorten or delete an assignment that stored trips
depend on. Only the trip table can tell, and only this package may read it
(tests/backend/test_door_is_the_only_reader.py). What leaves this module is one COUNT, MIN and
MAX of start times - no trip contents, no positions, no distances - so it is not a read of trip
data in the door's sense and is not audited as one; the fleet change it serves is.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select, update

from backend.local_time import LOCAL, start_of_day_utc
from backend.db import db
from backend.models.trips import Trip


@dataclass(frozen=True)
class TripSpan:
    count: int
    first_day: date | None  # local (Europe/Amsterdam) start day of the earliest trip
    last_day: date | None  # local start day of the latest trip


def trip_span(driver_id: int, vehicle_id: int, day_from: date | None, day_until: date | None) -> TripSpan:
    """Trips of this driver in this vehicle whose start falls on a local day from day_from to
    day_until (inclusive; None: unbounded), the way ingest counts days."""
    statement = select(func.count(Trip.id), func.min(Trip.started_at), func.max(Trip.started_at)).where(
        Trip.driver_id == driver_id, Trip.vehicle_id == vehicle_id)
    if day_from is not None:
        statement = statement.where(Trip.started_at >= start_of_day_utc(day_from))
    if day_until is not None:
        statement = statement.where(Trip.started_at < start_of_day_utc(day_until + timedelta(days=1)))
    count, first, last = db.session.execute(statement).one()
    return TripSpan(int(count or 0), local_day_or_none(first), local_day_or_none(last))


def local_day_or_none(moment: datetime | str | None) -> date | None:
    if moment is None:
        return None
    if isinstance(moment, str):  # SQLite hands MIN/MAX of a DATETIME back as text on some versions
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(LOCAL).date()


def _day_bounds(statement, day_from: date | None, day_until: date | None):
    if day_from is not None:
        statement = statement.where(Trip.started_at >= start_of_day_utc(day_from))
    if day_until is not None:
        statement = statement.where(Trip.started_at < start_of_day_utc(day_until + timedelta(days=1)))
    return statement


def attribute_unassigned(vehicle_id: int, driver_id: int, day_from: date, day_until: date | None) -> list[int]:
    """Give the driver every trip of the car that has no driver yet and started on a local day
    of [day_from, day_until]: trips uploaded for days without an assignment, now covered by one.
    The database lets a NULL driver be set once and nothing else change (migration 0019).
    Returns the trip ids (the caller audits them); ids only leave this module."""
    statement = _day_bounds(select(Trip.id).where(Trip.vehicle_id == vehicle_id, Trip.driver_id.is_(None)),
                            day_from, day_until)
    ids = list(db.session.scalars(statement.order_by(Trip.id)))
    if ids:
        db.session.execute(update(Trip).where(Trip.id.in_(ids), Trip.driver_id.is_(None))
                           .values(driver_id=driver_id).execution_options(synchronize_session=False))
    return ids


@dataclass(frozen=True)
class Unassigned:
    """Trips of a car without a driver: the days they fall on, for finance to resolve."""

    vehicle_id: int
    count: int
    first_day: date | None
    last_day: date | None


def unassigned_trips(year: int) -> list[Unassigned]:
    """Per car, the trips of the year (local start day) that no assignment covered at upload
    and none has been attributed since. Counts and days only."""
    statement = _day_bounds(
        select(Trip.vehicle_id, func.count(Trip.id), func.min(Trip.started_at), func.max(Trip.started_at))
        .where(Trip.driver_id.is_(None)), date(year, 1, 1), date(year, 12, 31)).group_by(Trip.vehicle_id)
    return [Unassigned(vehicle_id, int(count), local_day_or_none(first), local_day_or_none(last))
            for vehicle_id, count, first, last in db.session.execute(statement.order_by(Trip.vehicle_id))]
