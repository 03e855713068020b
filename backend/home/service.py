"""What each role's home page says to do next. Each function gathers one role's block from the
services that already own the facts (the door's counts in backend.access.door (reads/home.py), the 500 km
counter, the tax notices, requests, grants, role confirmations, the fleet); none loops over
drivers with a query per driver.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import exists, func, or_, select

from backend import accounts
from backend.access import door
from backend.governance import agreements, approvals, grants
from backend.local_time import LOCAL
from backend.db import db, utcnow
from backend.fleet import tax_notices
from backend.models.access import AccessRequest, Grant, Notification, RequestStatus
from backend.models.accounts import Role, User
from backend.models.fleet import Assignment, Device, DeviceStatus, Vehicle
from backend.models.periods import PeriodClosing
from backend.models.regimes import WARNING_DRIVEN, WARNING_PROJECTED, TaxNotice
from backend.models.trips import DeviceChainHead
from backend.odometer import service as odometer
from backend.trips import counter, revisions

MONTHS_BACK = 12  # how far back finance is shown months still open


def reminder_days() -> int:
    return current_app.config.get("CLASSIFY_REMINDER_DAYS", 3)


def silent_days() -> int:
    return current_app.config.get("DEVICE_SILENT_DAYS", 7)


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL).date()


def days_left(moment: datetime, today: date) -> int:
    """Whole local days from today until the day `moment` falls on (0: today)."""
    return (local_day(moment) - today).days


# --- driver --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DriverHome:
    to_classify: int
    first_lock: datetime | None  # when the earliest of them locks
    first_lock_days: int | None
    locking_soon: int  # of which lock within reminder_days()
    first_month: date | None  # month of the earliest trip to classify (the link)
    counter: counter.Counter
    projected_km: float | None  # private km by the year's end at this pace
    notices: list[str]
    access_notices: int  # times the driver was told about access to their data (last 90 days)


def driver_home(user: User, now: datetime | None = None) -> DriverHome:
    now = now or utcnow()
    today = local_day(now)
    window = revisions.correction_window_days(now)
    open_trips = door.open_to_classify(user, window, now, driver_id=user.id).get(user.id)
    result = counter.for_driver(user, today.year)
    recent = now - timedelta(days=90)
    told = db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.sent_at.is_not(None), Notification.sent_at >= recent)) or 0
    first_lock = open_trips.locks_at[0] if open_trips else None
    return DriverHome(
        to_classify=open_trips.count if open_trips else 0, first_lock=first_lock,
        first_lock_days=days_left(first_lock, today) if first_lock else None,
        locking_soon=open_trips.locking_by(now + timedelta(days=reminder_days())) if open_trips else 0,
        first_month=open_trips.first_day.replace(day=1) if open_trips else None,
        counter=result, projected_km=tax_notices.projection(user.id, result, today),
        notices=[tax_notices.text_of(n) for n in tax_notices.notices_for(user.id, limit=3)],
        access_notices=int(told))


# --- finance -------------------------------------------------------------------------------

@dataclass(frozen=True)
class NearLimit:
    driver: User
    percent: int  # the highest threshold reached (80 or 100)
    projected: bool  # reached by projection only (not yet as driven)


@dataclass(frozen=True)
class SilentDevice:
    device_id: str
    kenteken: str
    last_heard: datetime | None


@dataclass(frozen=True)
class FinanceHome:
    behind: list[tuple[User, door.Behind]]
    near_limit: list[NearLimit]
    months_to_close: list[door.MonthCount]
    calibrations_due: int
    silent: list[SilentDevice]
    year: int
    window_days: int


def _users(ids) -> dict[int, User]:
    ids = {i for i in ids if i is not None}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


def near_limit(year: int) -> list[NearLimit]:
    """Drivers whose private km reached 80% or 100% of their pro-rated limit this year, as driven
    or by projection: the warnings backend.fleet.tax_notices raised when the km were recorded
    (one query; the verdict itself is computed there, by the counter)."""
    rows = db.session.execute(select(TaxNotice.driver_id, TaxNotice.kind, TaxNotice.reference).where(
        TaxNotice.kind.in_((WARNING_PROJECTED, WARNING_DRIVEN)), TaxNotice.reference.like(f"{year}:%"))
        .distinct()).all()
    best: dict[int, tuple[int, bool]] = {}
    for driver_id, kind, reference in rows:
        percent = int(reference.split(":")[2])
        driven = kind == WARNING_DRIVEN
        current = best.get(driver_id)
        if current is None or (percent, driven) > (current[0], not current[1]):
            best[driver_id] = (percent, not driven)
    people = _users(best)
    found = [NearLimit(people[d], p, projected) for d, (p, projected) in best.items() if d in people]
    return sorted(found, key=lambda n: (-n.percent, n.projected, n.driver.name))


def open_months(today: date, window_days: int) -> list[date]:
    """Past months (at most MONTHS_BACK) whose every trip is past its correction window and that
    are not closed for the whole fleet: ready for finance to close."""
    months = []
    month = today.replace(day=1)
    for _ in range(MONTHS_BACK):
        month = (month - timedelta(days=1)).replace(day=1)
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        if following + timedelta(days=window_days) <= today:
            months.append(month)
    if not months:
        return []
    closed = set(db.session.scalars(select(PeriodClosing.month).where(
        PeriodClosing.vehicle_id.is_(None), PeriodClosing.month >= min(months))))
    return sorted(m for m in months if m not in closed)


def silent_devices(now: datetime, days: int) -> list[SilentDevice]:
    """Active devices whose last upload (or enrollment, before any) is more than `days` ago."""
    heard = func.coalesce(DeviceChainHead.updated_at, Device.enrolled_at)
    rows = db.session.execute(
        select(Device.id, Vehicle.kenteken, heard)
        .join(Vehicle, Vehicle.id == Device.vehicle_id)
        .outerjoin(DeviceChainHead, DeviceChainHead.device_id == Device.id)
        .where(Device.status == DeviceStatus.ACTIVE.value, Vehicle.retired_on.is_(None),
               or_(heard.is_(None), heard < now - timedelta(days=days)))
        .order_by(heard, Vehicle.kenteken)).all()
    from backend.fleet.kenteken import display
    return [SilentDevice(device_id, display(kenteken), last) for device_id, kenteken, last in rows]


def finance_home(user: User, now: datetime | None = None) -> FinanceHome:
    now = now or utcnow()
    today = local_day(now)
    window = revisions.correction_window_days(now)
    behind = door.behind_on_classifying(user, today.year, window, now)
    people = _users(b.driver_id for b in behind)
    months = [m for m in door.month_counts(user, open_months(today, window)) if m.trips]
    return FinanceHome(
        behind=[(people[b.driver_id], b) for b in behind if b.driver_id in people],
        near_limit=near_limit(today.year), months_to_close=months,
        calibrations_due=len(odometer.overdue_cars(now)), silent=silent_devices(now, silent_days()),
        year=today.year, window_days=window)


# --- OR delegate and privacy officer ---------------------------------------------------------

@dataclass(frozen=True)
class ApproverHome:
    to_decide: list[AccessRequest]
    roles_to_confirm: list
    active_grants: list[Grant]
    agreement: object | None  # the version in force
    awaiting_consent: list
    people: dict[int, User] = field(default_factory=dict)


def active_grants(now: datetime, holder_id: int | None = None) -> list[Grant]:
    statement = (select(Grant).where(Grant.revoked_at.is_(None), Grant.expires_at > now)
                 .order_by(Grant.expires_at))
    if holder_id is not None:
        statement = statement.where(Grant.holder_id == holder_id)
    return list(db.session.scalars(statement))


def approver_home(user: User, now: datetime | None = None) -> ApproverHome:
    now = now or utcnow()
    pending = db.session.scalars(select(AccessRequest).where(
        AccessRequest.status == RequestStatus.PENDING.value).order_by(AccessRequest.decide_by)).all()
    to_decide = [r for r in pending if approvals.can_decide(r, user, now) is None]
    roles = [row for row in accounts.pending_roles() if accounts.may_confirm(user, row) is None]
    current = agreements.in_force(now)
    waiting = [v for v in agreements.all_versions() if v.consent_recorded_at is None]
    held = active_grants(now)
    people = _users([g.holder_id for g in held] + [g.subject_user_id for g in held]
                    + [r.requester_id for r in to_decide])
    return ApproverHome(to_decide, roles, held, current, waiting, people)


# --- manager ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ManagerHome:
    requests: list[AccessRequest]
    grants: list[Grant]


def manager_home(user: User, now: datetime | None = None) -> ManagerHome:
    now = now or utcnow()
    requests = db.session.scalars(select(AccessRequest).where(AccessRequest.requester_id == user.id)
                                  .order_by(AccessRequest.filed_at.desc()).limit(10)).all()
    return ManagerHome(list(requests), active_grants(now, holder_id=user.id))


# --- administrator ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AdminHome:
    without_driver: list[Vehicle]
    without_device: list[Vehicle]
    silent: list[SilentDevice]
    roles_awaiting: list
    silent_days: int


def admin_home(user: User, now: datetime | None = None) -> AdminHome:
    now = now or utcnow()
    today = local_day(now)
    in_use = Vehicle.retired_on.is_(None)
    driven = exists().where(Assignment.vehicle_id == Vehicle.id, Assignment.available_from <= today,
                            or_(Assignment.available_until.is_(None), Assignment.available_until >= today))
    equipped = exists().where(Device.vehicle_id == Vehicle.id,
                              Device.status.in_((DeviceStatus.ACTIVE.value, DeviceStatus.PENDING.value)))
    without_driver = db.session.scalars(select(Vehicle).where(in_use, ~driven).order_by(Vehicle.kenteken)).all()
    without_device = db.session.scalars(select(Vehicle).where(in_use, ~equipped).order_by(Vehicle.kenteken)).all()
    return AdminHome(list(without_driver), list(without_device), silent_devices(now, silent_days()),
                     accounts.pending_roles(), silent_days())


__all__ = ["admin_home", "approver_home", "driver_home", "finance_home", "manager_home"]
