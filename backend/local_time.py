"""Dutch local time, the one home of it: tax years, correction windows, assignment periods and
report days are calendar days in Europe/Amsterdam; the database keeps UTC."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Europe/Amsterdam")


def local_today(now: datetime | None = None) -> date:
    """Today's date in the Netherlands (`now`: an aware moment, default the current time)."""
    return (now or datetime.now(timezone.utc)).astimezone(LOCAL).date()


def start_of_day_utc(day: date) -> datetime:
    """The UTC moment local `day` begins (23:00 or 22:00 UTC the day before)."""
    return datetime.combine(day, time.min, LOCAL).astimezone(timezone.utc)


def utc_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local days first..last, both included."""
    return start_of_day_utc(first), start_of_day_utc(last + timedelta(days=1))
