"""Fleet operations shared by the admin pages, the CLI and the enrollment API."""
from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend import audit
from backend.db import db, utcnow
from backend.errors import N_, UserError
from backend.fleet import kenteken as plates
from backend.local_time import LOCAL
from backend.models import Role, User
from backend.models.fleet import Assignment, Device, DeviceStatus, EnrollmentToken, Vehicle

TOKEN_BYTES = 24  # 192 bits: unguessable, and short enough to type on a Pi console

# Audit events of the fleet. An assignment decides which driver a trip's private kilometres
# count against (ingest attributes every trip from it), so each change of one is recorded: a
# works council and a tax inspector both ask who moved a period, and from what to what.
ASSIGNMENT_CHANGED = audit.kind("assignment_changed", _l("Car assignment changed"))
ASSIGNMENT_DELETED = audit.kind("assignment_deleted", _l("Car assignment deleted"))
VEHICLE_RETIRED = audit.kind("vehicle_retired", _l("Car retired from the fleet"))
# trips uploaded without an assignment got their driver
TRIPS_ATTRIBUTED = audit.kind("trips_attributed", _l("Trips without a driver attributed by a car assignment"))




class FleetError(UserError):
    """A fleet change that cannot be made. `msgid` is English with %(name)s placeholders: the CLI
    prints it as is, the admin pages show it translated (gettext(msgid, **params))."""



# --------------------------------------------------------------------------------- vehicles

def create_vehicle(kenteken: str, make: str, model: str) -> Vehicle:
    try:
        plate = plates.normalise(kenteken)
    except plates.KentekenError as exc:
        raise FleetError(N_("%(text)s is not a Dutch licence plate (e.g. GB-XJ-12 or 12-ABC-3)."), text=kenteken) from None
    make, model = (make or "").strip(), (model or "").strip()
    if not make or not model:
        raise FleetError(N_("Make and model are required."))
    if find_vehicle(plate) is not None:
        raise FleetError(N_("Vehicle %(plate)s already exists."), plate=plates.display(plate))
    vehicle = Vehicle(kenteken=plate, make=make[:100], model=model[:100])
    db.session.add(vehicle)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise FleetError(N_("Vehicle %(plate)s already exists."), plate=plates.display(plate)) from None
    return vehicle


def find_vehicle(kenteken: str) -> Vehicle | None:
    try:
        plate = plates.normalise(kenteken)
    except plates.KentekenError:
        return None
    return db.session.scalar(select(Vehicle).where(Vehicle.kenteken == plate))


def get_vehicle(kenteken: str) -> Vehicle:
    try:
        plate = plates.normalise(kenteken)
    except plates.KentekenError as exc:
        raise FleetError(N_("%(text)s is not a Dutch licence plate (e.g. GB-XJ-12 or 12-ABC-3)."), text=kenteken) from None
    vehicle = find_vehicle(plate)
    if vehicle is None:
        raise FleetError(N_("There is no vehicle %(plate)s."), plate=plates.display(plate))
    return vehicle


def list_vehicles(limit: int | None = None) -> list[Vehicle]:
    return list(db.session.scalars(select(Vehicle).order_by(Vehicle.kenteken).limit(limit)))


def update_vehicle(kenteken: str, make: str | None = None, model: str | None = None) -> Vehicle:
    """Correct a car's make and model. The kenteken is the car's identity (trips, reports and
    the audit log name it), so it cannot be edited: a different plate is a different vehicle."""
    vehicle = get_vehicle(kenteken)
    make = vehicle.make if make is None else make.strip()
    model = vehicle.model if model is None else model.strip()
    if not make or not model:
        raise FleetError(N_("Make and model are required."))
    vehicle.make, vehicle.model = make[:100], model[:100]
    db.session.commit()
    return vehicle


def local_today() -> date:
    return utcnow().astimezone(LOCAL).date()


def _retired_message(vehicle: Vehicle) -> FleetError:
    return FleetError(N_("%(plate)s left the fleet on %(date)s; it cannot be assigned after that day."),
                      plate=vehicle.display_kenteken, date=vehicle.retired_on.isoformat())


