"""Closing a month: after finance closes it, drivers can no longer change its trips (only add
notes); finance can still correct them, with a mandatory reason (backend/trips/revisions.py).

A closing covers one vehicle or, with vehicle None, the whole fleet. Months are calendar months
in Europe/Amsterdam, stored as their first day. Closings are never undone (the table refuses
UPDATE and DELETE).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from backend import audit
from backend.db import db
from backend.errors import N_, UserError
from backend.models.accounts import Role, User
from backend.models.fleet import Vehicle
from backend.models.periods import PeriodClosing
from backend.request_input import date_in_range

PERIOD_CLOSED = audit.kind("period_closed", _l("Period closed by finance"))




class PeriodError(UserError):
    """A month that cannot be closed or reopened, or a correction that cannot be made."""


@dataclass(frozen=True)
class ClosedMonth:
    month: date
    vehicle_id: int | None
    kenteken: str | None  # display form; None for the whole fleet
    closed_by: str | None  # the name of who closed it; None from the CLI
    closed_via: str
    closed_at: datetime


def parse_month(text: str) -> date:
    """'2026-10' -> date(2026, 10, 1); PeriodError on anything else."""
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        first = date(year, month, 1)
    except (ValueError, TypeError):
        raise PeriodError(N_("A month is written as YYYY-MM, e.g. 2026-10.")) from None
    if not date_in_range(first):  # month 0001-01 has no month before it
        raise PeriodError(N_("A month is written as YYYY-MM, e.g. 2026-10."))
    return first


def month_of(day: date) -> date:
    return day.replace(day=1)


def check_closable(month: date, *, vehicle_id: int | None = None, actor: User | None = None,
                   today: date | None = None) -> None:
    """PeriodError when the month cannot be closed (not finance, not ended, unknown car, closed)."""
    from backend.governance.requests import local_today

    month = month_of(month)
    if actor is not None and not actor.has_role(Role.FINANCE):
        raise PeriodError(N_("Only finance can close a period."))
    today = today or local_today()
    if month >= month_of(today):
        raise PeriodError(N_("%(month)s has not ended yet; only past months can be closed."),
                          month=month.strftime("%Y-%m"))
    if vehicle_id is not None and db.session.get(Vehicle, vehicle_id) is None:
        raise PeriodError(N_("Unknown vehicle."))
    if is_closed(vehicle_id, month) if vehicle_id is not None else _fleet_closed(month):
        raise PeriodError(N_("%(month)s is already closed."), month=month.strftime("%Y-%m"))


def close_month(month: date, *, vehicle_id: int | None = None, actor: User | None = None,
                via: str = "web", today: date | None = None) -> PeriodClosing:
    """Close a month for one vehicle or the whole fleet. Only finance closes (the CLI, run by
    an operator, passes actor None). A month that has not ended yet cannot be closed."""
    month = month_of(month)
    check_closable(month, vehicle_id=vehicle_id, actor=actor, today=today)
    closing = PeriodClosing(month=month, vehicle_id=vehicle_id, closed_by_id=actor.id if actor else None,
                            closed_via=via)
    db.session.add(closing)
    db.session.flush()
    audit.record(PERIOD_CLOSED, actor=actor, subject_vehicle_id=vehicle_id, purpose="tax",
                 details={"month": month.strftime("%Y-%m"), "scope": "vehicle" if vehicle_id else "fleet",
                          "via": via}, commit=False)
    db.session.commit()
    return closing


def _fleet_closed(month: date) -> bool:
    return db.session.scalar(select(PeriodClosing.id).where(
        PeriodClosing.month == month, PeriodClosing.vehicle_id.is_(None)).limit(1)) is not None


def is_closed(vehicle_id: int | None, day: date) -> bool:
    """Whether the month of `day` is closed for this vehicle (by its own or a fleet-wide closing)."""
    month = month_of(day)
    return db.session.scalar(select(PeriodClosing.id).where(
        PeriodClosing.month == month,
        or_(PeriodClosing.vehicle_id.is_(None), PeriodClosing.vehicle_id == vehicle_id)).limit(1)) is not None


def closed_months(vehicle_ids: Iterable[int] | None = None,
                  days: Iterable[date] | None = None) -> set[tuple[int | None, date]]:
    """(vehicle_id or None for fleet-wide, month) of the closings, for checking many trips at once.

    With `vehicle_ids` and `days` (those of the trips to check), only the closings that can
    concern them are read: a page of one driver's month then reads a handful of rows, not every
    closing of the fleet (a closing per car and month is 12 rows a car a year)."""
    statement = select(PeriodClosing.vehicle_id, PeriodClosing.month)
    if days is not None:
        months = {month_of(day) for day in days}
        if not months:
            return set()
        statement = statement.where(PeriodClosing.month >= min(months), PeriodClosing.month <= max(months))
    if vehicle_ids is not None:
        vehicles = set(vehicle_ids)
        statement = statement.where(or_(PeriodClosing.vehicle_id.is_(None), PeriodClosing.vehicle_id.in_(vehicles)))
    return {(vehicle, month) for vehicle, month in db.session.execute(statement)}


def closed_in(closings: set[tuple[int | None, date]], vehicle_id: int, day: date) -> bool:
    month = month_of(day)
    return (None, month) in closings or (vehicle_id, month) in closings


def list_closings() -> list[ClosedMonth]:
    statement = (select(PeriodClosing, Vehicle, User)
                 .outerjoin(Vehicle, Vehicle.id == PeriodClosing.vehicle_id)
                 .outerjoin(User, User.id == PeriodClosing.closed_by_id)
                 .order_by(PeriodClosing.month.desc(), PeriodClosing.id.desc()))
    return [ClosedMonth(c.month, c.vehicle_id, v.display_kenteken if v else None, u.name if u else None,
                        c.closed_via, c.closed_at) for c, v, u in db.session.execute(statement)]
