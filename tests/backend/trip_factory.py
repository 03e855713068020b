"""Trips for the revision, counter and driver-page tests, created the real way: signed,
hash-chained records uploaded to POST /api/v1/trips by an enrolled device (private trips with
positions sealed to the backend's key, as a device in private mode does)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from backend.db import db
from tests.backend.access_support import seal
from tests.backend.fleet_helpers import GENESIS, DeviceClient, chain_hash, enrolled_device, iso

UTRECHT = (52.090712, 5.121433)
AMSTERDAM = (52.370216, 4.895168)


@dataclass
class TripSpec:
    started: datetime  # aware
    km: float = 12.5
    mode: str = "business"  # or "private"
    start: tuple[float, float] = UTRECHT
    end: tuple[float, float] = AMSTERDAM
    minutes: int = 20
    flags: tuple[str, ...] = ()  # the device's flags
    km_unrecorded_before: float = 0.0  # odometer km driven without the device before this trip


def record(seq: int, prev_hash: str, spec: TripSpec, odometer: float, sealing_public: bytes | None) -> dict:
    started = spec.started.astimezone(timezone.utc)
    ended = started + timedelta(minutes=spec.minutes)
    business = spec.mode == "business"
    middle = ((spec.start[0] + spec.end[0]) / 2 + 0.01, (spec.start[1] + spec.end[1]) / 2)
    body = {
        "v": 1, "trip_id": str(uuid.uuid4()), "seq": seq, "prev_hash": prev_hash,
        "started_at": iso(started), "ended_at": iso(ended), "mode": spec.mode,
        "start": list(spec.start) if business else None, "end": list(spec.end) if business else None,
        "start_sealed": None if business else seal(spec.start, sealing_public),
        "end_sealed": None if business else seal(spec.end, sealing_public),
        "distance_km": round(spec.km, 3), "odometer_start_km": round(odometer, 3),
        "odometer_end_km": round(odometer + spec.km, 3), "flags": list(spec.flags), "gaps": [],
        "track": ([[iso(started), *spec.start], [iso(started + timedelta(minutes=spec.minutes // 2)), *middle],
                   [iso(ended), *spec.end]] if business else []),
    }
    return {**body, "hash": chain_hash(prev_hash, body)}


class TripFactory:
    """One vehicle with an enrolled device, assigned to a driver; upload() ingests trips."""

    def __init__(self, app, client, *, driver_email: str, kenteken: str = "GB-XJ-12",
                 assigned_from: str = "2026-01-01") -> None:
        self.app, self.client = app, client
        self.device: DeviceClient = enrolled_device(app, client, kenteken=kenteken, driver_email=driver_email,
                                                    assigned_from=assigned_from)
        self.seq, self.prev_hash, self.odometer = 0, GENESIS, 10_000.0
        self.sent: list[dict] = []  # every record uploaded, in order (a test may send one again)

    def upload(self, *specs: TripSpec) -> list[int]:
        """Ingest the trips in one signed batch; returns their backend ids in order."""
        from backend import sealing_keys
        from backend.models.trips import Trip

        with self.app.app_context():
            public = sealing_keys.current_key().public_raw
        records = []
        for spec in specs:
            self.seq += 1
            rec = record(self.seq, self.prev_hash, spec, self.odometer + spec.km_unrecorded_before, public)
            self.prev_hash, self.odometer = rec["hash"], rec["odometer_end_km"]
            records.append(rec)
        response = self.device.post(self.client, records)
        self.sent.extend(records)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["stored"] == len(records)
        with self.app.app_context():
            ids = dict(db.session.execute(select(Trip.device_trip_id, Trip.id).where(
                Trip.device_trip_id.in_([r["trip_id"] for r in records]))).all())
        return [ids[r["trip_id"]] for r in records]


def days_ago(days: float, hour: int = 8) -> datetime:
    """A moment `days` before now, at a fixed UTC hour (so windows are counted from real now)."""
    moment = datetime.now(timezone.utc) - timedelta(days=days)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)