def retire_vehicle(kenteken: str, on: date, *, actor: User | None = None, via: str = "cli") -> Vehicle:
    """The car leaves the fleet after `on` (its last day). Its history stays; its assignments are
    ended on that day, its devices retired, and no new assignment may reach past it.

    All or nothing: when one assignment cannot be ended (a trip after `on` was attributed to it,
    or it starts after `on`), nothing changes and the error says which one and why.
    """
    vehicle = get_vehicle(kenteken)
    if vehicle.retired_on is not None:
        raise FleetError(N_("%(plate)s already left the fleet on %(date)s."),
                         plate=vehicle.display_kenteken, date=vehicle.retired_on.isoformat())
    if on > local_today():
        # Retiring the devices now would refuse the uploads of the days still to come.
        raise FleetError(N_("%(date)s is in the future; retire a vehicle on or after its last day in the fleet."),
                         date=on.isoformat())
    _lock_vehicle(vehicle)
    ending = []
    for assignment in _assignments_of(vehicle):
        if assignment.available_from > on:
            raise FleetError(N_("%(email)s is assigned %(plate)s from %(start)s, after %(date)s; "
                                "delete or change that assignment first."),
                             email=assignment.driver.email, plate=vehicle.display_kenteken,
                             start=assignment.available_from.isoformat(), date=on.isoformat())
        if assignment.available_until is None or assignment.available_until > on:
            _check_trips_stay_covered(assignment, assignment.available_from, on)
            ending.append(assignment)
    for assignment in ending:
        _apply_period(assignment, assignment.available_from, on, actor=actor, via=via)
    retired_devices = []
    for device in vehicle.devices:
        if device.status != DeviceStatus.RETIRED.value:
            _take_out_of_service(device)
            retired_devices.append(device.id)
    vehicle.retired_on = on
    audit.record(VEHICLE_RETIRED, actor=actor, subject_vehicle_id=vehicle.id, purpose="tax",
                 details={"retired_on": on.isoformat(), "assignments_ended": [a.id for a in ending],
                          "devices_retired": len(retired_devices), "via": via}, commit=False)
    db.session.commit()
    return vehicle


# ------------------------------------------------------------------------------ assignments

def _overlaps(a_from: date, a_until: date | None, b_from: date, b_until: date | None) -> bool:
    return (a_until is None or b_from <= a_until) and (b_until is None or a_from <= b_until)


def create_assignment(driver_email: str, kenteken: str, available_from: date,
                      available_until: date | None = None, *, actor: User | None = None,
                      via: str = "cli") -> Assignment:
    """Make a vehicle available to a driver. A vehicle has at most one driver on any day, so that
    every trip has exactly one driver to answer for it; an overlap is refused. Trips of the car
    uploaded for days of the period without a driver are attributed to this one (audited)."""
    driver = db.session.scalar(select(User).where(User.email == (driver_email or "").strip().lower()))
    if driver is None:
        raise FleetError(N_("There is no user %(email)s."), email=driver_email)
    if not driver.has_role(Role.DRIVER):
        raise FleetError(N_("%(email)s does not have the driver role."), email=driver.email)
    vehicle = get_vehicle(kenteken)
    if available_until is not None and available_until < available_from:
        raise FleetError(N_("The period ends before it starts."))
    _lock_vehicle(vehicle)
    _check_period_fits(vehicle, available_from, available_until, None)
    assignment = Assignment(driver_id=driver.id, vehicle_id=vehicle.id, available_from=available_from,
                            available_until=available_until)
    db.session.add(assignment)
    db.session.flush()
    attribute_unassigned_trips(assignment, actor=actor, via=via)
    db.session.commit()
    return assignment


def attribute_unassigned_trips(assignment: Assignment, *, actor: User | None, via: str) -> list[int]:
    """Give the assignment's driver the car's trips without a driver in its period (uploaded for
    days no assignment covered), in the caller's transaction, with an audit event the driver and
    the works council see. Until then those trips count against the car (docs/fleet.md)."""
    from backend.access.door import attribute_unassigned

    ids = attribute_unassigned(assignment.vehicle_id, assignment.driver_id, assignment.available_from,
                               assignment.available_until)
    if ids:
        audit.record(TRIPS_ATTRIBUTED, actor=actor, subject_user_id=assignment.driver_id,
                     subject_vehicle_id=assignment.vehicle_id, purpose="tax",
                     details={"assignment_id": assignment.id, "trips": len(ids), "trip_ids": ids[:500],
                              "via": via}, commit=False)
    return ids


