"""Odometer calibration: record a dashboard reading, book the correction, remind when due.

- The first calibration of a car establishes its offset (dashboard minus GPS-based odometer);
  it books nothing.
- Every later one compares the dashboard km since the previous calibration with the GPS km of
  the trips in between (trips that started after the previous reading and ended by this one),
  and books the difference as one correction row per trip, spread in proportion to distance
  (backend.odometer.spread). With no trip in between, the difference is one row on its own.
- The trips keep their GPS figures; reports show both (docs/odometer.md).
- A calibration is due two calendar months after the previous one; the reminder job records
  a reminder for finance and the car's current driver.
"""
from __future__ import annotations

import calendar
from collections import defaultdict
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from backend import audit
from backend.access import door
from backend.accounts import users_in_role
from backend.db import IN_LIST_SIZE, db, in_chunks, utcnow
from backend.errors import N_, UserError
from backend.local_time import LOCAL, start_of_day_utc
from backend.models.accounts import Role, User
from backend.models.fleet import Assignment, Device, DeviceStatus, Vehicle
from backend.models.odometer import OdometerCalibration, OdometerCorrection, OdometerReminder
from backend.numbers import metres_km_nl
from backend.odometer import photos, reminder_mail
from backend.odometer.spread import km_to_m, spread

log = logging.getLogger(__name__)
ODOMETER_CALIBRATED = audit.kind("odometer_calibrated", _l("Odometer calibrated"))
REMINDER_MONTHS = 2  # the tax norm: calibrate at least every two months
MAX_DASHBOARD_KM = 2_000_000  # no car's odometer shows more
MAX_AVERAGE_KMH = 200  # faster on average since the previous reading is not a real reading
CLOCK_SKEW = timedelta(minutes=5)
# A reading is implausible when the dashboard km since the previous reading differ from the GPS
# km of the trips in between by more than 5% of those km (at least 1 km: dashboards show whole
# km). Such a reading is booked only when someone confirms it with a reason.
PLAUSIBLE_RATIO = Decimal("0.05")
PLAUSIBLE_MIN_M = 1000




class CalibrationError(UserError):
    """A reading that is refused; msgid is English with %(name)s placeholders (the CLI prints
    it as is, the page shows it translated)."""



def parse_km(text: str | float | int | Decimal) -> int:
    """A dashboard reading in km (Dutch "12.345,6" or "12345.6" or a number) as metres."""
    if isinstance(text, (int, float, Decimal)) and not isinstance(text, bool):
        value = Decimal(str(text))
    else:
        cleaned = str(text).strip().replace(" ", "")
        # Dutch: dots group thousands, the comma is the decimal sign. Without a comma, dots in
        # groups of three ("48.213") are thousands too; otherwise a dot is a decimal point.
        if "," in cleaned or re.fullmatch(r"\d{1,3}(\.\d{3})+", cleaned):
            cleaned = cleaned.replace(".", "").replace(",", ".")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise CalibrationError(N_("%(text)s is not a number of km."), text=text) from None
    if not value.is_finite():
        raise CalibrationError(N_("%(text)s is not a number of km."), text=text)
    if value < 0:
        raise CalibrationError(N_("An odometer reading cannot be negative."))
    if value > MAX_DASHBOARD_KM:
        raise CalibrationError(N_("%(km)s km is implausibly high for an odometer."), km=value)
    return int((value * 1000).to_integral_value())


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_on(calibration: OdometerCalibration) -> date:
    """The local day by which the next calibration is due (two calendar months later)."""
    return add_months(calibration.read_at.astimezone(LOCAL).date(), REMINDER_MONTHS)


@dataclass(frozen=True)
class DueStatus:
    vehicle: Vehicle
    last: OdometerCalibration | None
    due_date: date | None  # None: never calibrated
    overdue: bool

    @property
    def state(self) -> str:
        if self.last is None:
            return "never"
        return "overdue" if self.overdue else "ok"


