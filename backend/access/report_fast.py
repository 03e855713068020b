"""The tax report's read of a year, without the columns a report never uses.

report_reads.tax_report_rows (the door package's plain-column read) also fetches the device's
gap list and decodes the flag lists of every trip as JSON: for a busy car's year that decoding
costs a third of the whole query, while a report prints no gaps and most trips carry no flags.
tax_report_rows here is the same read - the same access decision through the door's own _decide,
the same narrowing, the same rows in the same order, the same READ audit event - except that:

- `gaps` is not read (TripView.gaps is empty): the report has no column for it;
- `flags` and `ingest_flags` are fetched as their JSON text and decoded only when not empty.

It lives in the door package (the only reader of trip tables) and must stay in step with
report_reads.tax_report_rows; tests/backend/test_report_fast.py holds the two to equal views and
equal audit events.
"""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import Text, and_, cast, or_, select

from backend.access import door
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TAX, TRIP_SUMMARIES
from backend.db import db
from backend.models.accounts import User
from backend.models.trips import Trip, TripMode

_COLUMNS = (Trip.id, Trip.vehicle_id, Trip.driver_id, Trip.started_at, Trip.ended_at, Trip.odometer_start_km,
            Trip.odometer_end_km, Trip.distance_km, Trip.mode,
            cast(Trip.flags, Text).label("flags"), cast(Trip.ingest_flags, Text).label("ingest_flags"),
            Trip.start_lat, Trip.start_lon, Trip.end_lat, Trip.end_lon,
            or_(Trip.start_sealed.is_not(None), Trip.end_sealed.is_not(None)).label("sealed"))
_EMPTY = (None, "", "[]", "null")


def _flags(text: str | None) -> tuple[str, ...]:
    return () if text in _EMPTY else tuple(json.loads(text))


def tax_report_rows(actor: User, *, year: int, driver_id: int | None = None,
                    vehicle_id: int | None = None, commit: bool = True) -> list[door.TripView]:
    """report_reads.tax_report_rows without gaps and with lazily decoded flags (see above).
    commit=False leaves the READ audit event in the caller's transaction."""
    if (driver_id is None) == (vehicle_id is None):
        raise ValueError("tax_report_rows needs exactly one of driver_id and vehicle_id")
    period = (date(year, 1, 1), date(year, 12, 31))
    access = door._decide(actor, TAX, TRIP_SUMMARIES, driver_id=driver_id, vehicle_id=vehicle_id, period=period)
    # A report never carries private positions or tracks, whoever asks.
    access = door._Access(access.purpose, access.categories - {PRIVATE_TRIP_DETAILS, BUSINESS_TRACKS},
                          access.own, access.grant, access.driver_id, access.vehicle_id, access.period)
    conditions = []
    for column, values in ((Trip.driver_id, (driver_id, access.driver_id)),
                           (Trip.vehicle_id, (vehicle_id, access.vehicle_id))):
        conditions.extend(column == value for value in values if value is not None)
    bounds = door._utc_bounds(door._narrow(period, access.period))
    if bounds:
        conditions += [Trip.started_at >= bounds[0], Trip.started_at < bounds[1]]
    rows = db.session.execute(select(*_COLUMNS).where(and_(*conditions))
                              .order_by(Trip.started_at, Trip.id)).all()
    business = TripMode.BUSINESS.value
    views = []
    TripView, Position, empty = door.TripView, door.Position, _EMPTY
    for (trip_id, trip_vehicle, trip_driver, started_at, ended_at, odo_start, odo_end, distance, mode, flags,
         ingest_flags, start_lat, start_lon, end_lat, end_lon, sealed) in rows:
        is_business = mode == business
        views.append(TripView(
            id=trip_id, vehicle_id=trip_vehicle, driver_id=trip_driver, started_at=started_at, ended_at=ended_at,
            odometer_start_km=odo_start, odometer_end_km=odo_end, distance_km=distance, mode=mode,
            flags=() if flags in empty else _flags(flags),
            ingest_flags=() if ingest_flags in empty else _flags(ingest_flags), gaps=(),
            start=Position(start_lat, start_lon) if is_business and start_lat is not None else None,
            end=Position(end_lat, end_lon) if is_business and end_lat is not None else None,
            positions_withheld=not is_business and bool(sealed)))
    if not access.own:
        door._audit_read(actor, access, rows, what="tax_report", commit=False)
        if commit:
            db.session.commit()
    return views
