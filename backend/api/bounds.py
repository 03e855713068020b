"""The bounds of an uploaded trip record, in one place (docs/api.md, "Bounds").

Trips are stored for good in tables that refuse UPDATE and DELETE, so a value no road vehicle
produces is refused at the door instead of poisoning reports for years. Speed implied by
distance and duration is the device's plausibility check (a trip flag), not a refusal here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# More than a day at 200 km/h without one stop of three minutes: no trip of a car is longer.
MAX_TRIP_KM = 5_000.0
# The most-driven car on record has done about 5.2 million km.
MAX_ODOMETER_KM = 10_000_000.0
# A Pi may record trips before it is enrolled (installed and running, enrolled later): that long.
# Older dates are a clock gone wrong (a GPS week-number rollover is 19.6 years), not a trip.
BEFORE_ENROLLMENT = timedelta(days=30)


@dataclass(frozen=True)
class TimeBounds:
    """The times a device's record may carry: earliest and latest, aware UTC, inclusive."""

    earliest: datetime
    latest: datetime


def time_bounds(enrolled_at: datetime, now: datetime, clock_skew_s: float) -> TimeBounds:
    """Not before the enrollment minus BEFORE_ENROLLMENT, not after now plus the clock skew the
    API allows for signatures (RITBOX_API_TIMESTAMP_WINDOW_SECONDS)."""
    return TimeBounds(earliest=enrolled_at - BEFORE_ENROLLMENT, latest=now + timedelta(seconds=clock_skew_s))