def latest(vehicle_id: int) -> OdometerCalibration | None:
    return db.session.scalar(select(OdometerCalibration).where(OdometerCalibration.vehicle_id == vehicle_id)
                             .order_by(OdometerCalibration.read_at.desc()).limit(1))


def calibrations_for_vehicle(vehicle_id: int) -> list[OdometerCalibration]:
    """Newest first, with their corrections (selectin-loaded)."""
    return list(db.session.scalars(select(OdometerCalibration).where(OdometerCalibration.vehicle_id == vehicle_id)
                                   .order_by(OdometerCalibration.read_at.desc())))


def due_status(vehicle: Vehicle, today: date | None = None) -> DueStatus:
    today = today or utcnow().astimezone(LOCAL).date()
    last = latest(vehicle.id)
    if last is None:
        return DueStatus(vehicle, None, None, True)
    due = due_on(last)
    return DueStatus(vehicle, last, due, today > due)


def vehicles_for(actor: User, at: datetime | None = None) -> list[Vehicle]:
    """The cars the actor may calibrate: every car for finance, the assigned ones for a driver."""
    if actor.has_role(Role.FINANCE):
        return list(db.session.scalars(select(Vehicle).order_by(Vehicle.kenteken)))
    day = (at or utcnow()).astimezone(LOCAL).date()
    assignments = db.session.scalars(select(Assignment).where(Assignment.driver_id == actor.id))
    vehicles = {a.vehicle.id: a.vehicle for a in assignments if a.covers(day)}
    return sorted(vehicles.values(), key=lambda v: v.kenteken)


def plausible_bound_m(gps_delta_m: int) -> int:
    """The largest correction (either sign) a reading may book without a confirming reason."""
    return max(PLAUSIBLE_MIN_M, int(PLAUSIBLE_RATIO * gps_delta_m))


def is_implausible(calibration) -> bool:
    """Whether a booked reading lay beyond the plausibility bound (it then carries a reason)."""
    if calibration.correction_m is None:
        return False
    return abs(calibration.correction_m) > plausible_bound_m(calibration.gps_delta_m or 0)


