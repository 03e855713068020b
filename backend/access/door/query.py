"""The door's query of trip rows: what was asked, narrowed to what the access allows."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select

from backend.access.door.decide import Access, Period
from backend.db import db
from backend.local_time import LOCAL, utc_bounds
from backend.models.trips import Trip

def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL).date()


def utc_period_bounds(period: Period | None) -> tuple[datetime, datetime] | None:
    if period is None:
        return None
    return utc_bounds(period[0], period[1])


def narrow(asked: Period | None, allowed: Period | None) -> Period | None:
    if asked is None:
        return allowed
    if allowed is None:
        return asked
    return (max(asked[0], allowed[0]), min(asked[1], allowed[1]))


def query_trips(access: Access, *, driver_id=None, vehicle_id=None, period=None) -> Sequence[Trip]:
    statement = select(Trip).order_by(Trip.started_at, Trip.id)
    # Both what was asked and what the access allows restrict the rows.
    for column, values in ((Trip.driver_id, (driver_id, access.driver_id)),
                           (Trip.vehicle_id, (vehicle_id, access.vehicle_id))):
        for value in values:
            if value is not None:
                statement = statement.where(column == value)
    bounds = utc_period_bounds(narrow(period, access.period))
    if bounds:
        statement = statement.where(Trip.started_at >= bounds[0], Trip.started_at < bounds[1])
    return db.session.scalars(statement).all()

