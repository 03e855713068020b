"""Odometer figures of one vehicle's trips, for calibrating the odometer (tax purpose).

Only what a calibration needs leaves this module: trip id, start and end times, the GPS-based
odometer at start and end, and the GPS distance. No driver, no position, no seal. Who may ask:
finance, or a driver assigned to the vehicle at the moment of the reading (a driver calibrates
their own car). Every read is audited (the car may have had other drivers in the period).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from backend import audit
from backend.access.door.decide import AccessDenied, deny
from backend.local_time import LOCAL
from backend.access.purposes import TAX
from backend.db import db
from backend.models.accounts import Role, User
from backend.models.fleet import Assignment
from backend.models.trips import Trip


@dataclass(frozen=True)
class OdometerTrip:
    id: int
    started_at: datetime
    ended_at: datetime
    odometer_start_km: float
    odometer_end_km: float
    distance_km: float


@dataclass(frozen=True)
class OdometerWindow:
    """The trips that started after `after` (None: ever) and ended by `until`, and the GPS-based
    odometer of the vehicle at `until` (the end odometer of the last trip ended by then)."""

    trips: tuple[OdometerTrip, ...]
    gps_odometer_km: float | None


def may_calibrate(actor: User | None, vehicle_id: int, at: datetime) -> bool:
    """Finance, or a driver assigned to the vehicle on the local day of the reading."""
    if actor is None or not actor.is_active:
        return False
    if actor.has_role(Role.FINANCE):
        return True
    if not actor.has_role(Role.DRIVER):
        return False
    day = at.astimezone(LOCAL).date()
    for assignment in db.session.scalars(select(Assignment).where(
            Assignment.vehicle_id == vehicle_id, Assignment.driver_id == actor.id)):
        if assignment.covers(day):
            return True
    return False


def odometer_window(actor: User | None, vehicle_id: int, after: datetime | None,
                    until: datetime, *, via_cli: bool = False) -> OdometerWindow:
    """Read the window for a calibration. actor None is allowed only from the CLI (an operator
    on the server, audited as the system)."""
    if not (via_cli and actor is None) and not may_calibrate(actor, vehicle_id, until):
        deny(actor, TAX, None, vehicle_id,
              "only finance or the car's assigned driver may calibrate its odometer")
    statement = (select(Trip.id, Trip.started_at, Trip.ended_at, Trip.odometer_start_km,
                        Trip.odometer_end_km, Trip.distance_km)
                 .where(Trip.vehicle_id == vehicle_id, Trip.ended_at <= until)
                 .order_by(Trip.started_at, Trip.id))
    if after is not None:
        statement = statement.where(Trip.started_at > after)
    trips = tuple(OdometerTrip(*row) for row in db.session.execute(statement))
    last = db.session.execute(
        select(Trip.odometer_end_km).where(Trip.vehicle_id == vehicle_id, Trip.ended_at <= until)
        .order_by(Trip.ended_at.desc(), Trip.id.desc()).limit(1)).scalar_one_or_none()
    audit.record(audit.READ, actor=actor, subject_vehicle_id=vehicle_id, purpose=TAX,
                 details={"what": "odometer_calibration", "records": len(trips),
                          "via": "cli" if actor is None else "web"}, commit=False)
    return OdometerWindow(trips, last)


__all__ = ["AccessDenied", "OdometerTrip", "OdometerWindow", "may_calibrate", "odometer_window"]
