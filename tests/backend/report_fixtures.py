"""Trips for the report tests, ingested for real: signed uploads through POST /api/v1/trips by an
enrolled device, private trips sealed to the backend's sealing key exactly as docs/sealed-box.md
says. Built with the helpers of the ingest tests (fleet_helpers) and the access tests (seal)."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from tests.backend.access_support import seal
from tests.backend.fleet_helpers import GENESIS, chain_hash, enrolled_device, iso

LOCAL = ZoneInfo("Europe/Amsterdam")
# Digits that appear nowhere else: a private address leaking into a file is found by its bytes.
PRIVATE_HOME = (52.246813, 4.931157)
PRIVATE_SHOP = (51.982146, 5.911873)
OFFICE = (52.090712, 5.121433)
CUSTOMER = (52.370216, 4.895168)
PRIVATE_MARKERS = ("52.246813", "4.931157", "51.982146", "5.911873", "52,246813", "4,931157",
                   "52.24681", "4.93116", "51.98215", "5.91187")

DRIVER_EMAIL = "daan@example.nl"
DRIVER_NAME = "Daan de Vries"
FINANCE_EMAIL = "fatima@example.nl"
KENTEKEN = "GB-XJ-12"


@dataclass(frozen=True)
class Planned:
    day: date
    km: float
    mode: str = "business"
    hour: int = 8
    skip_seq: bool = False  # leave a hole in the device's hash chain before this record
    odometer_jump: float = 0.0  # km driven without the device before this trip
    flags: tuple[str, ...] = ()  # the device's flags


@dataclass
class Fleet:
    driver: int
    finance: int
    other_driver: int
    device: object
    year: int


def people(make_user) -> tuple[int, int, int]:
    return (make_user(DRIVER_EMAIL, "driver", name=DRIVER_NAME),
            make_user(FINANCE_EMAIL, "finance", name="Fatima El Amrani"),
            make_user("eva@example.nl", "driver", name="Eva Mulder"))


def records(plan: list[Planned], public_raw: bytes, *, odometer: float = 20000.0) -> list[dict]:
    """Signed-chain records for the plan; a skipped seq still advances the chain (the missing
    record exists on the device but never reaches the backend)."""
    out, prev_hash, seq = [], GENESIS, 0
    for item in plan:
        seq += 1
        if item.skip_seq:
            seq += 1
            prev_hash = "f" * 64  # the hash of the record that never arrived
        odometer += item.odometer_jump
        started = datetime.combine(item.day, time(item.hour, 0), LOCAL).astimezone(timezone.utc)
        ended = started + timedelta(minutes=25)
        business = item.mode == "business"
        body = {
            "v": 1, "trip_id": str(uuid.uuid4()), "seq": seq, "prev_hash": prev_hash,
            "started_at": iso(started), "ended_at": iso(ended), "mode": item.mode,
            "start": list(OFFICE) if business else None, "end": list(CUSTOMER) if business else None,
            "start_sealed": None if business else seal(PRIVATE_HOME, public_raw),
            "end_sealed": None if business else seal(PRIVATE_SHOP, public_raw),
            "distance_km": round(item.km, 3), "odometer_start_km": round(odometer, 3),
            "odometer_end_km": round(odometer + item.km, 3), "flags": list(item.flags), "gaps": [],
            "track": [[iso(started), *OFFICE], [iso(ended), *CUSTOMER]] if business else [],
        }
        odometer = body["odometer_end_km"]
        prev_hash = chain_hash(prev_hash, body)
        out.append({**body, "hash": prev_hash})
    return out


def upload(app, client, device, plan: list[Planned], **kwargs) -> None:
    from backend import sealing_keys
    with app.app_context():
        public_raw = sealing_keys.current_key().public_raw
    batch = records(plan, public_raw, **kwargs)
    for i in range(0, len(batch), 400):
        response = device.post(client, batch[i:i + 400])
        assert response.status_code == 200, response.get_json()


def standard_plan(year: int) -> list[Planned]:
    """A working year in miniature: business trips, private trips, a gap of km driven without
    the device, and a hole in the device's chain."""
    plan = []
    day = date(year, 1, 6)
    for week in range(0, 48, 4):
        start = day + timedelta(weeks=week)
        plan.append(Planned(start, 12.5))
        plan.append(Planned(start + timedelta(days=1), 30.25, hour=9))
        plan.append(Planned(start + timedelta(days=2), 7.4, mode="private", hour=18))
    plan[4] = Planned(plan[4].day, plan[4].km, odometer_jump=3.2)
    plan[9] = Planned(plan[9].day, plan[9].km, skip_seq=True)
    return plan


def fleet(app, client, make_user, tmp_path, *, year: int = 2025, plan: list[Planned] | None = None,
          assigned_from: str | None = None) -> Fleet:
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    driver, finance, other = people(make_user)
    device = enrolled_device(app, client, kenteken=KENTEKEN, driver_email=DRIVER_EMAIL,
                             assigned_from=assigned_from or f"{year}-01-01")
    upload(app, client, device, plan if plan is not None else standard_plan(year))
    return Fleet(driver, finance, other, device, year)


def dumps(value) -> str:
    return json.dumps(value, default=str)
