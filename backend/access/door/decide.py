"""The door's decision: who may read which data categories of whose trips, for which purpose,
before any trip row is touched.

- purpose TAX (default): a driver reads their own trips, including their own private positions
  (unsealed for them only) and tracks; finance reads what the tax report needs (summaries and
  business start/end positions; never tracks, never private positions).
- any other purpose: only inside an active, unexpired grant held by the actor whose scope
  (employee or vehicle, period, data categories) covers the read.

Anything else raises AccessDenied, which is audited before it is raised (and committed, so the
refusal survives the 403).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from backend import audit
from backend.governance import agreements
from backend.access.purposes import BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS, TAX, TRIP_SUMMARIES
from backend.db import db, utcnow
from backend.models.access import Grant
from backend.models.accounts import Role, User

log = logging.getLogger(__name__)

_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

Period = tuple[date, date]  # inclusive calendar dates, Europe/Amsterdam


# What a refused read of one trip says, whatever the reason and whether the trip exists or not
# (the reason is audited and kept on the exception, never shown): trip ids cannot be probed.
TRIP_REFUSED = "you may not read this trip, or it does not exist"


class AccessDenied(Exception):
    """A read the purpose and the actor's grants do not allow. Views answer 403 with str(self);
    `reason` is what the audit log records."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


@dataclass(frozen=True)
class Access:
    """What one read may return, decided before any trip row is touched."""

    purpose: str
    categories: frozenset[str]
    own: bool  # the driver reading their own data
    grant: Grant | None
    driver_id: int | None  # rows restricted to this driver (None: not restricted)
    vehicle_id: int | None  # rows restricted to this vehicle
    period: Period | None  # rows restricted to this period


def decide(actor: User, purpose: str, category: str, *, driver_id: int | None = None,
            vehicle_id: int | None = None, period: Period | None = None, trip_id: int | None = None,
            drivers_own_allowed: bool = True) -> Access:
    if actor is None or not getattr(actor, "is_authenticated", True) or not actor.is_active:
        deny(actor, purpose, driver_id, vehicle_id, "not logged in", trip_id=trip_id)
    if period is not None and period[1] < period[0]:
        raise ValueError("period ends before it starts")
    if purpose == TAX:
        return _decide_tax(actor, category, driver_id, vehicle_id, period, trip_id, drivers_own_allowed)
    return _decide_grant(actor, purpose, category, driver_id, vehicle_id, period, trip_id)


def _tax_access() -> tuple[frozenset[str], frozenset[str]]:
    """(driver's own categories, finance's categories) under the tax purpose. Without an
    agreement in force the tax registration's legal minimum applies: the driver sees all of
    their own data, finance the summaries."""
    agreement = agreements.agreement_in_force()
    if agreement is None:
        return (frozenset({TRIP_SUMMARIES, BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS}), frozenset({TRIP_SUMMARIES}))
    own = frozenset(name.removeprefix("own_") for name in agreement.tax_driver_access)
    return own, frozenset(agreement.tax_finance_access) - {BUSINESS_TRACKS, PRIVATE_TRIP_DETAILS}


def _decide_tax(actor, category, driver_id, vehicle_id, period, trip_id, drivers_own_allowed) -> Access:
    own_categories, finance_categories = _tax_access()
    if (drivers_own_allowed and driver_id is not None and driver_id == actor.id
            and actor.has_role(Role.DRIVER) and category in own_categories):
        return Access(TAX, own_categories, True, None, driver_id, vehicle_id, period)
    if actor.has_role(Role.FINANCE) and category in finance_categories:
        return Access(TAX, finance_categories, False, None, driver_id, vehicle_id, period)
    reason = ("the tax purpose does not let this role read tracks" if category == BUSINESS_TRACKS
              and actor.has_role(Role.FINANCE) else
              "the tax purpose lets a driver read only their own trips and finance the tax report data")
    deny(actor, TAX, driver_id, vehicle_id, reason, trip_id=trip_id)


