"""The e-mail that goes with an odometer-calibration reminder, in the recipient's language."""
from __future__ import annotations

from flask import current_app
from flask_babel import force_locale, gettext as _

from backend import mail
from backend.config import SUPPORTED_LOCALES
from backend.db import db
from backend.models.accounts import Role, User
from backend.models.fleet import Vehicle
from backend.models.odometer import OdometerReminder


def queue_for(reminder: OdometerReminder, vehicle: Vehicle, local_due_date: str) -> None:
    """Queue the reminder's e-mail (once per reminder; nothing when e-mail is off). The reminder
    must have its id (flushed)."""
    if not mail.enabled():
        return
    recipient = db.session.get(User, reminder.user_id)
    locale = recipient.locale if recipient.locale in SUPPORTED_LOCALES else current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        subject = _("Ritbox: calibrate the odometer of %(plate)s", plate=vehicle.display_kenteken)
        body = [_("Calibration of %(plate)s is due since %(date)s.", plate=vehicle.display_kenteken,
                  date=local_due_date),
                _("Write down the km on the dashboard odometer and record the reading in Ritbox, or "
                  "give it to finance. The difference with the GPS odometer is then spread over the km "
                  "since the previous calibration, so the tax report's odometer readings stay right.")]
    public_url = current_app.config.get("PUBLIC_URL")
    if public_url and recipient.has_role(Role.FINANCE):  # the calibration page is finance's
        body.append(f"{public_url.rstrip('/')}/finance/calibrations")
    mail.queue(reminder.user_id, "odometer_reminder", reference=f"odometer_reminder:{reminder.id}",
               subject=subject, body="\n\n".join(body) + "\n", now=reminder.created_at)
