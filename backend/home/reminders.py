"""Reminders that keep the registry complete, run as scheduled jobs (backend.jobs) and from the CLI:

- classify: a driver whose unclassified trips lock within CLASSIFY_REMINDER_DAYS (the correction
  window ends) gets one e-mail per run naming how many trips lock on which day; each (driver,
  lock day) is recorded in classify_reminders, so a rerun or a second worker reminds nobody twice.
  The home page shows the same line in the app, whether e-mail is on or not.
- digest: once a week (the first run of each ISO week) every finance user gets the counts of their
  home page: drivers behind on classifying, drivers near or over the limit, months ready to close.

Mail leaves the door: the bodies carry counts and dates only, never a trip, a place or a km figure
of a trip, in the recipient's language.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import force_locale, gettext as _, ngettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend import mail
from backend.access import door
from backend.accounts import users_in_role
from backend.config import SUPPORTED_LOCALES
from backend.db import db, utcnow
from backend.home import service
from backend.models.accounts import Role, User
from backend.models.mail import OutgoingMail
from backend.models.reminders import ClassifyReminder
from backend.trips import revisions

CLASSIFY_KIND = "classify_reminder"
DIGEST_KIND = "finance_digest"


def _locale(user: User) -> str:
    return user.locale if user.locale in SUPPORTED_LOCALES else current_app.config["BABEL_DEFAULT_LOCALE"]


def _link(path: str) -> str | None:
    public_url = current_app.config.get("PUBLIC_URL")
    return f"{public_url.rstrip('/')}{path}" if public_url else None


def _date(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def send_classify_reminders(now: datetime | None = None) -> int:
    """Record (and e-mail) the reminders that are due; returns how many drivers were reminded."""
    now = now or utcnow()
    window = revisions.correction_window_days(now)
    horizon = now + timedelta(days=service.reminder_days())
    due: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    waiting = door.open_to_classify(None, window, now)
    for driver_id, open_trips in waiting.items():
        for at in open_trips.locks_at:
            if at <= horizon:
                due[driver_id][service.local_day(at)] += 1
    if not due:
        return 0
    already = set(db.session.execute(select(ClassifyReminder.driver_id, ClassifyReminder.lock_day).where(
        ClassifyReminder.driver_id.in_(list(due)), ClassifyReminder.lock_day >= service.local_day(now))))
    drivers = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(due))))}
    reminded = 0
    for driver_id, days in sorted(due.items()):
        driver = drivers.get(driver_id)
        new = {day: count for day, count in days.items() if (driver_id, day) not in already}
        if not new or driver is None or not driver.is_active or not driver.has_role(Role.DRIVER):
            continue
        rows = [ClassifyReminder(driver_id=driver_id, lock_day=day, trips=count, created_at=now)
                for day, count in sorted(new.items())]
        try:
            db.session.add_all(rows)
            db.session.flush()
        except IntegrityError:  # a run beside this one (the CLI, another worker) reminded them just now
            db.session.rollback()
            continue
        _queue_classify(driver, new, waiting[driver_id].count, rows[0].id, now)
        db.session.commit()  # per driver: one recorded reminder is never lost to another's failure
        reminded += 1
    return reminded


def _queue_classify(driver: User, days: dict[date, int], total: int, reference: int, now: datetime) -> None:
    if not mail.enabled():
        return
    with force_locale(_locale(driver)):
        subject = _("Ritbox: classify your trips before they lock")
        lines = [ngettext("%(num)d trip waits for you to classify it.",
                          "%(num)d trips wait for you to classify them.", total)]
        for day, count in sorted(days.items()):
            lines.append(ngettext("%(num)d trip locks on %(date)s.", "%(num)d trips lock on %(date)s.", count,
                                  date=_date(day)))
        lines.append(_("After that day only finance can change them. Classify them on the page My trips."))
        if link := _link("/me/trips?class=unclassified"):
            lines.append(link)
    mail.queue(driver.id, CLASSIFY_KIND, reference=f"{CLASSIFY_KIND}:{reference}", subject=subject,
               body="\n\n".join(lines) + "\n", now=now)


def _week(now: datetime) -> str:
    year, week, _ = service.local_day(now).isocalendar()
    return f"{year}-W{week:02d}"


def send_finance_digest(now: datetime | None = None) -> int:
    """Queue this week's digest for every finance user who has none yet (e-mail only: the same
    figures are on finance's home page); returns how many were queued."""
    if not mail.enabled():
        return 0
    now = now or utcnow()
    week = _week(now)
    finance = users_in_role(Role.FINANCE)
    sent = set(db.session.scalars(select(OutgoingMail.user_id).where(
        OutgoingMail.kind == DIGEST_KIND, OutgoingMail.reference.like(f"{DIGEST_KIND}:{week}:%"))))
    waiting = [user for user in finance if user.id not in sent]
    if not waiting:
        return 0
    home = service.finance_home(waiting[0], now)
    trips_behind = sum(b.unclassified for _, b in home.behind)
    for user in waiting:
        with force_locale(_locale(user)):
            subject = _("Ritbox: this week's overview for finance")
            lines = [_("Drivers with trips to classify: %(drivers)d (trips: %(trips)d).",
                       drivers=len(home.behind), trips=trips_behind),
                     _("Drivers near or over the private km limit: %(drivers)d.", drivers=len(home.near_limit)),
                     _("Months ready to close: %(months)s.",
                       months=", ".join(m.month.strftime("%m-%Y") for m in home.months_to_close) or _("none")),
                     _("Odometer calibrations due: %(cars)d.", cars=home.calibrations_due),
                     _("Devices not heard from in %(days)d days: %(devices)d.", days=service.silent_days(),
                       devices=len(home.silent))]
            if link := _link("/"):
                lines.append(link)
        mail.queue(user.id, DIGEST_KIND, reference=f"{DIGEST_KIND}:{week}:{user.id}", subject=subject,
                   body="\n\n".join(lines) + "\n", now=now)
    db.session.commit()
    return len(waiting)


reminders_cli = AppGroup("reminders", help="Reminders to classify trips and the weekly digest for finance.")


@reminders_cli.command("classify")
def classify_command() -> None:
    """Remind drivers whose unclassified trips lock soon (the scheduler does this every few minutes)."""
    click.echo(f"{send_classify_reminders()} driver(s) reminded")


@reminders_cli.command("digest")
def digest_command() -> None:
    """Queue this week's digest for finance users who have none yet (needs e-mail)."""
    if not mail.enabled():
        raise click.ClickException("e-mail is off: set RITBOX_SMTP_HOST and RITBOX_MAIL_FROM")
    click.echo(f"{send_finance_digest()} digest(s) queued")


def init_app(app: Flask) -> None:
    app.cli.add_command(reminders_cli)