def _lock_vehicle(vehicle: Vehicle) -> None:
    """Serialise assignment changes of one vehicle (PostgreSQL); SQLite has one writer anyway."""
    db.session.execute(select(Vehicle.id).where(Vehicle.id == vehicle.id).with_for_update())


def _assignments_of(vehicle: Vehicle) -> list[Assignment]:
    return list(db.session.scalars(select(Assignment).where(Assignment.vehicle_id == vehicle.id)
                                   .order_by(Assignment.available_from)))


def _check_period_fits(vehicle: Vehicle, available_from: date, available_until: date | None,
                       own_id: int | None) -> None:
    """The period stays inside the car's time in the fleet and overlaps no other assignment."""
    if vehicle.retired_on is not None and (available_until is None or available_until > vehicle.retired_on):
        raise _retired_message(vehicle)
    for other in _assignments_of(vehicle):
        if other.id != own_id and _overlaps(available_from, available_until,
                                            other.available_from, other.available_until):
            until = other.available_until.isoformat() if other.available_until else "-"
            raise FleetError(N_("%(plate)s is already assigned to %(email)s from %(start)s until %(end)s."),
                             plate=vehicle.display_kenteken, email=other.driver.email,
                             start=other.available_from.isoformat(), end=until)


def _check_trips_stay_covered(assignment: Assignment, new_from: date, new_until: date | None) -> None:
    """Ingest attributed the trips in the assignment's period to its driver, and trip facts never
    change: a new period must still hold every one of them (by its start's local day)."""
    from backend.access.door import trip_span

    span = trip_span(assignment.driver_id, assignment.vehicle_id,
                     assignment.available_from, assignment.available_until)
    if not span.count:
        return
    plate, email = assignment.vehicle.display_kenteken, assignment.driver.email
    if new_until is not None and span.last_day > new_until:
        outside = trip_span(assignment.driver_id, assignment.vehicle_id, new_until + timedelta(days=1),
                            assignment.available_until).count
        raise FleetError(N_("%(count)s stored trip(s) of %(email)s in %(plate)s started after %(date)s; "
                            "the earliest allowed last day is %(earliest)s."),
                         count=outside, email=email, plate=plate, date=new_until.isoformat(),
                         earliest=span.last_day.isoformat())
    if span.first_day < new_from:
        outside = trip_span(assignment.driver_id, assignment.vehicle_id, assignment.available_from,
                            new_from - timedelta(days=1)).count
        raise FleetError(N_("%(count)s stored trip(s) of %(email)s in %(plate)s started before %(date)s; "
                            "the latest allowed first day is %(latest)s."),
                         count=outside, email=email, plate=plate, date=new_from.isoformat(),
                         latest=span.first_day.isoformat())


def _period_json(start: date | None, until: date | None) -> dict[str, str | None]:
    return {"from": start.isoformat() if start else None, "until": until.isoformat() if until else None}


def _apply_period(assignment: Assignment, new_from: date, new_until: date | None, *,
                  actor: User | None, via: str) -> None:
    """Append the audit event and set the period, in the caller's transaction. The event comes
    first: the database lets an assignment change only right after the event that names the
    change (migration 0017)."""
    old = _period_json(assignment.available_from, assignment.available_until)
    audit.record(ASSIGNMENT_CHANGED, actor=actor, subject_user_id=assignment.driver_id,
                 subject_vehicle_id=assignment.vehicle_id, purpose="tax",
                 details={"assignment_id": assignment.id, "old": old,
                          "new": _period_json(new_from, new_until), "via": via}, commit=False)
    assignment.available_from, assignment.available_until = new_from, new_until
    db.session.flush()


def get_assignment(assignment_id: int) -> Assignment:
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        raise FleetError(N_("There is no assignment %(id)s."), id=assignment_id)
    return assignment


def find_assignment(kenteken: str, driver_email: str, on: date | None = None) -> Assignment:
    """The driver's assignment of this car: the only one, or the one that holds the day `on`."""
    vehicle = get_vehicle(kenteken)
    email = (driver_email or "").strip().lower()
    mine = [a for a in _assignments_of(vehicle) if a.driver.email == email]
    if not mine:
        raise FleetError(N_("%(email)s has no assignment of %(plate)s."), email=driver_email,
                         plate=vehicle.display_kenteken)
    if len(mine) == 1:
        return mine[0]
    holding = [a for a in mine if on is not None and a.covers(on)]
    if len(holding) == 1:
        return holding[0]
    raise FleetError(N_("%(email)s has several assignments of %(plate)s; name one by its id "
                        "(assignments list shows them)."), email=email, plate=vehicle.display_kenteken)


