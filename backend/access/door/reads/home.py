"""Counts over the trip table for the home pages and the reminders: how many trips wait for a
classification, when they lock, and which months are ready to close.

Only counts, days and moments leave this module - no positions, no km, no trip contents - so
they are not reads of trip data in the door's sense and are not audited as one (like
reads/fleet.py). Who may ask is still decided here: a driver about their own trips,
finance about the fleet, and the scheduled reminder job (actor None).

A trip waits for a classification when it was recorded in business mode and its newest
classification revision is missing or cleared (the door's character.py: a trip recorded in
private mode is private until someone says otherwise). Each count is one query whatever the
number of drivers, plus one for the closed months.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, or_, select

from backend.access.door.decide import deny
from backend.access.door.query import utc_period_bounds
from backend.access.door.reads.fleet import local_day_or_none
from backend.access.purposes import TAX
from backend.local_time import LOCAL
from backend.db import db
from backend.models.accounts import Role, User
from backend.models.revisions import RevisionField, TripRevision
from backend.models.trips import Trip, TripMode
from backend.periods import service as periods


def _newest_classification():
    """The newest classification value of the outer trip row (NULL: none, or cleared)."""
    return (select(TripRevision.new_value)
            .where(TripRevision.trip_id == Trip.id, TripRevision.field == RevisionField.CLASSIFICATION.value)
            .order_by(TripRevision.id.desc()).limit(1).correlate(Trip).scalar_subquery())


def _waiting():
    """Trips that wait for their driver's classification."""
    newest = _newest_classification()
    return (Trip.mode == TripMode.BUSINESS.value, Trip.driver_id.is_not(None),
            or_(newest.is_(None), newest == ""))


def _may_ask(actor: User | None, driver_id: int | None) -> None:
    if actor is None:  # the scheduled job
        return
    if actor.is_active and (actor.has_role(Role.FINANCE)
                            or (driver_id is not None and driver_id == actor.id and actor.has_role(Role.DRIVER))):
        return
    deny(actor, TAX, driver_id, None, "only the driver (their own) and finance may count trips to classify")


@dataclass(frozen=True)
class OpenTrips:
    """One driver's trips that wait for a classification and can still be classified."""

    driver_id: int
    locks_at: tuple[datetime, ...]  # when each trip's correction window ends, earliest first
    first_day: date  # the local day of the earliest trip (for the link to its month)

    @property
    def count(self) -> int:
        return len(self.locks_at)

    def locking_by(self, moment: datetime) -> int:
        return sum(1 for at in self.locks_at if at <= moment)


def open_to_classify(actor: User | None, window_days: int, now: datetime, *,
                     driver_id: int | None = None) -> dict[int, OpenTrips]:
    """Per driver, the trips waiting for a classification whose correction window has not ended
    and whose month is not closed (locked trips do not count: the driver can no longer act)."""
    _may_ask(actor, driver_id)
    statement = (select(Trip.driver_id, Trip.vehicle_id, Trip.started_at, Trip.ended_at)
                 .where(*_waiting(), Trip.ended_at > now - timedelta(days=window_days))
                 .order_by(Trip.ended_at, Trip.id))
    if driver_id is not None:
        statement = statement.where(Trip.driver_id == driver_id)
    rows = db.session.execute(statement).all()
    days = [started.astimezone(LOCAL).date() for _, _, started, _ in rows]
    closings = periods.closed_months({vehicle for _, vehicle, _, _ in rows}, days) if rows else set()
    locks: dict[int, list[datetime]] = defaultdict(list)
    first: dict[int, date] = {}
    for (driver, vehicle, _started, ended), day in zip(rows, days):
        if periods.closed_in(closings, vehicle, day):
            continue
        locks[driver].append(ended + timedelta(days=window_days))
        first[driver] = min(first.get(driver, day), day)
    return {driver: OpenTrips(driver, tuple(sorted(at)), first[driver]) for driver, at in locks.items()}


@dataclass(frozen=True)
class Behind:
    """A driver with trips of the year that nobody classified yet."""

    driver_id: int
    unclassified: int
    past_window: int  # of which the driver's correction window has ended (only finance can fix them)
    first_day: date


def behind_on_classifying(actor: User | None, year: int, window_days: int, now: datetime) -> list[Behind]:
    """Per driver, the year's trips waiting for a classification (one GROUP BY query), the
    drivers with most trips past their window first."""
    _may_ask(actor, None)
    start, end = utc_period_bounds((date(year, 1, 1), date(year, 12, 31)))
    past = func.sum(case((Trip.ended_at <= now - timedelta(days=window_days), 1), else_=0))
    rows = db.session.execute(
        select(Trip.driver_id, func.count(Trip.id), past, func.min(Trip.started_at))
        .where(*_waiting(), Trip.started_at >= start, Trip.started_at < end)
        .group_by(Trip.driver_id)).all()
    found = [Behind(driver, int(count), int(past_count or 0), local_day_or_none(first))
             for driver, count, past_count, first in rows]
    return sorted(found, key=lambda b: (-b.past_window, -b.unclassified, b.driver_id))


@dataclass(frozen=True)
class MonthCount:
    month: date  # first day
    trips: int
    unclassified: int


def month_counts(actor: User | None, months: list[date]) -> list[MonthCount]:
    """Trips and trips waiting for a classification per local calendar month (one query, a
    column pair per month)."""
    _may_ask(actor, None)
    if not months:
        return []
    newest = _newest_classification()
    waiting = (Trip.mode == TripMode.BUSINESS.value) & (Trip.driver_id.is_not(None)) & or_(newest.is_(None), newest == "")
    columns = []
    for month in months:
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        start, end = utc_period_bounds((month, following - timedelta(days=1)))
        inside = (Trip.started_at >= start) & (Trip.started_at < end)
        columns += [func.sum(case((inside, 1), else_=0)), func.sum(case((inside & waiting, 1), else_=0))]
    first, _ = utc_period_bounds((min(months), min(months)))
    last_month = max(months)
    _, last = utc_period_bounds((last_month, (last_month.replace(day=28) + timedelta(days=4)).replace(day=1)
                           - timedelta(days=1)))
    values = db.session.execute(select(*columns).where(Trip.started_at >= first, Trip.started_at < last)).one()
    return [MonthCount(month, int(values[2 * i] or 0), int(values[2 * i + 1] or 0)) for i, month in enumerate(months)]
