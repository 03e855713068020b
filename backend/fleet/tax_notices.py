"""Notices that cannot wait for the year-end report (docs/reports.md, "Regimes"): shown in the app
and e-mailed, to the driver and to every finance user, once each (tax_notices is the record of
what was sent).

- A private trip, a private detour or km the device did not record on a van while it runs under
  the regime uitsluitend zakelijk: raised at once, when the trip comes in (ingest) or is
  classified (backend.trips.revisions).
- The driver's private km reaching 80% and 100% of the pro-rated limit, by projection and as
  driven. Private here is what the verdict counts against the driver for good: km classified
  private (and private detours) and km the device did not record that nobody has explained.
  Unclassified km are left out: the driver can still classify them (the reminder before they
  lock says so); the verdict on the finance pages counts them until they are classified. Checked at the same two moments, the only ones at which private km grow, so a warning
  is raised on the day the km that cross the threshold are recorded (not by a scheduled job).

Projection: private km so far scaled from the available days elapsed to the available days of
the year (per driver: all their cars and assignment periods together, so a driver who changes
car or starts in October is pro-rated by their own days). Compared with the pro-rated limit, it
is the same as private km per elapsed available day against 500 per day of the year. A projection
over fewer than PROJECTION_MIN_DAYS available days says nothing yet and warns no one.
"""
from __future__ import annotations

import json
from datetime import date

from flask import current_app
from flask_babel import force_locale, gettext as _
from sqlalchemy import select

from backend import mail
from backend.accounts import users_in_role
from backend.config import SUPPORTED_LOCALES
from backend.db import db
from backend.errors import N_
from backend.models.accounts import Role, User
from backend.numbers import km_nl
from backend.models.fleet import Assignment, Vehicle
from backend.models.regimes import (BUSINESS_ONLY_PRIVATE, BUSINESS_ONLY_VAN, VAN_BUSINESS_ONLY, WARNING_DRIVEN, WARNING_PROJECTED,
                                    TaxNotice)
from backend.trips import counter

THRESHOLDS = (80, 100)
PROJECTION_MIN_DAYS = 28

MESSAGES = {
    BUSINESS_ONLY_PRIVATE: N_("%(km)s km private or not recorded on %(plate)s on %(date)s (%(driver)s): this van "
                              "runs under the verklaring uitsluitend zakelijk gebruik, which is now at risk. "
                              "Private use needs the verklaring withdrawn first."),
    WARNING_PROJECTED: N_("%(driver)s: at this pace %(km)s private or unrecorded km in %(year)s, %(percent)s%% of "
                          "the limit of %(limit)s km for the days the car is available."),
    WARNING_DRIVEN: N_("%(driver)s: %(km)s private or unrecorded km driven in %(year)s, %(percent)s%% of the limit "
                       "of %(limit)s km for the days the car is available."),
}
SUBJECT = N_("Ritbox: private km of %(driver)s")


def _km(value: float) -> str:
    return km_nl(value)


def text_of(notice: TaxNotice) -> str:
    """The notice in the current language."""
    return _(MESSAGES[notice.kind], **json.loads(notice.params))


def raise_notice(driver_id: int, kind: str, reference: str, params: dict, day: date) -> list[TaxNotice]:
    """The notice for the driver and every finance user, each once; e-mailed. The caller commits."""
    raised = []
    recipients = dict.fromkeys([driver_id, *[u.id for u in users_in_role(Role.FINANCE) if u.id != driver_id]])
    for user_id in recipients:
        exists = db.session.scalar(select(TaxNotice.id).where(
            TaxNotice.user_id == user_id, TaxNotice.kind == kind, TaxNotice.reference == reference))
        if exists is not None:
            continue
        notice = TaxNotice(user_id=user_id, driver_id=driver_id, kind=kind, reference=reference,
                           params=json.dumps(params, sort_keys=True), day=day)
        db.session.add(notice)
        db.session.flush()
        _mail(notice)
        raised.append(notice)
    return raised


def _mail(notice: TaxNotice) -> None:
    if not mail.enabled():
        return
    recipient = db.session.get(User, notice.user_id)
    locale = recipient.locale if recipient.locale in SUPPORTED_LOCALES else current_app.config["BABEL_DEFAULT_LOCALE"]
    params = json.loads(notice.params)
    with force_locale(locale):
        subject = _(SUBJECT, driver=params.get("driver", ""))
        body = text_of(notice)
    mail.queue(notice.user_id, "tax_notice", reference=f"tax_notice:{notice.id}", subject=subject,
               body=body + "\n")


