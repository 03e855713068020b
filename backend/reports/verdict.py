"""The 500 km rule, pro-rated for partial years.

Written here because the driver's counter (backend/trips/counter.py) had not landed when the
report was built; when it lands, one of the two should call the other.

Rule (DOMAIN.md §1): at most 500 km private use per calendar year. When the car was available
for part of the year, the private km are scaled to a full year: private * days_in_year /
available_days. Exactly 500 km is within the limit; 500.1 is over.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from backend.reports.model import KM, PRIVATE_LIMIT_KM, Verdict


def days_in_year(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


def available_days(year: int, periods: Iterable[tuple[date, date | None]]) -> int:
    """Days of `year` covered by at least one (from, until-or-open) period, overlaps counted once."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    clipped = sorted((max(start, first), min(end or last, last)) for start, end in periods
                     if start <= last and (end is None or end >= first))
    days, reach = 0, first - timedelta(days=1)
    for start, end in clipped:
        start = max(start, reach + timedelta(days=1))
        if end >= start:
            days += (end - start).days + 1
            reach = end
    return days


def verdict(driver_name: str, year: int, private_km: Decimal, days_available: int) -> Verdict:
    full = days_in_year(year)
    # No availability recorded (trips without an assignment): judge the km as they are.
    scale_days = days_available if 0 < days_available <= full else full
    projected = (private_km * full / scale_days).quantize(KM, rounding=ROUND_HALF_UP)
    return Verdict(driver_name=driver_name, private_km=private_km, available_days=days_available,
                   days_in_year=full, projected_km=projected, within_limit=projected <= PRIVATE_LIMIT_KM)
