"""The 500 km verdict in the report, decided by the driver's own counter (backend/trips/counter.py)
so that the report and the counter the driver sees can never disagree.

Unclassified and unexplained km count against the limit beside the private km until they are
classified or explained (backend.trips.counter).

Rule (the Belastingdienst's 500 km rule): at most 500 km private use per calendar year; for part of a year the
private km are scaled to a full year (equivalently: the limit shrinks to 500 * available days /
days in the year). Exactly 500 km is within the limit; 500.1 is over.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from backend.reports.model import KM, PRIVATE_LIMIT_KM, Verdict, VerdictVerklaring
from backend.trips import counter

days_in_year = counter.days_in_year


def available_days(year: int, periods: Iterable[tuple[date, date | None]]) -> int:
    return counter.available_days(list(periods), year)


def verklaringen_in_year(year: int, verklaringen: Iterable) -> tuple[VerdictVerklaring, ...]:
    """The verklaringen (backend.models.regimes.Verklaring or alike) that stood on a day of the year."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    return tuple(VerdictVerklaring(v.kind, v.number, v.issued_on, v.withdrawn_on) for v in verklaringen
                 if v.issued_on <= last and (v.withdrawn_on is None or v.withdrawn_on > first))


def verdict(driver_name: str, year: int, trips: Iterable[counter.CountedTrip],
            periods: Iterable[tuple[date, date | None]], unexplained_km: Decimal = Decimal(0), *,
            verklaringen: Iterable = (), business_only_km: Decimal = Decimal(0)) -> Verdict:
    """business_only_km: private and unexplained km driven on a van on days it ran under the regime
    uitsluitend zakelijk (backend.fleet.regimes): any such km put that verklaring at risk."""
    result = counter.compute(year, trips, list(periods), float(unexplained_km))
    private = Decimal(str(result.private_km)).quantize(KM, rounding=ROUND_HALF_UP)
    projected = result.projected_km
    return Verdict(driver_name=driver_name, private_km=private, available_days=result.available_days,
                   days_in_year=result.days_in_year,
                   projected_km=Decimal(str(projected)).quantize(KM, rounding=ROUND_HALF_UP)
                   if projected is not None else private,
                   within_limit=not result.over,
                   unclassified_km=Decimal(str(result.unclassified_km)).quantize(KM, rounding=ROUND_HALF_UP),
                   unexplained_km=unexplained_km, verklaringen=verklaringen_in_year(year, verklaringen),
                   pro_rated_limit_km=(PRIVATE_LIMIT_KM * result.available_days / result.days_in_year
                                       ).quantize(KM, rounding=ROUND_HALF_UP),
                   business_only_km=Decimal(business_only_km).quantize(KM, rounding=ROUND_HALF_UP))


def private_trip(day: date, km: Decimal) -> counter.CountedTrip:
    return counter.CountedTrip(day=day, km=float(km), trip_class="private")