def record(vehicle: Vehicle, dashboard_km: str | float | int | Decimal, read_at: datetime, actor: User | None,
           *, photo: bytes | None = None, via_cli: bool = False, now: datetime | None = None,
           confirm_reason: str | None = None, source: str = "dashboard") -> OdometerCalibration:
    """Record a dashboard reading and book its correction. Raises CalibrationError with the
    reason when the reading is refused (an implausible one unless confirm_reason is given),
    door.AccessDenied when the actor may not. `source` "obd": the car's own odometer
    from its trips (backend.odometer.obd), booked by the system (via_cli)."""
    now = now or utcnow()
    confirm_reason = (confirm_reason or "").strip()[:500] or None
    if read_at.tzinfo is None:
        raise ValueError("read_at must be timezone-aware")
    read_at = read_at.astimezone(timezone.utc).replace(microsecond=0)
    dashboard_m = parse_km(dashboard_km)
    if read_at > now + CLOCK_SKEW:
        raise CalibrationError(N_("The reading's time lies in the future."))
    if actor is None and not via_cli:
        raise ValueError("only the CLI records a reading without a user")
    if actor is not None and not door.may_calibrate(actor, vehicle.id, read_at):
        # Through the door's denial path, so the refusal is audited.
        door.odometer_window(actor, vehicle.id, None, read_at)
    previous = latest(vehicle.id)
    if previous is not None:
        if read_at <= previous.read_at:
            raise CalibrationError(
                N_("A reading must be later than the car's last calibration (%(when)s)."),
                when=previous.read_at.astimezone(LOCAL).strftime("%d-%m-%Y %H:%M"))
        if dashboard_m < previous.dashboard_m:
            raise CalibrationError(
                N_("%(km)s km is lower than the previous reading of %(previous)s km: an odometer "
                   "does not run backwards."), km=_km_text(dashboard_m), previous=_km_text(previous.dashboard_m))
        hours = (read_at - previous.read_at).total_seconds() / 3600
        if dashboard_m - previous.dashboard_m > hours * MAX_AVERAGE_KMH * 1000:
            raise CalibrationError(
                N_("%(km)s km is implausibly high: %(delta)s km since the previous reading is more "
                   "than %(speed)s km/h on average."), km=_km_text(dashboard_m),
                delta=_km_text(dashboard_m - previous.dashboard_m), speed=MAX_AVERAGE_KMH)

    if photo:  # a bad photo refuses before anything is read
        photos.validate(photo, current_app.config["ODOMETER_PHOTO_MAX_BYTES"])
    window = door.odometer_window(actor, vehicle.id, previous.read_at if previous else None,
                                            read_at, via_cli=via_cli)
    gps_odometer_m = km_to_m(window.gps_odometer_km) if window.gps_odometer_km is not None else None
    calibration = OdometerCalibration(
        vehicle_id=vehicle.id, previous_id=previous.id if previous else None, read_at=read_at,
        dashboard_m=dashboard_m, gps_odometer_m=gps_odometer_m,
        offset_m=dashboard_m - gps_odometer_m if gps_odometer_m is not None else None,
        recorded_by_id=actor.id if actor else None,
        recorded_as="cli" if actor is None else ("finance" if actor.has_role(Role.FINANCE) else "driver"),
        recorded_at=now, trips_spread=0,
        confirm_reason=None, source=source)
    rows: list[OdometerCorrection] = []
    if previous is not None:
        distances = [km_to_m(t.distance_km) for t in window.trips]
        gps_delta = sum(distances)
        if gps_odometer_m is not None and previous.gps_odometer_m is not None:
            # What the device odometer ran, a jump between trips included: that jump is an
            # unexplained row of its own in the reports, so it must not be spread over the trips
            # as correction too (it would be counted twice).
            gps_delta = max(gps_delta, gps_odometer_m - previous.gps_odometer_m)
            if source == "obd":
                # The trips' odometer is the car's own: what it ran is the km, not the GPS sum
                # (which only stands beside them); between two car readings nothing is spread.
                gps_delta = gps_odometer_m - previous.gps_odometer_m
        dashboard_delta = dashboard_m - previous.dashboard_m
        correction = dashboard_delta - gps_delta
        calibration.dashboard_delta_m, calibration.gps_delta_m = dashboard_delta, gps_delta
        calibration.correction_m = correction
        if abs(correction) > plausible_bound_m(gps_delta) and source != "obd":
            if confirm_reason is None:
                raise CalibrationError(
                    N_("%(km)s km differs %(correction)s km from the GPS km since the previous reading "
                       "(%(gps)s km), more than %(bound)s km: check the reading, or confirm it with a reason."),
                    km=_km_text(dashboard_m), correction=_km_text(correction), gps=_km_text(gps_delta),
                    bound=_km_text(plausible_bound_m(gps_delta)))
            calibration.confirm_reason = confirm_reason
        if gps_delta > 0:
            shares = spread(correction, distances)
            rows = [OdometerCorrection(vehicle_id=vehicle.id, trip_id=t.id, gps_distance_m=d, correction_m=s)
                    for t, d, s in zip(window.trips, distances, shares)]
            calibration.trips_spread = len(rows)
        elif correction != 0:
            rows = [OdometerCorrection(vehicle_id=vehicle.id, trip_id=None, gps_distance_m=0,
                                       correction_m=correction)]
    # Written only once the reading is accepted: a refused one leaves no file behind.
    stored = photos.store(photo) if photo else None
    if stored:
        calibration.photo_path, calibration.photo_sha256 = stored.path, stored.sha256
        calibration.photo_type = stored.content_type
    db.session.add(calibration)
    try:
        db.session.flush()
        for row in rows:
            row.calibration_id = calibration.id
        db.session.add_all(rows)
        for reminder in db.session.scalars(select(OdometerReminder).where(
                OdometerReminder.vehicle_id == vehicle.id, OdometerReminder.resolved_at.is_(None))):
            reminder.resolved_at = now
        audit.record(ODOMETER_CALIBRATED, actor=actor, subject_vehicle_id=vehicle.id, purpose="tax",
                     details={"calibration_id": calibration.id, "first": previous is None,
                              "correction_m": calibration.correction_m, "trips": len(rows),
                              "photo": stored is not None,
                              "confirmed_implausible": calibration.confirm_reason is not None}, commit=False)
        db.session.commit()
    except IntegrityError:  # another reading of this car was booked at the same moment
        db.session.rollback()
        raise CalibrationError(N_("Another reading of this car was recorded at the same time; reload and try again."))
    log.info("odometer calibration %d booked: %d correction row(s)", calibration.id, len(rows))
    return calibration


