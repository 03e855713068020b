"""The 500 km private-use counter (the tax rule: at most 500 km private use per calendar year,
pro-rated for a car available part of the year).

Private km = trips whose class is private + private detour km inside other trips. Commute is
NOT private here: for wage tax it counts as business (it is its own class only for VAT).
Km not shown to be business count against the limit too, shown apart, until they are explained:
unclassified trips (the driver classifies them) and unexplained km (odometer stretches no trip
covers, backend.trips.stretches, until the driver or finance gives a reason).

Pro-rating: when the car was available for part of the year (Assignment periods, Europe/
Amsterdam dates, all of the driver's cars together), the limit shrinks in proportion:
limit = 500 * available days / days in the year - the same as scaling private km to a full
year and comparing with 500. Warnings at 80% and 100% of that limit.

Km are odometer km (end - start): the odometer is the legal norm, not the GPS distance. They are
the calibrated figures the reports print (backend.odometer.service.printed_odometer), so the
driver's counter, finance's verdict page and every report give one verdict (driver_counter).
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

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
    unexplained_km: float = 0.0  # odometer stretches no trip covers, not yet explained

    @property
    def private_km(self) -> float:
        return self.private_trip_km + self.private_detour_km

    @property
    def counted_km(self) -> float:
        """What counts against the limit: private km and the km not (yet) shown to be business."""
        return self.private_km + self.unclassified_km + self.unexplained_km

    @property
    def projected_km(self) -> float | None:
        """Private km scaled to a full year (None without any available day)."""
        if not self.available_days:
            return None
        return self.private_km * self.days_in_year / self.available_days

    @property
    def ratio(self) -> float:
        if self.limit_km <= 0:
            return 0.0 if self.counted_km == 0 else float("inf")
        return self.counted_km / self.limit_km

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
        return self.counted_km > self.limit_km + 1e-9


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


def compute(year: int, trips: Iterable[CountedTrip], periods: Iterable[tuple[date, date | None]],
            unexplained_km: float = 0.0) -> Counter:
    """The counter for one year from the driver's trips (any order), availability periods and
    the km of the driver's unexplained stretches (backend.trips.stretches)."""
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
                   limit_km=round(LIMIT_KM * available / days, 3), points=tuple(points),
                   unexplained_km=round(float(unexplained_km), 3))


def counted_trip(day: date, start_km: Decimal, end_km: Decimal, trip_class: str | None,
                 private_detour_km: Decimal | None = None) -> CountedTrip:
    """A trip as the verdict counts it: km = the printed end minus the printed start odometer
    (backend.odometer.service.printed_odometer), the same km every report prints."""
    detour = Decimal(str(private_detour_km or 0)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return CountedTrip(day, float(end_km - start_km), trip_class, float(detour))


def driver_counter(actor, driver_id: int, year: int) -> Counter:
    """THE 500 km verdict of one driver and year: the driver's counter page, finance's verdict
    page and (over the same rows) every report take it from here. Trips are read through the
    door (the driver's own, or finance's tax read, audited); km are the calibrated odometer km."""
    from collections import defaultdict

    from sqlalchemy import select

    from backend.access import door
    from backend.db import db
    from backend.models.fleet import Assignment
    from backend.odometer import service as odometer
    from backend.trips import revisions

    own = actor.id == driver_id
    if own:
        trips = door.own_trip_summaries(actor, (date(year, 1, 1), date(year, 12, 31)))
    else:
        trips = door.tax_report_rows(actor, year=year, driver_id=driver_id)
    annotations = revisions.current_annotations(trips, for_driver=own)
    by_vehicle = defaultdict(list)
    for trip in trips:
        by_vehicle[trip.vehicle_id].append(trip)
    counted = []
    for vehicle_id, vehicle_trips in by_vehicle.items():
        calibrated = odometer.calibrated_odometers(vehicle_id, vehicle_trips)
        for trip in vehicle_trips:
            annotation = annotations[trip.id]
            start, end = odometer.printed_odometer(trip, calibrated)
            counted.append(counted_trip(trip.local_date, start, end, annotation.effective_class(trip),
                                        annotation.private_detour_km))
    periods = [(a.available_from, a.available_until) for a in db.session.scalars(
        select(Assignment).where(Assignment.driver_id == driver_id))]
    return compute(year, counted, periods, float(sum((s.km for s in unexplained_stretches(trips)), Decimal(0))))


def unexplained_stretches(trips) -> list:
    """The stretches between the driver's own trips (both sides theirs) not yet explained, in
    their year: what their verdict counts as unexplained (the same rule as the report's)."""
    from backend.trips import stretches

    return [s for s in stretches.for_trips(trips) if s.driver_id is not None and not s.explained]


def for_driver(actor, year: int) -> Counter:
    """The actor's own counter (their trips read through the door, no seal opened)."""
    return driver_counter(actor, actor.id, year)
