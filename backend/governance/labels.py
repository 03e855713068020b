"""Purposes and grounds in words, never as their codes: the agreement document names them (title,
grounds.labels, and optionally title_en, grounds.labels_en); a code no stored version names gets the
code-side words below, and a code nobody knows gets a generic phrase."""
from __future__ import annotations

from flask import g, has_app_context, has_request_context
from flask_babel import get_locale, lazy_gettext as _l

from backend.governance import agreements

TAX = "tax"
PURPOSE_LABELS = {
    TAX: _l("Tax registration"),
    "misuse_investigation": _l("Investigation into misuse of the company car"),
    "hours_verification": _l("Checking declared hours against trips"),
}
GROUND_LABELS = {
    "undeclared_private_use": _l("Private use while no private use was declared"),
    "unauthorised_driver": _l("Use by a driver who is not authorised"),
    "fuel_card_mismatch": _l("Fuel card data do not match the recorded trips"),
    "hours_declaration_mismatch": _l("Declared hours do not match the trips"),
}
UNKNOWN_PURPOSE = _l("a purpose of an earlier agreement")
UNKNOWN_GROUND = _l("a ground of an earlier agreement")


def _english() -> bool:
    return has_request_context() and str(get_locale()) == "en"


def _purposes() -> list:
    """The purposes of the version in force first, then of older versions (read once per request:
    a page of 200 audit events names a purpose 200 times)."""
    if has_app_context() and "access_label_purposes" in g:
        return g.access_label_purposes
    versions = agreements.all_versions()
    current = agreements.in_force()
    if current is not None:
        versions = [current] + [v for v in versions if v.id != current.id]
    purposes = [p for version in versions for p in agreements.load(version).purposes.values()]
    if has_app_context():
        g.access_label_purposes = purposes
    return purposes


def purpose_label(code: str | None) -> str:
    if not code:
        return ""
    if code == TAX:
        return str(PURPOSE_LABELS[TAX])
    for purpose in _purposes():
        if purpose.id == code:
            if _english():
                return purpose.title_en or str(PURPOSE_LABELS.get(code, purpose.title))
            return purpose.title
    return str(PURPOSE_LABELS.get(code, UNKNOWN_PURPOSE))


def ground_label(code: str | None) -> str:
    if not code:
        return ""
    for purpose in _purposes():
        if code in purpose.grounds_labels:
            if _english():
                return purpose.grounds_labels_en.get(code) or str(GROUND_LABELS.get(code, purpose.grounds_labels[code]))
            return purpose.grounds_labels[code]
    return str(GROUND_LABELS.get(code, UNKNOWN_GROUND))