def _km_text(metres: int) -> str:
    return metres_km_nl(metres)


# ------------------------------------------------------------------------------ for reports

@dataclass(frozen=True)
class Reading:
    """One dashboard reading as the reports list it (docs/odometer.md)."""

    calibration_id: int
    read_at: datetime
    dashboard_m: int
    gps_odometer_m: int | None  # the device odometer at read_at
    offset_m: int | None
    previous_dashboard_m: int | None  # None: the car's first reading
    previous_read_at: datetime | None
    dashboard_delta_m: int | None
    gps_delta_m: int | None
    correction_m: int | None
    trips_spread: int
    implausible: bool
    confirm_reason: str | None
    recorded_by: str  # name of the person, or "cli"
    recorded_as: str
    recorded_at: datetime
    source: str = "dashboard"  # or "obd": the car's own odometer (backend.odometer.obd)

    @property
    def first(self) -> bool:
        return self.previous_dashboard_m is None


def readings(vehicle_id: int, start: datetime | None = None, end: datetime | None = None,
             calibrations: list[OdometerCalibration] | None = None) -> list[Reading]:
    """Every reading of the car read in [start, end) (UTC), oldest first, the first one included.
    calibrations: the car's calibrations_for_vehicle, when the caller has read them already."""
    calibrations = sorted(calibrations_for_vehicle(vehicle_id) if calibrations is None else calibrations,
                          key=lambda c: c.read_at)
    by_id = {c.id: c for c in calibrations}
    out = []
    for c in calibrations:
        if (start is not None and c.read_at < start) or (end is not None and c.read_at >= end):
            continue
        previous = by_id.get(c.previous_id)
        out.append(Reading(c.id, c.read_at, c.dashboard_m, c.gps_odometer_m, c.offset_m,
                           previous.dashboard_m if previous else None, previous.read_at if previous else None,
                           c.dashboard_delta_m, c.gps_delta_m, c.correction_m, c.trips_spread,
                           is_implausible(c), c.confirm_reason,
                           c.recorded_by.name if c.recorded_by else "cli", c.recorded_as, c.recorded_at,
                           c.source))
    return out


def first_reading(vehicle_id: int) -> OdometerCalibration | None:
    return db.session.scalar(select(OdometerCalibration).where(OdometerCalibration.vehicle_id == vehicle_id)
                             .order_by(OdometerCalibration.read_at).limit(1))


@dataclass(frozen=True)
class TripOdometer:
    """What calibrated_odometers needs of a trip (a TripView from the door has these fields)."""

    id: int
    started_at: datetime
    odometer_start_km: float
    odometer_end_km: float


