"""Fleet operations shared by the admin pages, the CLI and the enrollment API."""
from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend.db import db, utcnow
from backend.fleet import kenteken as plates
from backend.models import Role, User
from backend.models.fleet import Assignment, Device, DeviceStatus, EnrollmentToken, Vehicle

TOKEN_BYTES = 24  # 192 bits: unguessable, and short enough to type on a Pi console


def N_(msgid: str) -> str:
    """Marks a message for translation where it is defined; it is translated where it is shown."""
    return msgid


class FleetError(Exception):
    """A fleet change that cannot be made. `msgid` is English with %(name)s placeholders: the CLI
    prints it as is, the admin pages show it translated (gettext(msgid, **params))."""

    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params


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


def list_vehicles() -> list[Vehicle]:
    return list(db.session.scalars(select(Vehicle).order_by(Vehicle.kenteken)))


# ------------------------------------------------------------------------------ assignments

def _overlaps(a_from: date, a_until: date | None, b_from: date, b_until: date | None) -> bool:
    return (a_until is None or b_from <= a_until) and (b_until is None or a_from <= b_until)


def create_assignment(driver_email: str, kenteken: str, available_from: date,
                      available_until: date | None = None) -> Assignment:
    """Make a vehicle available to a driver. A vehicle has at most one driver on any day, so that
    every trip has exactly one driver to answer for it; an overlap is refused."""
    driver = db.session.scalar(select(User).where(User.email == (driver_email or "").strip().lower()))
    if driver is None:
        raise FleetError(N_("There is no user %(email)s."), email=driver_email)
    if not driver.has_role(Role.DRIVER):
        raise FleetError(N_("%(email)s does not have the driver role."), email=driver.email)
    vehicle = get_vehicle(kenteken)
    if available_until is not None and available_until < available_from:
        raise FleetError(N_("The period ends before it starts."))
    # Serialise assignment changes of one vehicle (PostgreSQL); SQLite has one writer anyway.
    db.session.execute(select(Vehicle.id).where(Vehicle.id == vehicle.id).with_for_update())
    for other in db.session.scalars(select(Assignment).where(Assignment.vehicle_id == vehicle.id)):
        if _overlaps(available_from, available_until, other.available_from, other.available_until):
            until = other.available_until.isoformat() if other.available_until else "-"
            raise FleetError(N_("%(plate)s is already assigned to %(email)s from %(start)s until %(end)s."),
                             plate=vehicle.display_kenteken, email=other.driver.email,
                             start=other.available_from.isoformat(), end=until)
    assignment = Assignment(driver_id=driver.id, vehicle_id=vehicle.id, available_from=available_from,
                            available_until=available_until)
    db.session.add(assignment)
    db.session.commit()
    return assignment


def list_assignments() -> list[Assignment]:
    return list(db.session.scalars(
        select(Assignment).join(Vehicle).order_by(Vehicle.kenteken, Assignment.available_from)))


def drivers() -> list[User]:
    from backend.models.accounts import UserRole
    return list(db.session.scalars(
        select(User).join(UserRole).where(UserRole.role == Role.DRIVER.value).order_by(User.email)))


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
    device.status = DeviceStatus.RETIRED.value
    device.retired_at = utcnow()
    db.session.commit()
    return device


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
    from backend.access import agreements

    version = agreements.in_force()
    if version is not None:
        return agreements.load(version).private_positions
    return current_app.config.get("PRIVATE_POSITIONS", "sealed")
