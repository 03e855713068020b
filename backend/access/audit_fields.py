"""An audit event's details as labelled fields in the reader's language (the audit log page):
codes become their labels, dates Dutch dates, the door's English reasons words. The stored JSON
stays as it is (it is hash-chained evidence)."""
from __future__ import annotations

import json
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _, lazy_gettext as _l

from backend.access.forms import CATEGORY_LABELS
from backend.access.labels import ground_label, purpose_label
from backend.web.roles import ROLE_LABELS

LOCAL = ZoneInfo("Europe/Amsterdam")
KEY_LABELS = {
    "agreement_version_id": _l("Agreement version (number)"), "label": _l("Version"),
    "sha256": _l("Fingerprint (SHA-256)"), "regeling_sha256": _l("Fingerprint of the regeling"),
    "consent_date": _l("Date of consent"), "reference": _l("Reference"), "categories": _l("Data"),
    "grounds_category": _l("Grounds"), "period": _l("Period"), "reason": _l("Reason"), "role": _l("Role"),
    "expires_at": _l("Until"), "records": _l("Items read"), "trip_id": _l("Trip"), "trip_ids": _l("Trips"),
    "purpose_given": _l("Purpose asked for"), "year": _l("Year"), "format": _l("Format"), "month": _l("Month"),
    "km": _l("Km"), "days": _l("Days"),
}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?")
_CODE = re.compile(r"[a-z]+(?:_[a-z]+)+")


def _value(key: str, value, event_type: str) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(_value(key, item, event_type) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{_label(k)}: {_value(k, v, event_type)}" for k, v in value.items())
    if not isinstance(value, str):
        return str(value)
    if key == "grounds_category":
        return ground_label(value)
    if key == "role" or value in ROLE_LABELS:
        return str(ROLE_LABELS.get(value, value))
    if value in CATEGORY_LABELS:
        return str(CATEGORY_LABELS[value])
    if key == "reason" and event_type in ("read_denied",):
        from backend.access.web import denial_text
        return denial_text(value)
    if key == "reason" and event_type in ("decision_refused",):
        from backend.access.web import refusal_text
        return refusal_text(value)
    if _MOMENT.fullmatch(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LOCAL).strftime("%d-%m-%Y %H:%M")
    if _DAY.fullmatch(value):
        return date.fromisoformat(value).strftime("%d-%m-%Y")
    if _CODE.fullmatch(value):
        return purpose_label(value) if key == "purpose" else _("(a code of the system)")
    return value


def _label(key: str) -> str:
    return str(KEY_LABELS.get(key, _l("Detail")))


def audit_fields(event) -> list[tuple[str, str]]:
    """[(label, text)] of an audit event's details."""
    details = json.loads(event.details or "{}")
    return [(_label(key), _value(key, value, event.event_type)) for key, value in details.items()
            if value not in (None, "", [])]