def calibrated_odometers(vehicle_id: int, trips,
                         calibrations: list[OdometerCalibration] | None = None) -> dict[int, tuple[int, int]]:
    """trip id -> (calibrated start, calibrated end) odometer in metres, for the report.

    A trip between calibrations k and k+1 reads: its GPS odometer + the offset of calibration
    k + the shares of calibration k+1's correction booked on the trips of that window up to it
    (before it for the start, including it for the end). So the last trip before a reading ends
    exactly on the dashboard figure, and consecutive trips stay chained. Trips before the first
    calibration take its offset; trips after the last one its offset. Trips of a car never
    calibrated are left out (the report shows the GPS figures). `trips` are objects with id,
    started_at, odometer_start_km, odometer_end_km (TripView or TripOdometer). calibrations: the
    car's calibrations_for_vehicle, when the caller has read them already."""
    calibrations = sorted(calibrations_for_vehicle(vehicle_id) if calibrations is None else calibrations,
                          key=lambda c: c.read_at)
    if not calibrations:
        return {}
    shares = door.corrections_by_trip(vehicle_id)
    ordered = sorted(trips, key=lambda t: (t.started_at, t.id))
    result: dict[int, tuple[int, int]] = {}
    window_base: dict[int, int] = {}  # calibration index (-1: before the first) -> base offset
    running: dict[int, int] = {}  # calibration index -> shares booked so far in its window
    for trip in ordered:
        # The calibration the trip comes after (index into calibrations), -1: before the first.
        k = -1
        for index, calibration in enumerate(calibrations):
            if calibration.read_at < trip.started_at:
                k = index
        if k not in window_base:
            anchor = calibrations[max(k, 0)]
            window_base[k] = (anchor.offset_m if anchor.offset_m is not None
                              else anchor.dashboard_m - km_to_m(trip.odometer_start_km))
        base = window_base[k]
        booked = running.get(k, 0) if k >= 0 else 0
        share = shares.get(trip.id, 0) if k >= 0 else 0
        start = km_to_m(trip.odometer_start_km) + base + booked
        end = km_to_m(trip.odometer_end_km) + base + booked + share
        if k >= 0:
            running[k] = booked + share
        result[trip.id] = (start, end)
    return result


KM = Decimal("0.1")


