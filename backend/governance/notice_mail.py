"""The e-mail that tells an employee about a grant on their data, in the employee's language.

It says what the in-app message says (who, which purpose, which period, until when) and where
to see the reads; it names no trip, place or time of driving, because e-mail leaves the system.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import force_locale, gettext as _

from backend import mail
from backend.governance import agreements
from backend.local_time import LOCAL
from backend.config import SUPPORTED_LOCALES
from backend.db import db
from backend.models.access import Notification
from backend.models.accounts import User


def queue_for(notification: Notification) -> None:
    """Queue the e-mail for an access notification (once; nothing when e-mail is off)."""
    if not mail.enabled():
        return
    employee = db.session.get(User, notification.user_id)
    grant = notification.grant
    locale = employee.locale if employee.locale in SUPPORTED_LOCALES else current_app.config["BABEL_DEFAULT_LOCALE"]
    purpose = grant.purpose
    clause = agreements.load(grant.request.agreement_version).purposes.get(grant.purpose)
    with force_locale(locale):
        values = dict(name=grant.holder.name, purpose=clause.title if clause else purpose,
                      start=grant.period_start.strftime("%d-%m-%Y"), end=grant.period_end.strftime("%d-%m-%Y"),
                      until=grant.expires_at.astimezone(LOCAL).strftime("%d-%m-%Y %H:%M"))
        if notification.kind == "grant_issued":
            subject = _("Ritbox: access to your trip data")
            lead = _("%(name)s was given access to your trip data for the purpose %(purpose)s, "
                     "from %(start)s to %(end)s, until %(until)s.", **values)
        else:
            subject = _("Ritbox: access to your trip data has ended")
            lead = _("%(name)s had access to your trip data for the purpose %(purpose)s, "
                     "from %(start)s to %(end)s. That access has ended.", **values)
        where = _("In Ritbox, under \"Who saw my data\", you see what was read, when and by whom.")
        public_url = current_app.config.get("PUBLIC_URL")
        link = f"{public_url.rstrip('/')}/me/access-log" if public_url else ""
        why = _("You receive this message because the works council agreement says employees are told "
                "when their data is used for a purpose other than the tax registration.")
    body = "\n\n".join(part for part in (lead, where + (f"\n{link}" if link else ""), why) if part) + "\n"
    mail.queue(notification.user_id, "access_notice", reference=f"notification:{notification.id}",
               subject=subject, body=body, now=notification.sent_at)
