"""Vehicle kind and regime per period, and the drivers' verklaringen (docs/reports.md, "Regimes").

- A vehicle without a regime row is a car under the full trip registration (every car before
  this feature). set_regime appends a row from a first day on; the row with the latest
  valid_from on or before a day is the regime of that day (the later recorded wins on a tie).
- A verklaring stands from issued_on until the day before withdrawn_on.

Every change is audited (VEHICLE_REGIME_SET, VERKLARING_RECORDED, VERKLARING_WITHDRAWN).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backend import audit
from backend.db import db, in_chunks, utcnow
from backend.errors import N_
from backend.fleet.service import FleetError, get_vehicle
from backend.models import User
from backend.models.regimes import (BUSINESS_ONLY_VAN, CAR, CAR_FULL, REGIMES, VAN, VAN_BUSINESS_ONLY,
                                    VAN_REGIMES, VAN_SIMPLIFIED, VERKLARING_KINDS, VanDay, VehicleRegime,
                                    Verklaring)

VEHICLE_REGIME_SET = audit.kind("vehicle_regime_set", _l("Vehicle kind or tax regime set"))
VERKLARING_RECORDED = audit.kind("verklaring_recorded", _l("Verklaring to the tax authority recorded"))
VERKLARING_WITHDRAWN = audit.kind("verklaring_withdrawn", _l("Verklaring to the tax authority withdrawn"))


def _actor_id(actor) -> int | None:
    return getattr(actor, "id", actor)


# ------------------------------------------------------------------------------- regimes

WORKING_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


def set_regime(kenteken: str, kind: str, regime: str | None, valid_from: date, *, actor=None,
               via: str = "cli", working_hours: str | None = None) -> VehicleRegime:
    """From valid_from on, the vehicle is `kind` under `regime` (a car: always "car"); a van's
    working hours ("07:30-16:30") go with its regime."""
    vehicle = get_vehicle(kenteken)
    working_hours = (working_hours or "").strip() or None
    if working_hours and (not WORKING_HOURS.match(working_hours) or working_hours[:5] >= working_hours[6:]):
        raise FleetError(N_("Working hours as HH:MM-HH:MM, the start before the end (e.g. 07:30-16:30)."))
    if kind not in (CAR, VAN):
        raise FleetError(N_("Unknown vehicle kind %(kind)s (car or van)."), kind=kind)
    regime = regime or (CAR_FULL if kind == CAR else None)
    if kind == CAR and regime != CAR_FULL:
        raise FleetError(N_("A car keeps the full trip registration."))
    if kind == VAN and regime not in VAN_REGIMES:
        raise FleetError(N_("A van needs a regime: full registration, simplified registration or business use only."))
    row = VehicleRegime(vehicle_id=vehicle.id, kind=kind, regime=regime, valid_from=valid_from,
                        working_hours=working_hours, recorded_by_id=_actor_id(actor), recorded_at=utcnow())
    db.session.add(row)
    db.session.flush()
    audit.record(VEHICLE_REGIME_SET, actor=actor, subject_vehicle_id=vehicle.id, purpose="tax",
                 details={"kind": kind, "regime": regime, "valid_from": valid_from.isoformat(),
                          "working_hours": working_hours, "via": via},
                 commit=False)
    db.session.commit()
    return row


def regime_history(vehicle_id: int) -> list[VehicleRegime]:
    return list(db.session.scalars(select(VehicleRegime).where(VehicleRegime.vehicle_id == vehicle_id)
                                   .order_by(VehicleRegime.valid_from, VehicleRegime.id)))


def regime_on(vehicle_id: int, day: date, history: Iterable[VehicleRegime] | None = None) -> tuple[str, str]:
    """(kind, regime) of the vehicle on a day."""
    current = (CAR, CAR_FULL)
    for row in (regime_history(vehicle_id) if history is None else history):
        if row.valid_from <= day:
            current = (row.kind, row.regime)
    return current


class RegimeBook:
    """Every vehicle's regime history, read once, for a report or a counter over many trips."""

    def __init__(self, vehicle_ids: Iterable[int] | None = None) -> None:
        """vehicle_ids: only these vehicles' histories (a report's cars), not the whole fleet's."""
        self._by_vehicle: dict[int, list[VehicleRegime]] = {}
        statement = select(VehicleRegime).order_by(VehicleRegime.valid_from, VehicleRegime.id)
        if vehicle_ids is not None:
            statement = statement.where(VehicleRegime.vehicle_id.in_(sorted(set(vehicle_ids))))
        for row in db.session.scalars(statement):
            self._by_vehicle.setdefault(row.vehicle_id, []).append(row)

    def on(self, vehicle_id: int | None, day: date) -> tuple[str, str]:
        return regime_on(vehicle_id or 0, day, self._by_vehicle.get(vehicle_id, []))

    def regimes_of(self, vehicle_id: int) -> set[str]:
        return {row.regime for row in self._by_vehicle.get(vehicle_id, [])}


# ---------------------------------------------------------------------------- verklaringen

def driver_by_email(email_or_user) -> User:
    if isinstance(email_or_user, User):
        return email_or_user
    user = db.session.scalar(select(User).where(User.email == (email_or_user or "").strip().lower()))
    if user is None:
        raise FleetError(N_("No user %(email)s."), email=email_or_user)
    return user


