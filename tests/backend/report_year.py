"""A tax year of realistic data built from the REAL recordings in tests/data/nmea.

The moving recordings are replayed through the device's own pure stages (device.nmea's
FixAssembler and read_fixes -> device.trips.TripDetector, as device/pipeline.py wires them), which
gives the trips a real car drove, with real tracks and odometer figures. Those trips are then
shifted in time onto the days of one tax year - a trip every working day, a private trip on some
Saturdays, two holidays without trips - and ingested the real way: hash-chained records built
with device.chain's rules, private positions sealed to the backend's key (docs/sealed-box.md),
signed uploads to POST /api/v1/trips by an enrolled device. Finance then classifies some trips
(commute on Mondays, private on some Fridays, private detours) through backend.trips.revisions.

Only what moves in time moves: positions, distances and tracks are the recordings' own. The
business trips are the 3 h Garmin drive near Lake Tahoe (dotmorten, 6 trips); the private trips
are the St Petersburg dashcam drive (leaflet), whose positions occur in no business trip, so a
private position that leaks into a file is found by its digits.
"""
from __future__ import annotations

import pathlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from device import chain
from device.model import TripRecord
from device.nmea import RECORDING_MIN_DATE, FixAssembler, read_fixes
from device.trips import TripClosed, TripDetector
from tests.backend.access_support import seal
from tests.backend.fleet_helpers import enrolled_device

LOCAL = ZoneInfo("Europe/Amsterdam")
NMEA = pathlib.Path(__file__).resolve().parents[1] / "data" / "nmea"
BUSINESS_RECORDING = "dotmorten__NmeaSampleData"
PRIVATE_RECORDING = "leaflet-nmealayer__test"

YEAR = 2025
AVAILABLE_FROM = date(YEAR, 3, 1)  # the car came mid-year: the 500 km rule is pro-rated
HOLIDAYS = ((date(YEAR, 7, 21), date(YEAR, 8, 10)), (date(YEAR, 12, 22), date(YEAR, 12, 31)))
ODOMETER_JUMP_KM = 84.2  # driven without the device (repair shop) before the first trip after summer
CHAIN_HOLE_MONTH = 10  # the first trip of October follows a record that never arrived
PRIVATE_FRIDAYS = (5, 6, 9, 10)  # months whose Friday trips finance classifies private
DETOUR_KM = Decimal("2.5")  # on trips of 5 km or more (a detour cannot exceed its trip)

DRIVER_EMAIL = "jan@example.nl"
DRIVER_NAME = "Jan Jansen"
FINANCE_EMAIL = "fenna@example.nl"
KENTEKEN = "GB-XJ-12"
KM = Decimal("0.1")


def replay(name: str) -> list[TripRecord]:
    """The trips the device's detector makes of one recording (as device.pipeline feeds it)."""
    detector = TripDetector()
    events = []
    fixes = read_fixes([(NMEA / f"{name}.nmea").read_bytes()], FixAssembler(min_date=RECORDING_MIN_DATE))
    for fix in fixes:
        events += detector.feed(fix)
    events += detector.finish()
    return [event.record for event in events if isinstance(event, TripClosed)]


@dataclass(frozen=True)
class Replayed:
    business: tuple[TripRecord, ...]
    private: tuple[TripRecord, ...]


def replay_recordings() -> Replayed:
    return Replayed(tuple(replay(BUSINESS_RECORDING)), tuple(replay(PRIVATE_RECORDING)))


def private_markers(replayed: Replayed) -> list[str]:
    """Digits of the private trips' start and end positions as a report would print them (5
    decimals, '.' and ','), and as the device records them (6 decimals)."""
    markers = []
    for trip in replayed.private:
        for lat, lon in (trip.start, trip.end):
            for value in (lat, lon):
                markers += [f"{value:.5f}", f"{value:.5f}".replace(".", ","), f"{chain.coord(value):.6f}"]
    return sorted(set(markers))


@dataclass
class Planned:
    trip: TripRecord
    started: datetime  # aware UTC: the day's start time, the recording's own duration
    mode: str
    skip_seq: bool = False
    odometer_jump: float = 0.0
    classification: str | None = None  # what finance sets afterwards (None: left unclassified)
    detour: Decimal = Decimal(0)  # private detour km finance books afterwards

    @property
    def day(self) -> date:
        return self.started.astimezone(LOCAL).date()


