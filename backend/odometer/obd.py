"""The car's own odometer, uploaded with the trips (OBD-II PID A6 through the device's adapter),
taken as calibration readings: source "obd", no photo, booked by the system.

After a batch is stored, its latest trip whose record carries `odometer_source: "obd"` gives a
reading at the trip's end with the trip's end odometer, at most one a week per car (a reading is a
row in every report; a week keeps them few while the reminder, due two months after the latest
reading, never comes as long as the car keeps reporting). A reading the service refuses (out of
order, implausible speed) is logged and skipped: the trips are stored all the same."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from backend.db import db
from backend.models.fleet import Device, Vehicle
from backend.odometer import service

log = logging.getLogger(__name__)

SOURCE = "obd"
READING_INTERVAL = timedelta(days=7)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


def book_car_reading(device: Device, records: list[dict[str, Any]]) -> bool:
    """Book the batch's latest car odometer as a reading when one is due; True when booked."""
    readings = [r for r in records if r.get("odometer_source") == SOURCE]
    if not readings:
        return False
    latest_record = max(readings, key=lambda r: (r["ended_at"], r["seq"]))
    read_at = _utc(latest_record["ended_at"])
    vehicle = db.session.get(Vehicle, device.vehicle_id)
    if vehicle is None:
        return False
    previous = service.latest(vehicle.id)
    if previous is not None and read_at < previous.read_at.astimezone(timezone.utc) + READING_INTERVAL:
        return False
    try:
        service.record(vehicle, Decimal(str(latest_record["odometer_end_km"])), read_at, None, via_cli=True,
                       source=SOURCE)
    except service.CalibrationError as exc:
        db.session.rollback()
        log.warning("car odometer reading of vehicle %s not booked: %s", vehicle.id, exc.msgid)
        return False
    return True