def record_verklaring(driver, kind: str, number: str, issued_on: date, *, actor=None,
                      via: str = "cli") -> Verklaring:
    driver = driver_by_email(driver)
    if kind not in VERKLARING_KINDS:
        raise FleetError(N_("Unknown verklaring kind %(kind)s."), kind=kind)
    number = (number or "").strip()
    if not number or len(number) > 40:
        raise FleetError(N_("A verklaring needs its number (at most 40 characters)."))
    if any(v.kind == kind and v.withdrawn_on is None for v in verklaringen_of(driver.id)):
        raise FleetError(N_("This driver already holds a standing verklaring of this kind."))
    row = Verklaring(driver_id=driver.id, kind=kind, number=number, issued_on=issued_on,
                     recorded_by_id=_actor_id(actor), recorded_at=utcnow())
    db.session.add(row)
    db.session.flush()
    audit.record(VERKLARING_RECORDED, actor=actor, subject_user_id=driver.id, purpose="tax",
                 details={"verklaring": row.id, "kind": kind, "number": number,
                          "issued_on": issued_on.isoformat(), "via": via}, commit=False)
    db.session.commit()
    return row


def withdraw_verklaring(verklaring_id: int, on: date, *, actor=None, via: str = "cli") -> Verklaring:
    row = db.session.get(Verklaring, verklaring_id)
    if row is None:
        raise FleetError(N_("No verklaring %(id)s."), id=verklaring_id)
    if row.withdrawn_on is not None:
        raise FleetError(N_("This verklaring was already withdrawn."))
    if on < row.issued_on:
        raise FleetError(N_("A verklaring cannot be withdrawn before the day it was issued."))
    row.withdrawn_on, row.withdrawn_by_id, row.withdrawn_at = on, _actor_id(actor), utcnow()
    audit.record(VERKLARING_WITHDRAWN, actor=actor, subject_user_id=row.driver_id, purpose="tax",
                 details={"verklaring": row.id, "kind": row.kind, "withdrawn_on": on.isoformat(), "via": via},
                 commit=False)
    db.session.commit()
    return row


def verklaringen_of(driver_id: int) -> list[Verklaring]:
    return list(db.session.scalars(select(Verklaring).where(Verklaring.driver_id == driver_id)
                                   .order_by(Verklaring.issued_on, Verklaring.id)))


def verklaringen_of_drivers(driver_ids: list[int]) -> dict[int, list[Verklaring]]:
    """driver id -> their verklaringen, in one query for a page of many drivers."""
    found: dict[int, list[Verklaring]] = {}
    for rows in in_chunks(driver_ids):
        for row in db.session.scalars(select(Verklaring).where(Verklaring.driver_id.in_(rows))
                                      .order_by(Verklaring.issued_on, Verklaring.id)):
            found.setdefault(row.driver_id, []).append(row)
    return found


def standing(driver_id: int | None, kind: str, day: date,
             rows: Iterable[Verklaring] | None = None) -> Verklaring | None:
    """The driver's verklaring of this kind that stands on the day, if any."""
    if driver_id is None:
        return None
    for row in (verklaringen_of(driver_id) if rows is None else rows):
        if row.kind == kind and row.stands_on(day):
            return row
    return None


def business_only_binds(driver_id: int | None, vehicle_id: int | None, day: date) -> Verklaring | None:
    """The verklaring uitsluitend zakelijk that forbids private km on this trip: the vehicle runs
    under that regime on the day and the driver's verklaring stands."""
    if vehicle_id is None or regime_on(vehicle_id, day)[1] != VAN_BUSINESS_ONLY:
        return None
    return standing(driver_id, BUSINESS_ONLY_VAN, day)


# ------------------------------------------------------------------------- simplified van days

def confirm_van_day(driver: User, vehicle_id: int, day: date, working_hours: str | None) -> VanDay:
    """The driver confirms a day of a van under the simplified registration, with that day's
    working hours (empty: the van's setting). Only the van's driver on that day, only under that
    regime; a later confirmation of the same day replaces the hours."""
    from backend.models.fleet import Assignment

    if regime_on(vehicle_id, day)[1] != VAN_SIMPLIFIED:
        raise FleetError(N_("This van does not run under the simplified registration on that day."))
    assigned = db.session.scalar(select(Assignment.id).where(
        Assignment.vehicle_id == vehicle_id, Assignment.driver_id == driver.id, Assignment.available_from <= day,
        (Assignment.available_until.is_(None)) | (Assignment.available_until >= day)))
    if assigned is None:
        raise FleetError(N_("This van was not yours on that day."))
    hours = (working_hours or "").strip() or None
    if hours and (not WORKING_HOURS.match(hours) or hours[:5] >= hours[6:]):
        raise FleetError(N_("Working hours as HH:MM-HH:MM, the start before the end (e.g. 07:30-16:30)."))
    row = db.session.scalar(select(VanDay).where(VanDay.vehicle_id == vehicle_id, VanDay.day == day))
    if row is None:
        row = VanDay(vehicle_id=vehicle_id, driver_id=driver.id, day=day)
        db.session.add(row)
    row.working_hours, row.confirmed_at = hours, utcnow()
    db.session.commit()
    return row


def van_days(vehicle_id: int, first: date, last: date) -> dict[date, VanDay]:
    return {row.day: row for row in db.session.scalars(select(VanDay).where(
        VanDay.vehicle_id == vehicle_id, VanDay.day >= first, VanDay.day <= last))}


__all__ = ["REGIMES", "RegimeBook", "business_only_binds", "record_verklaring", "regime_history",
           "regime_on", "set_regime", "standing", "verklaringen_of", "withdraw_verklaring"]