def _decide_grant(actor, purpose, category, driver_id, vehicle_id, period, trip_id) -> Access:
    now = utcnow()
    held = list(db.session.scalars(select(Grant).where(Grant.holder_id == actor.id, Grant.purpose == purpose)
                                   .order_by(Grant.issued_at.desc())))
    if not held:
        deny(actor, purpose, driver_id, vehicle_id, f"no grant for purpose {purpose}", trip_id=trip_id)
    reasons = []
    for grant in held:
        reason = _grant_refusal(grant, now, category, driver_id, vehicle_id, period)
        if reason is None and (changed := _grants().differs_from_issue(grant)):
            _grants().report_tampered(grant, changed)
            reason = f"the grant differs from its grant_issued event ({', '.join(changed)})"
        if reason is None:
            return Access(purpose, frozenset(grant.category_list), False, grant,
                           grant.subject_user_id, grant.subject_vehicle_id,
                           (grant.period_start, grant.period_end))
        reasons.append((grant.id, reason))
    grant_id, reason = reasons[0]
    deny(actor, purpose, driver_id, vehicle_id, f"grant {grant_id}: {reason}", trip_id=trip_id, grant_id=grant_id)


def _grants():
    from backend.governance import grants  # grants -> notice_mail -> door: imported when first needed
    return grants


def _grant_refusal(grant: Grant, now: datetime, category: str, driver_id, vehicle_id, period) -> str | None:
    if grant.revoked_at is not None:
        return "revoked"
    if now >= grant.expires_at:
        return "expired"
    if category not in grant.category_list:
        return f"data category {category} not granted"
    if grant.subject_user_id is not None and driver_id != grant.subject_user_id:
        return "the employee is outside the grant"
    if grant.subject_vehicle_id is not None and vehicle_id != grant.subject_vehicle_id:
        return "the vehicle is outside the grant"
    if period is not None and not (grant.period_start <= period[0] and period[1] <= grant.period_end):
        return "the period is outside the grant"
    return None


def deny(actor, purpose, driver_id, vehicle_id, reason, *, trip_id=None, grant_id=None):
    """Audit a refused read (committed, so it survives the 403) and raise AccessDenied.
    Public so that every read module of the door refuses the same way."""
    details = {"reason": reason}
    if trip_id is not None:
        details["trip_id"] = trip_id
    if purpose is not None and not _PURPOSE.match(str(purpose)):
        details["purpose_given"] = str(purpose)[:64]  # not a purpose name: kept as a detail
        purpose = None
    audit.record(audit.READ_DENIED, actor=actor if actor is not None and getattr(actor, "id", None) else None,
                 subject_user_id=driver_id, subject_vehicle_id=vehicle_id, purpose=purpose,
                 grant_id=grant_id, details=details)
    log.info("access denied for purpose %s", purpose)
    # A read of one trip by id says the same whatever the reason: an unknown id is not told apart.
    raise AccessDenied(TRIP_REFUSED if trip_id is not None else reason, reason)



def tax_report_access(actor: User, year: int, driver_id: int | None,
                      vehicle_id: int | None) -> tuple[Access, tuple[date, date]]:
    """The decision for one tax report: a calendar year of exactly one driver or one car, trip
    summaries only (a report never carries private positions or tracks, whoever asks); and the
    year as the period to read."""
    if (driver_id is None) == (vehicle_id is None):
        raise ValueError("tax_report_rows needs exactly one of driver_id and vehicle_id")
    period = (date(year, 1, 1), date(year, 12, 31))
    access = decide(actor, TAX, TRIP_SUMMARIES, driver_id=driver_id, vehicle_id=vehicle_id, period=period)
    return Access(access.purpose, access.categories - {PRIVATE_TRIP_DETAILS, BUSINESS_TRACKS}, access.own,
                  access.grant, access.driver_id, access.vehicle_id, access.period), period