@dataclass
class Year:
    driver: int
    finance: int
    vehicle_id: int
    plan: list[Planned]
    records: list[dict]  # as uploaded, in order
    trip_ids: list[int]  # backend ids, in order
    device: object = None  # the enrolled device (tests.backend.fleet_helpers.DeviceClient)


def _in_holiday(day: date) -> bool:
    return any(first <= day <= last for first, last in HOLIDAYS)


def plan_year(replayed: Replayed) -> list[Planned]:
    """A business trip every working day at 08:00 (the recording's trips in turn), a private
    trip every third Saturday at 10:30, nothing in the holidays."""
    plan: list[Planned] = []
    day, n = AVAILABLE_FROM, 0
    jump_pending, hole_pending = True, True
    while day.year == YEAR:
        if not _in_holiday(day):
            if day.weekday() < 5:
                trip = replayed.business[n % len(replayed.business)]
                n += 1
                item = Planned(trip, datetime.combine(day, time(8, 0), LOCAL).astimezone(timezone.utc), "business")
                if jump_pending and day > HOLIDAYS[0][1]:
                    item.odometer_jump, jump_pending = ODOMETER_JUMP_KM, False
                if hole_pending and day.month == CHAIN_HOLE_MONTH:
                    item.skip_seq, hole_pending = True, False
                # Finance's classifications: commute on Mondays, private on the Fridays of some
                # months, a private detour on longer Wednesday trips of the first fortnight.
                if day.weekday() == 0:
                    item.classification = "commute"
                elif day.weekday() == 1:
                    item.classification = "business"  # the driver's Tuesday customer visits
                elif day.weekday() == 4 and day.month in PRIVATE_FRIDAYS:
                    item.classification = "private"
                elif day.weekday() == 2 and day.day <= 14 and day.month in (4, 5, 9) and trip.distance_km >= 5:
                    item.detour = DETOUR_KM
                plan.append(item)
            elif day.weekday() == 5 and day.isocalendar().week % 3 == 0:
                for trip in replayed.private:
                    plan.append(Planned(trip, datetime.combine(day, time(10, 30), LOCAL).astimezone(timezone.utc),
                                        "private"))
        day += timedelta(days=1)
    return plan


def _shift(moment: datetime, delta: timedelta) -> str:
    return chain.iso_utc(moment + delta)


def records(plan: list[Planned], public_raw: bytes) -> list[dict]:
    """The device's records for the plan: canonical JSON hash chain (device.chain), odometer
    carried from trip to trip as the device keeps it, private positions sealed and no track."""
    out, prev_hash, seq, odometer = [], chain.GENESIS_HASH, 0, 31_250.0
    for item in plan:
        trip = item.trip
        seq += 1
        if item.skip_seq:
            seq += 1
            prev_hash = "e" * 64  # the hash of the record that never reached the backend
        odometer = chain.km(odometer + item.odometer_jump)
        delta = item.started - trip.started_at
        business = item.mode == "business"
        end_odometer = chain.km(odometer + trip.distance_km)
        body = {
            "v": 1, "trip_id": str(uuid.uuid4()), "seq": seq, "prev_hash": prev_hash,
            "started_at": _shift(trip.started_at, delta), "ended_at": _shift(trip.ended_at, delta),
            "mode": item.mode,
            "start": [chain.coord(trip.start[0]), chain.coord(trip.start[1])] if business else None,
            "end": [chain.coord(trip.end[0]), chain.coord(trip.end[1])] if business else None,
            "start_sealed": None if business else seal(trip.start, public_raw),
            "end_sealed": None if business else seal(trip.end, public_raw),
            "distance_km": chain.km(trip.distance_km), "odometer_start_km": odometer,
            "odometer_end_km": end_odometer, "flags": sorted(trip.flags),
            "gaps": [{"started_at": _shift(g.started_at, delta), "ended_at": _shift(g.ended_at, delta),
                      "distance_km": chain.km(g.distance_km), "bridged": bool(g.bridged)} for g in trip.gaps],
            "track": [[_shift(p.time, delta), chain.coord(p.lat), chain.coord(p.lon)] for p in trip.track]
            if business else [],
        }
        prev_hash = chain.chain_hash(prev_hash, chain.canonical_json(body))
        out.append({**body, "hash": prev_hash})
        odometer = end_odometer
    return out