def _to_km(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(KM, rounding=ROUND_HALF_UP)


def printed_odometer(trip, calibrated: dict[int, tuple[int, int]]) -> tuple[Decimal, Decimal]:
    """A trip's (start, end) odometer as every report and counter shows it: the calibrated
    figures (calibrated_odometers) when the car was calibrated, else the device's, each rounded
    half up to 0.1 km. A trip's km are end minus start of these: one rounding everywhere."""
    figures = calibrated.get(trip.id)
    if figures is None:
        return _to_km(trip.odometer_start_km), _to_km(trip.odometer_end_km)
    return _to_km(Decimal(figures[0]) / 1000), _to_km(Decimal(figures[1]) / 1000)


# ------------------------------------------------------------------------------ reminders

# Two calendar months are at least 59 days: a car whose last reading is newer than this cannot
# be overdue, so the reminder job never looks at it.
_NEVER_DUE_WITHIN = timedelta(days=58)


def _overdue_cars(now: datetime, today: date) -> list[tuple[Vehicle, int | None, date | None]]:
    """(vehicle, its last calibration's id, the day it was due) of every car in use (an active
    device) that is overdue; one query, whose cost is that of the overdue cars, not the fleet's."""
    latest = (select(OdometerCalibration.vehicle_id, func.max(OdometerCalibration.read_at).label("read_at"))
              .group_by(OdometerCalibration.vehicle_id).subquery())
    rows = db.session.execute(
        select(Vehicle, OdometerCalibration.id, OdometerCalibration.read_at)
        .outerjoin(latest, latest.c.vehicle_id == Vehicle.id)
        .outerjoin(OdometerCalibration, and_(OdometerCalibration.vehicle_id == Vehicle.id,
                                             OdometerCalibration.read_at == latest.c.read_at))
        .where(Vehicle.id.in_(select(Device.vehicle_id).where(Device.status == DeviceStatus.ACTIVE.value)),
               or_(latest.c.read_at.is_(None), latest.c.read_at < now - _NEVER_DUE_WITHIN))
        .order_by(Vehicle.id, OdometerCalibration.id))
    overdue: dict[int, tuple[Vehicle, int | None, date | None]] = {}
    for vehicle, calibration_id, read_at in rows:
        due = add_months(read_at.astimezone(LOCAL).date(), REMINDER_MONTHS) if read_at else None
        if due is None or today > due:
            overdue[vehicle.id] = (vehicle, calibration_id, due)  # the last of equal read_at wins
    return list(overdue.values())


def overdue_cars(now: datetime | None = None) -> list[tuple[Vehicle, int | None, date | None]]:
    """The cars in use whose calibration is due (for the home pages; the reminder job's query)."""
    now = now or utcnow()
    return _overdue_cars(now, now.astimezone(LOCAL).date())


def _current_drivers(vehicle_ids: list[int], day: date) -> dict[int, list[User]]:
    """The active drivers assigned to each of the cars on `day`."""
    drivers: dict[int, list[User]] = defaultdict(list)
    for chunk in in_chunks(vehicle_ids):
        for vehicle_id, user in db.session.execute(
                select(Assignment.vehicle_id, User).join(User, User.id == Assignment.driver_id)
                .where(Assignment.vehicle_id.in_(chunk), Assignment.available_from <= day,
                       or_(Assignment.available_until.is_(None), Assignment.available_until >= day),
                       User.active.is_(True))):
            drivers[vehicle_id].append(user)
    return drivers


def _reminded(keys: list[str]) -> set[tuple[str, int]]:
    """(due_key, user_id) of the reminders already recorded under these keys."""
    found: set[tuple[str, int]] = set()
    for start in range(0, len(keys), IN_LIST_SIZE):
        found.update(db.session.execute(select(OdometerReminder.due_key, OdometerReminder.user_id)
                                        .where(OdometerReminder.due_key.in_(keys[start:start + IN_LIST_SIZE]))))
    return found


def send_reminders(now: datetime | None = None) -> int:
    """Record a reminder for finance and the current driver of every car in use (an active
    device) whose last calibration is more than two months old, or that has none. Each reminder
    is recorded once per user and calibration; returns how many were recorded now.

    The database finds the overdue cars and what was already recorded, in a fixed number of
    queries: a run with nothing new costs the same at 10 cars as at 200,000 (issue 20)."""
    now = now or utcnow()
    today = now.astimezone(LOCAL).date()
    overdue = _overdue_cars(now, today)
    if not overdue:
        return 0
    keys = {vehicle.id: f"{vehicle.id}:{last_id if last_id else 'none'}" for vehicle, last_id, _ in overdue}
    already = _reminded(sorted(keys.values()))
    drivers = _current_drivers([vehicle.id for vehicle, _, _ in overdue], today)
    finance = users_in_role(Role.FINANCE)
    created = 0
    for vehicle, last_id, due in overdue:
        key = keys[vehicle.id]
        recipients = {u.id: u for u in finance + drivers[vehicle.id]}
        new = sorted(user_id for user_id in recipients if (key, user_id) not in already)
        if not new:
            continue
        due_since = start_of_day_utc(due) if due else now
        for user_id in new:
            reminder = OdometerReminder(user_id=user_id, vehicle_id=vehicle.id, due_key=key,
                                        last_calibration_id=last_id, due_since=due_since, created_at=now)
            db.session.add(reminder)
            db.session.flush()  # the e-mail refers to the reminder's id
            reminder_mail.queue_for(reminder, vehicle, due_since.astimezone(LOCAL).strftime("%d-%m-%Y"))
            created += 1
    db.session.commit()
    return created


def open_reminders(user: User) -> list[OdometerReminder]:
    return list(db.session.scalars(select(OdometerReminder).where(
        OdometerReminder.user_id == user.id, OdometerReminder.resolved_at.is_(None))
        .order_by(OdometerReminder.due_since)))