def change_assignment(assignment_id: int, available_from: date | None = None,
                      available_until: date | None = None, *, open_end: bool = False,
                      actor: User | None = None, via: str = "cli") -> Assignment:
    """Move an assignment's first and/or last day (None keeps it; open_end removes the last day).

    Refused when the period would end before it starts, overlap another assignment of the car,
    run past the car's retirement, or leave out a trip already attributed to it.
    """
    assignment = get_assignment(assignment_id)
    vehicle = assignment.vehicle
    new_from = available_from or assignment.available_from
    new_until = None if open_end else (available_until or assignment.available_until)
    if new_until is not None and new_until < new_from:
        raise FleetError(N_("The period ends before it starts."))
    if (new_from, new_until) == (assignment.available_from, assignment.available_until):
        return assignment  # nothing moves: no audit event for a change that is none
    _lock_vehicle(vehicle)
    _check_period_fits(vehicle, new_from, new_until, assignment.id)
    _check_trips_stay_covered(assignment, new_from, new_until)
    _apply_period(assignment, new_from, new_until, actor=actor, via=via)
    attribute_unassigned_trips(assignment, actor=actor, via=via)
    db.session.commit()
    return assignment


def end_assignment(assignment_id: int, on: date, *, actor: User | None = None, via: str = "cli") -> Assignment:
    """Set the assignment's last day (the driver hands the car back after `on`)."""
    return change_assignment(assignment_id, available_until=on, actor=actor, via=via)


def delete_assignment(assignment_id: int, *, actor: User | None = None, via: str = "cli") -> None:
    """Remove an assignment made by mistake. One that trips were attributed to is history: it
    can be ended, never deleted."""
    from backend.access.door import trip_span

    assignment = get_assignment(assignment_id)
    _lock_vehicle(assignment.vehicle)
    span = trip_span(assignment.driver_id, assignment.vehicle_id,
                     assignment.available_from, assignment.available_until)
    if span.count:
        raise FleetError(N_("%(count)s stored trip(s) of %(email)s in %(plate)s belong to this assignment; "
                            "it can be ended, not deleted."),
                         count=span.count, email=assignment.driver.email, plate=assignment.vehicle.display_kenteken)
    audit.record(ASSIGNMENT_DELETED, actor=actor, subject_user_id=assignment.driver_id,
                 subject_vehicle_id=assignment.vehicle_id, purpose="tax",
                 details={"assignment_id": assignment.id, "old": _period_json(assignment.available_from,
                                                                             assignment.available_until),
                          "new": None, "via": via}, commit=False)
    db.session.delete(assignment)  # right after its event (the database checks that)
    db.session.commit()


def list_assignments() -> list[Assignment]:
    return list(db.session.scalars(
        select(Assignment).join(Vehicle).order_by(Vehicle.kenteken, Assignment.available_from)))


def drivers(limit: int | None = None) -> list[User]:
    from backend.models.accounts import UserRole
    return list(db.session.scalars(
        select(User).join(UserRole).where(UserRole.role == Role.DRIVER.value).order_by(User.email).limit(limit)))


def find_subjects(query: str, limit: int = 20) -> tuple[list[User], list[Vehicle]]:
    """Drivers whose name or e-mail holds `query`, cars whose kenteken starts with it (dashes
    and case ignored): at most `limit` of each, so a page of a fleet of any size stays small."""
    from sqlalchemy import func, or_

    from backend.models.accounts import UserRole
    text_ = query.strip()
    if not text_:
        return [], []
    pattern = "%" + text_.replace("\\", "").replace("%", "").replace("_", "") + "%"
    found_drivers = list(db.session.scalars(
        select(User).join(UserRole).where(UserRole.role == Role.DRIVER.value,
                                          or_(User.name.ilike(pattern), User.email.ilike(pattern)))
        .order_by(User.email).limit(limit)))
    plate = "".join(ch for ch in text_.upper() if ch.isalnum())
    found_vehicles = list(db.session.scalars(
        select(Vehicle).where(func.upper(Vehicle.kenteken).like(plate + "%")).order_by(Vehicle.kenteken)
        .limit(limit))) if plate else []
    return found_drivers, found_vehicles


# ---------------------------------------------------------------------------------- devices

