"""Trips for the odometer tests, ingested for real: signed, hash-chained records uploaded by an
enrolled device through POST /api/v1/trips (built with the ingest tests' helpers)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from backend.db import db
from tests.backend.fleet_helpers import GENESIS, DeviceClient, enrolled_device, make_record

T0 = datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc)


@dataclass
class Car:
    """A vehicle with an enrolled device; drive() uploads trips, the device odometer runs on."""

    app: object
    client: object
    kenteken: str
    device: DeviceClient
    odometer: float = 20_000.0
    seq: int = 0
    prev_hash: str = GENESIS
    trip_ids: list[int] = field(default_factory=list)

    def drive(self, *trips: tuple[datetime, float], mode: str = "business") -> list[int]:
        """Upload trips given as (start, km); each lasts 20 minutes. Returns their ids."""
        from backend.models.trips import Trip

        records = []
        for started, km in trips:
            self.seq += 1
            record = make_record(self.seq, self.prev_hash, started=started, odometer=self.odometer, km=km, mode=mode)
            self.prev_hash, self.odometer = record["hash"], record["odometer_end_km"]
            records.append(record)
        response = self.device.post(self.client, records)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["stored"] == len(records)
        with self.app.app_context():
            ids = dict(db.session.execute(select(Trip.device_trip_id, Trip.id).where(
                Trip.device_trip_id.in_([r["trip_id"] for r in records]))).all())
        new = [ids[r["trip_id"]] for r in records]
        self.trip_ids += new
        return new


def car(app, client, *, kenteken: str = "GB-XJ-12", driver_email: str | None = None,
        assigned_from: str = "2026-01-01", odometer: float = 20_000.0) -> Car:
    device = enrolled_device(app, client, kenteken=kenteken, driver_email=driver_email, assigned_from=assigned_from)
    return Car(app, client, kenteken, device, odometer=odometer)


def hourly(start: datetime, kms: list[float]) -> list[tuple[datetime, float]]:
    return [(start + timedelta(hours=i), km) for i, km in enumerate(kms)]
