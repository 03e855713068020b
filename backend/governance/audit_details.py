"""An audit event's details as labelled fields a person reads (the audit log page): a label per
known key, values formatted (dates as dd-mm-yyyy in Europe/Amsterdam, codes through their
existing labels, long id lists shortened). The stored details - the hashed canonical JSON -
are not touched; the CSV download carries them exactly."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backend.local_time import LOCAL

IDS_SHOWN = 12  # a read of a year names hundreds of trip ids: the page shows the first ones

DETAIL_LABELS = {
    "what": _l("What"), "records": _l("Number of trips"), "trip_ids": _l("Trips"),
    "private_trip_ids": _l("Private trips among them"), "trip_id": _l("Trip"), "trips": _l("Number of trips"),
    "categories": _l("Data categories"), "period": _l("Period"), "reason": _l("Reason"),
    "purpose_given": _l("Purpose given"), "month": _l("Month"), "scope": _l("Scope"), "via": _l("Via"),
    "year": _l("Year"), "format": _l("Format"), "kind": _l("Kind"), "label": _l("Name"),
    "agreement_version_id": _l("Agreement version"), "envelopes": _l("Sealed positions opened"),
    "assignment_id": _l("Car assignment"), "old": _l("Before"), "new": _l("After"), "first": _l("First"),
    "verklaring": _l("Verklaring"), "reference": _l("Reference"), "working_hours": _l("Working hours"),
    "withheld": _l("Withheld"), "withdrawn_on": _l("Withdrawn on"), "valid_from": _l("Valid from"),
    "to_odometer_m": _l("To odometer (m)"), "from_odometer_m": _l("From odometer (m)"), "side": _l("Side"),
    "seq": _l("Number in the chain"), "route": _l("Route"), "role": _l("Role"),
    "revision_id": _l("Change"), "retired_on": _l("Last day in the fleet"),
    "registration": _l("Registration"), "regime": _l("Regime"), "problems": _l("Problems"),
    "points": _l("Route points"), "photo": _l("Photo"), "path": _l("File"), "number": _l("Number"),
    "method": _l("Method"), "km": _l("Km"), "issued_on": _l("Issued on"),
    "grounds_category": _l("Grounds"), "fields": _l("Fields"), "explanation_id": _l("Explanation"),
    "expires_at": _l("Ends"), "devices_retired": _l("Devices retired"), "devices": _l("Devices"),
    "device_id": _l("Device"), "days": _l("Days"), "correction_m": _l("Correction (m)"),
    "consent_date": _l("Consent date"), "confirmed_implausible": _l("Implausible reading confirmed"),
    "classification": _l("Class"), "calibration_id": _l("Calibration"),
    "assignments_ended": _l("Car assignments ended"), "held_back": _l("Held back"), "refused": _l("Refused"),
    "available_from": _l("From"), "available_until": _l("Until"), "email": _l("E-mail address"),
    "name": _l("Name"), "user_id": _l("Account"), "kenteken": _l("Kenteken"),
}  # and the labels each kind declares for its own keys (audit.kind(..., detail_labels=...))
WHAT_LABELS = {
    "tax_report": _l("tax report"), "trips": _l("trip list"), "trip": _l("one trip"), "track": _l("route"),
    "chain_events": _l("chain and device events"), "own_tax_report": _l("own trip report"),
    "finance_trip_list": _l("finance's trip list"), "month_check": _l("check before closing a month"),
}
VIA_LABELS = {"web": _l("web page"), "cli": _l("command line"), "api": _l("app or device")}
SCOPE_LABELS = {"vehicle": _l("one car"), "fleet": _l("the whole fleet")}
SIDE_LABELS = {"start": _l("departure"), "end": _l("arrival")}
YES_NO = {True: _l("yes"), False: _l("no")}

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@dataclass(frozen=True)
class Field:
    label: str
    value: str


def _labels() -> dict[str, dict]:
    """The value labels per key, translated once per request (a page formats 200 events)."""
    from flask import g

    from backend import audit
    from backend.governance.forms import CATEGORY_LABELS
    from backend.driver.views import CLASS_LABELS
    from backend.web.roles import ROLE_LABELS

    cached = g.get("audit_detail_labels")
    if cached is None:
        source = {"what": WHAT_LABELS, "via": VIA_LABELS, "scope": SCOPE_LABELS, "side": SIDE_LABELS,
                  "categories": CATEGORY_LABELS, "role": ROLE_LABELS, "classification": CLASS_LABELS,
                  "": {**{key: label for declared in audit.KINDS.values()
                                for key, label in declared.detail_labels.items()}, **DETAIL_LABELS}}
        cached = g.audit_detail_labels = {key: {k: str(v) for k, v in table.items()}
                                          for key, table in source.items()}
    return cached


def format_value(key: str, value, labels: dict[str, dict] | None = None) -> str:
    """One detail value as text for a person."""
    labels = labels if labels is not None else _labels()
    known = labels.get(key)
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(YES_NO[value])
    if isinstance(value, str):
        if known and value in known:
            return known[value]
        if key == "grounds_category":
            from backend.governance.labels import ground_label
            return ground_label(value)
        if key == "reason":
            return _reason_text(value)
        if _DAY.match(value):
            return date.fromisoformat(value).strftime("%d-%m-%Y")
        if _MOMENT.match(value):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
            return (moment.astimezone(LOCAL) if moment.tzinfo else moment).strftime("%d-%m-%Y %H:%M")
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        if key == "period" and len(value) == 2:
            return _("%(start)s to %(end)s", start=format_value("", value[0], labels),
                     end=format_value("", value[1], labels))
        shown = [format_value(key, item, labels) for item in value[:IDS_SHOWN]]
        more = len(value) - IDS_SHOWN
        return ", ".join(shown) + (" " + _("(and %(n)d more)", n=more) if more > 0 else "")
    if isinstance(value, dict):
        return "; ".join(f"{label_of(k)}: {format_value(k, v, labels)}" for k, v in value.items())
    return str(value)


ROLE_REFUSED = "the role does not allow this route"  # backend/auth: a page outside the user's roles
_DOOR_REASONS = re.compile(r"^(no such trip|not logged in|no grant for purpose |the track of a private trip|"
                           r"the tax purpose|grant \d+: |you may not read this trip)")


def _reason_text(reason: str) -> str:
    """A refusal the code wrote (English in the log) in the reader's language; a reason a person
    typed (a decision's motivation) stays as they wrote it."""
    from backend.governance.web import REFUSAL_TEXTS, denial_text, refusal_text

    if reason in REFUSAL_TEXTS or reason.startswith("the request is already "):
        return refusal_text(reason)
    if reason == ROLE_REFUSED:
        return _("the role does not allow this page")
    if _DOOR_REASONS.match(reason):
        return denial_text(reason)
    return reason


def label_of(key: str) -> str:
    found = _labels()[""].get(key)
    return found if found is not None else key.replace("_", " ")


def fields(details_json: str, kenteken: str | None = None) -> list[Field]:
    """The labelled fields of one event's details (the car's kenteken first, when it concerns one)."""
    try:
        details = json.loads(details_json or "{}")
    except ValueError:
        details = {}
    labels = _labels()
    found = [Field(labels[""]["kenteken"], kenteken)] if kenteken else []
    if not isinstance(details, dict):
        return found + [Field(_("Details"), str(details))]
    found.extend(Field(label_of(key), format_value(key, value, labels)) for key, value in details.items())
    return found