@dataclass(frozen=True)
class IssuedToken:
    device: Device
    token: str  # shown once; only its sha256 is stored
    expires_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_device(kenteken: str) -> IssuedToken:
    """A new device slot for the vehicle, pending until a device trades the token for it."""
    vehicle = get_vehicle(kenteken)
    if vehicle.retired_on is not None:
        raise FleetError(N_("%(plate)s left the fleet on %(date)s; it gets no new devices."),
                         plate=vehicle.display_kenteken, date=vehicle.retired_on.isoformat())
    device = Device(id=str(uuid.uuid4()), vehicle_id=vehicle.id, status=DeviceStatus.PENDING.value)
    db.session.add(device)
    db.session.flush()
    return _issue_token(device)


def new_token(device_id: str) -> IssuedToken:
    """A fresh token for a device that is still pending (the first one expired or was lost)."""
    device = get_device(device_id)
    if device.status != DeviceStatus.PENDING.value:
        raise FleetError(N_("Device %(device)s is not pending; only a pending device gets a token."), device=device.id)
    return _issue_token(device)


def _issue_token(device: Device) -> IssuedToken:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    while token.startswith("-"):  # a leading dash reads as an option on the device's command line
        token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = utcnow() + timedelta(hours=current_app.config.get("ENROLL_TOKEN_HOURS", 24))
    db.session.add(EnrollmentToken(device_id=device.id, token_hash=token_digest(token), expires_at=expires_at))
    db.session.commit()
    return IssuedToken(device, token, expires_at)


def get_device(device_id: str) -> Device:
    device = db.session.get(Device, (device_id or "").strip())
    if device is None:
        raise FleetError(N_("There is no device %(device)s."), device=device_id)
    return device


def list_devices() -> list[Device]:
    return list(db.session.scalars(select(Device).order_by(Device.created_at)))


def retire_device(device_id: str) -> Device:
    """Take a device out of service: its uploads are refused from now on (its trips stay)."""
    device = get_device(device_id)
    if device.status == DeviceStatus.RETIRED.value:
        raise FleetError(N_("Device %(device)s is already retired."), device=device.id)
    _take_out_of_service(device)
    db.session.commit()
    return device


def _take_out_of_service(device: Device) -> None:
    """Retire the device in the caller's transaction: ingest refuses its uploads from then on."""
    device.status = DeviceStatus.RETIRED.value
    device.retired_at = utcnow()


class EnrollmentError(Exception):
    """Why a token cannot be traded; `code` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def redeem_token(token: str, public_key_b64: str) -> Device:
    """Trade a one-time token plus the device's Ed25519 public key for an active device.

    The token row is claimed with a conditional UPDATE, so two devices racing with one token
    cannot both win.
    """
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 32:
        raise EnrollmentError("invalid_public_key", "public_key must be 32 bytes of Ed25519 key, base64")
    row = db.session.scalar(select(EnrollmentToken).where(EnrollmentToken.token_hash == token_digest(token)))
    now = utcnow()
    if row is None or row.used_at is not None:
        raise EnrollmentError("invalid_token", "unknown or already used enrollment token")
    if row.expires_at <= now:
        raise EnrollmentError("token_expired", "the enrollment token has expired; ask for a new one")
    claimed = db.session.execute(
        EnrollmentToken.__table__.update()
        .where(EnrollmentToken.id == row.id, EnrollmentToken.used_at.is_(None))
        .values(used_at=now))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise EnrollmentError("invalid_token", "unknown or already used enrollment token")
    device = db.session.get(Device, row.device_id)
    if device is None or device.status != DeviceStatus.PENDING.value:
        db.session.rollback()
        raise EnrollmentError("invalid_token", "this token's device is no longer waiting for enrollment")
    device.public_key = base64.b64encode(raw).decode("ascii")
    device.status = DeviceStatus.ACTIVE.value
    device.enrolled_at = now
    db.session.commit()
    return device


def private_positions_policy() -> str:
    """What devices record of private positions: 'sealed' or 'none'.

    The agreement in force decides (the works council consented to it); without one, the
    setting RITBOX_PRIVATE_POSITIONS does. Devices pick it up from every sync answer.
    """
    from backend.governance import agreements

    version = agreements.in_force()
    if version is not None:
        return agreements.load(version).private_positions
    return current_app.config.get("PRIVATE_POSITIONS", "sealed")
