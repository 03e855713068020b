"""The 500 km private-use counter (the tax rule: at most 500 km private use per calendar year,
pro-rated for a car available part of the year).

Private km = trips whose class is private + private detour km inside other trips. Commute is
NOT private here: for wage tax it counts as business (it is its own class only for VAT).
Unclassified trips are not counted but shown, so the driver sees what is still open.

Pro-rating: when the car was available for part of the year (Assignment periods, Europe/
Amsterdam dates, all of the driver's cars together), the limit shrinks in proportion:
limit = 500 * available days / days in the year - the same as scaling private km to a full
year and comparing with 500. Warnings at 80% and 100% of that limit.

Km are odometer km (end - start): the odometer is the legal norm, not the GPS distance.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

LIMIT_KM = 500.0
WARNING_RATIO = 0.8

OK, WARNING, LIMIT = "ok", "warning", "limit"


@dataclass(frozen=True)
class CountedTrip:
    day: date  # local date of the trip's start
    km: float  # odometer km
    trip_class: str | None  # effective class; None: unclassified
    private_detour_km: float = 0.0


@dataclass(frozen=True)
class Counter:
    year: int
    private_trip_km: float
    private_detour_km: float
    unclassified_km: float
    unclassified_trips: int
    available_days: int
    days_in_year: int
    limit_km: float  # pro-rated
    points: tuple[tuple[date, float], ...]  # cumulative private km after each day with private km

    @property
    def private_km(self) -> float:
        return self.private_trip_km + self.private_detour_km

    @property
    def projected_km(self) -> float | None:
        """Private km scaled to a full year (None without any available day)."""
        if not self.available_days:
            return None
        return self.private_km * self.days_in_year / self.available_days

    @property
    def ratio(self) -> float:
        if self.limit_km <= 0:
            return 0.0 if self.private_km == 0 else float("inf")
        return self.private_km / self.limit_km

    @property
    def level(self) -> str:
        """"limit" from 100%, "warning" from 80%, else "ok". Reaching 500 km exactly is still
        allowed (at most 500), but no km is left: the driver is warned."""
        if self.ratio >= 1.0:
            return LIMIT
        if self.ratio >= WARNING_RATIO:
            return WARNING
        return OK

    @property
    def over(self) -> bool:
        return self.private_km > self.limit_km + 1e-9


def days_in_year(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


def available_days(periods: Iterable[tuple[date, date | None]], year: int) -> int:
    """Days of `year` covered by at least one availability period (inclusive; open end = year end)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    spans = sorted((max(start, first), min(end or last, last)) for start, end in periods)
    total, reach = 0, first - timedelta(days=1)
    for start, end in spans:
        if end < start or end <= reach:
            continue
        start = max(start, reach + timedelta(days=1))
        total += (end - start).days + 1
        reach = end
    return total


def compute(year: int, trips: Iterable[CountedTrip], periods: Iterable[tuple[date, date | None]]) -> Counter:
    """The counter for one year from the driver's trips (any order) and availability periods."""
    days = days_in_year(year)
    available = available_days(periods, year)
    private_trip = detour = unclassified = 0.0
    open_trips = 0
    per_day: dict[date, float] = {}
    for trip in trips:
        if trip.day.year != year:
            continue
        private = 0.0
        if trip.trip_class == "private":
            private_trip += trip.km
            private += trip.km
        else:
            detour += trip.private_detour_km
            private += trip.private_detour_km
            if trip.trip_class is None:
                unclassified += trip.km
                open_trips += 1
        if private:
            per_day[trip.day] = per_day.get(trip.day, 0.0) + private
    cumulative, points = 0.0, []
    for day in sorted(per_day):
        cumulative += per_day[day]
        points.append((day, round(cumulative, 3)))
    return Counter(year=year, private_trip_km=round(private_trip, 3), private_detour_km=round(detour, 3),
                   unclassified_km=round(unclassified, 3), unclassified_trips=open_trips,
                   available_days=available, days_in_year=days,
                   limit_km=round(LIMIT_KM * available / days, 3), points=tuple(points))


def for_driver(actor, year: int) -> Counter:
    """The actor's own counter: their trips read through the door (no seal opened), the
    current annotations and their assignments."""
    from sqlalchemy import select

    from backend.access import driver_reads
    from backend.db import db
    from backend.models.fleet import Assignment
    from backend.trips import revisions

    trips = driver_reads.own_trip_summaries(actor, (date(year, 1, 1), date(year, 12, 31)))
    annotations = revisions.current_annotations(trips, for_driver=True)
    counted = []
    for trip in trips:
        annotation = annotations[trip.id]
        detour = annotation.private_detour_km or Decimal(0)
        counted.append(CountedTrip(trip.local_date, trip.odometer_end_km - trip.odometer_start_km,
                                   annotation.effective_class(trip), float(detour)))
    periods = [(a.available_from, a.available_until) for a in db.session.scalars(
        select(Assignment).where(Assignment.driver_id == actor.id))]
    return compute(year, counted, periods)