def notices_for(user_id: int, limit: int = 20) -> list[TaxNotice]:
    return list(db.session.scalars(select(TaxNotice).where(TaxNotice.user_id == user_id)
                                   .order_by(TaxNotice.id.desc()).limit(limit)))


# --- uitsluitend zakelijk ------------------------------------------------------------------------

def business_only_private(driver_id: int | None, vehicle_id: int, trip_id: int, day: date, km: float) -> None:
    """Private (or unrecorded) km on a van under uitsluitend zakelijk on `day`: alert at once."""
    from backend.fleet.regimes import regime_on, standing, verklaringen_of

    if driver_id is None or km <= 0 or regime_on(vehicle_id, day)[1] != VAN_BUSINESS_ONLY:
        return
    own = verklaringen_of(driver_id)
    withdrawn = any(v.kind == BUSINESS_ONLY_VAN and v.withdrawn_on and v.withdrawn_on <= day for v in own)
    if withdrawn and standing(driver_id, BUSINESS_ONLY_VAN, day, own) is None:
        return  # the driver withdrew the verklaring before this private use, as the rule asks
    vehicle = db.session.get(Vehicle, vehicle_id)
    driver = db.session.get(User, driver_id)
    raise_notice(driver_id, BUSINESS_ONLY_PRIVATE, f"trip:{trip_id}",
                 {"km": _km(km), "plate": vehicle.display_kenteken, "date": day.strftime("%d-%m-%Y"),
                  "driver": driver.name or driver.email}, day)


# --- 80% / 100% ----------------------------------------------------------------------------------

def _elapsed(periods: list[tuple[date, date | None]], year: int, today: date) -> int:
    """Available days of the year up to and including today."""
    if today.year < year:
        return 0
    cut = min(today, date(year, 12, 31))
    clipped = [(start, min(end or cut, cut)) for start, end in periods if start <= cut]
    return counter.available_days(clipped, year)


def projection(driver_id: int, result: counter.Counter, today: date) -> float | None:
    """The driver's private (and unrecorded, unexplained) km at this pace by the year's end: the
    km so far scaled from the available days elapsed to the year's available days (None while
    that says nothing yet)."""
    periods = [(a.available_from, a.available_until) for a in db.session.scalars(
        select(Assignment).where(Assignment.driver_id == driver_id))]
    elapsed = _elapsed(periods, result.year, today)
    driven = result.private_km + result.unexplained_km
    return driven * result.available_days / elapsed if elapsed >= PROJECTION_MIN_DAYS else None


def check_limits(driver_id: int, year: int, today: date) -> list[TaxNotice]:
    """Raise the 80% / 100% warnings the driver's private km have reached (each once). The
    driver's counter is read as the driver reads it (their own trips, no seal opened)."""
    driver = db.session.get(User, driver_id)
    # The counter is the driver's own read: a former driver (role or account gone) is not read
    # for them, and an upload must never fail on a warning.
    if driver is None or not driver.has_role(Role.DRIVER) or not driver.is_active:
        return []
    result = counter.driver_counter(driver, driver_id, year)
    raised: list[TaxNotice] = []
    driven = result.private_km + result.unexplained_km
    if not result.available_days or not driven:
        return raised
    name = driver.name or driver.email
    limit = result.limit_km
    projected = projection(driver_id, result, today)
    for kind, km in ((WARNING_DRIVEN, driven), (WARNING_PROJECTED, projected)):
        if km is None:
            continue
        for percent in THRESHOLDS:
            if km + 1e-9 >= limit * percent / 100:
                raised += raise_notice(driver_id, kind, f"{year}:{kind}:{percent}:driver:{driver_id}",
                                       {"driver": name, "km": _km(km), "year": year, "percent": percent,
                                        "limit": _km(limit)}, today)
    return raised


def after_trips(trips: list[tuple[int, int | None, int, date, float]], today: date) -> None:
    """At ingest and classification: trips as (trip id, driver id, vehicle id, local day, private
    km). Alerts for vans under uitsluitend zakelijk, then the limit warnings of each driver-year."""
    seen = set()
    for trip_id, driver_id, vehicle_id, day, km in trips:
        if km > 0:
            business_only_private(driver_id, vehicle_id, trip_id, day, km)
            if driver_id is not None:
                seen.add((driver_id, day.year))
    for driver_id, year in sorted(seen):
        check_limits(driver_id, year, today)


def local_today() -> date:
    from backend.governance.requests import local_today as today
    return today()


__all__ = ["after_trips", "check_limits", "notices_for", "projection", "raise_notice", "text_of"]