def build_year(app, client, make_user, tmp_path, replayed: Replayed) -> Year:
    """Users, car, enrolled device, the year's records uploaded, finance's classifications."""
    from sqlalchemy import select

    from backend import sealing_keys
    from backend.db import db
    from backend.fleet import service
    from backend.models.accounts import User
    from backend.models.trips import Trip
    from backend.trips import revisions

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    driver = make_user(DRIVER_EMAIL, "driver", name=DRIVER_NAME)
    finance = make_user(FINANCE_EMAIL, "finance", name="Fenna de Boer")
    device = enrolled_device(app, client, kenteken=KENTEKEN, driver_email=DRIVER_EMAIL,
                             assigned_from=AVAILABLE_FROM.isoformat())
    with app.app_context():
        public_raw = sealing_keys.current_key().public_raw
    plan = plan_year(replayed)
    batch = records(plan, public_raw)
    for start in range(0, len(batch), 100):
        response = device.post(client, batch[start:start + 100])
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["stored"] == len(batch[start:start + 100])
    with app.app_context():
        ids = dict(db.session.execute(select(Trip.device_trip_id, Trip.id)).all())  # test set-up, not app code
        vehicle_id = service.find_vehicle(KENTEKEN).id
    trip_ids = [ids[r["trip_id"]] for r in batch]
    with app.app_context():
        fenna = db.session.get(User, finance)
        for classification, reason in (("commute", "rooster: maandag op kantoor"),
                                       ("business", "klantbezoeken op dinsdag"),
                                       ("private", "opgave bestuurder: vrijdag privé")):
            revisions.revise(fenna, [i for i, p in zip(trip_ids, plan) if p.classification == classification],
                             {"classification": classification}, reason=reason)
        revisions.revise(fenna, [i for i, p in zip(trip_ids, plan) if p.detour],
                         {"private_detour_km": str(DETOUR_KM), "detour": "langs de bakker"}, reason="opgave bestuurder")
    return Year(driver, finance, vehicle_id, plan, batch, trip_ids, device)


def row_km(record: dict) -> Decimal:
    """A trip's km as the tax rule has it (docs/reports.md): the printed odometer end minus the
    printed start, each rounded half up to 0.1 km."""
    return _km(record["odometer_end_km"]) - _km(record["odometer_start_km"])


def _km(value: float) -> Decimal:
    return Decimal(str(value)).quantize(KM, rounding=ROUND_HALF_UP)


def expected_private_km(plan: list[Planned], batch: list[dict]) -> Decimal:
    """Private km computed from the plan alone: trips recorded private or classified private by
    finance, plus every private detour."""
    total = Decimal(0)
    for item, record in zip(plan, batch):
        if item.mode == "private" or item.classification == "private":
            total += row_km(record)
        total += item.detour
    return total


def available_days() -> int:
    return (date(YEAR, 12, 31) - AVAILABLE_FROM).days + 1


def days_in_year() -> int:
    return (date(YEAR + 1, 1, 1) - date(YEAR, 1, 1)).days


def gps_odometer_at(batch: list[dict], moment: datetime) -> float:
    """The device odometer at `moment`: the end of the last record that ended by then."""
    ended = [r for r in batch if datetime.fromisoformat(r["ended_at"].replace("Z", "+00:00")) <= moment]
    return ended[-1]["odometer_end_km"]


def calibrate(app, year: Year, readings: list[tuple[datetime, float]], *, reason: str | None = None) -> None:
    """Finance records dashboard readings: each given as (moment, km the dashboard shows above
    the device odometer at that moment). Readings 3 h after a day's trips (cars are parked)."""
    from backend.db import db
    from backend.fleet import service as fleet
    from backend.models.accounts import User
    from backend.odometer import service

    with app.app_context():
        finance = db.session.get(User, year.finance)
        vehicle = fleet.get_vehicle(KENTEKEN)
        for moment, above in readings:
            dashboard = round(gps_odometer_at(year.records, moment) + above, 1)
            kwargs = {"confirm_reason": reason} if reason else {}
            service.record(vehicle, dashboard, moment, finance, **kwargs)


def two_percent_calibrations(year: Year) -> list[tuple[datetime, float]]:
    """A first reading on 1 April (offset 17 000 km), then one on 1 July 2% above the GPS km
    driven since."""
    first = datetime(YEAR, 4, 1, 18, 0, tzinfo=timezone.utc)
    second = datetime(YEAR, 7, 1, 18, 0, tzinfo=timezone.utc)
    offset = 17_000.0
    driven = gps_odometer_at(year.records, second) - gps_odometer_at(year.records, first)
    return [(first, offset), (second, offset + driven * 0.02)]
