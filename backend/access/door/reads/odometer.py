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
from backend.models.odometer import OdometerCalibration, OdometerCorrection
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


# --- the corrections booked by calibrations (backend/odometer/service.py writes them) ---------
# Per trip the share of a calibration's difference: personal data of the trip's driver, read
# only here, for the reports (no decision of its own: the report's trips came through the door).

@dataclass(frozen=True)
class CorrectionRow:
    """One booked correction share, for the reports (docs/odometer.md)."""

    calibration_id: int
    vehicle_id: int
    read_at: datetime  # when the dashboard showed the reading that booked it
    trip_id: int | None  # None: no trip since the previous calibration
    gps_distance_m: int  # the trip's original GPS distance
    correction_m: int  # its share; calibrated distance = gps_distance_m + correction_m
    dashboard_m: int  # the reading
    gps_odometer_m: int | None  # the GPS-based odometer at read_at (original figure)
    recorded_by: str  # name of the person, or "cli"
    recorded_as: str  # "finance", "driver" or "cli"
    recorded_at: datetime


def correction_rows(vehicle_id: int, start: datetime | None = None, end: datetime | None = None) -> list[CorrectionRow]:
    """Correction rows of the calibrations read in [start, end) (UTC), oldest first."""
    statement = (select(OdometerCorrection, OdometerCalibration)
                 .join(OdometerCalibration, OdometerCorrection.calibration_id == OdometerCalibration.id)
                 .where(OdometerCorrection.vehicle_id == vehicle_id)
                 .order_by(OdometerCalibration.read_at, OdometerCorrection.id))
    if start is not None:
        statement = statement.where(OdometerCalibration.read_at >= start)
    if end is not None:
        statement = statement.where(OdometerCalibration.read_at < end)
    return [CorrectionRow(cal.id, cal.vehicle_id, cal.read_at, row.trip_id, row.gps_distance_m, row.correction_m,
                          cal.dashboard_m, cal.gps_odometer_m,
                          cal.recorded_by.name if cal.recorded_by else "cli", cal.recorded_as, cal.recorded_at)
            for row, cal in db.session.execute(statement)]


def corrections_by_trip(vehicle_id: int) -> dict[int, int]:
    """trip id -> total correction in metres booked on it (every calibration)."""
    totals: dict[int, int] = {}
    for trip_id, share in db.session.execute(
            select(OdometerCorrection.trip_id, OdometerCorrection.correction_m)
            .where(OdometerCorrection.vehicle_id == vehicle_id, OdometerCorrection.trip_id.is_not(None))):
        totals[trip_id] = totals.get(trip_id, 0) + share
    return totals


__all__ = ["AccessDenied", "CorrectionRow", "OdometerTrip", "OdometerWindow", "correction_rows",
           "corrections_by_trip", "may_calibrate", "odometer_window"]
