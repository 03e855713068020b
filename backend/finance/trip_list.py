"""Finance's trip list: the fleet's trips filtered by car, driver, month, character, unclassified,
flags and incomplete address, newest first, a page at a time (keyset paging in SQL through
door.trip_page), each row linking to its correction (backend/periods/views.py),
which returns to the same filtered list."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from backend.access import door
from backend.access.door import CHARACTERS, Cursor, TripFilter
from backend.auth import role_required
from backend.db import db
from backend.fleet import service
from backend.models import Role
from backend.periods.service import PeriodError, parse_month

bp = Blueprint("finance_trips", __name__, url_prefix="/finance/trips")

PAGE_SIZE = 50
# A fleet with more cars or drivers than this gets a text field instead of a drop-down.
LISTED_AT_MOST = 50
FILTER_NAMES = ("vehicle", "kenteken", "driver", "driver_email", "month", "character", "unclassified", "flagged", "incomplete")
CHARACTER_LABELS = {"business": _l("Business"), "commute": _l("Commute"), "private": _l("Private")}


def _id_arg(name: str) -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 12:
        abort(400)
    return int(text)


NOBODY = -1  # an id no row has: a kenteken or e-mail address that is not known matches nothing


def _searched_vehicle() -> int | None:
    """The car chosen from the list, or typed as a kenteken (a fleet too large to list)."""
    kenteken = request.args.get("kenteken", "").strip()[:20]
    if kenteken:
        vehicle = service.find_vehicle(kenteken)
        return vehicle.id if vehicle is not None else NOBODY
    return _id_arg("vehicle")


def _searched_driver() -> int | None:
    from sqlalchemy import select

    from backend.models.accounts import User
    email = request.args.get("driver_email", "").strip().lower()[:254]
    if email:
        found = db.session.scalar(select(User.id).where(User.email == email))
        return found if found is not None else NOBODY
    return _id_arg("driver")


def _wanted() -> TripFilter:
    month = None
    if request.args.get("month", "").strip():
        try:
            month = parse_month(request.args["month"])
        except PeriodError:
            abort(400)
    character = request.args.get("character", "") or None
    if character is not None and character not in CHARACTERS:
        abort(400)
    return TripFilter(vehicle_id=_searched_vehicle(), driver_id=_searched_driver(), month=month, character=character,
                      unclassified=request.args.get("unclassified") == "1",
                      flagged=request.args.get("flagged") == "1",
                      incomplete_address=request.args.get("incomplete") == "1")


def _cursor() -> Cursor | None:
    text = request.args.get("after", "")
    if not text:
        return None
    moment, _sep, ident = text.rpartition("~")
    try:
        started_at = datetime.fromisoformat(moment)
    except ValueError:
        abort(400)
    if not ident.isdigit() or len(ident) > 12 or started_at.tzinfo is None:
        abort(400)
    return Cursor(started_at, int(ident))


def list_url(**changes) -> str:
    """This list's address with its filters, changed by `changes` (None drops a parameter)."""
    args = {name: request.args[name] for name in FILTER_NAMES if request.args.get(name)}
    args.update(changes)
    query = urlencode({k: v for k, v in args.items() if v not in (None, "")})
    return url_for("finance_trips.index") + (f"?{query}" if query else "")


def _places(trips) -> dict[int, tuple[str | None, str | None]]:
    """(from, to) as the tax report writes them: written addresses first, else the position's
    address; a private trip none (the report shows none to finance)."""
    from backend.reports.build import _Addresses, _written_address
    from backend.trips import revisions

    notes = revisions.current_annotations(trips)
    addresses = _Addresses()
    addresses.prepare(trips)
    found = {}
    for trip in trips:
        if trip.is_private:
            found[trip.id] = (None, None)
            continue
        private = trip.sealed
        start, end = addresses(trip.start, trip.driver_id, private), addresses(trip.end, trip.driver_id, private)
        note = notes.get(trip.id)
        if note and note.start_address:
            start = _written_address(note.start_address)
        if note and note.end_address:
            end = _written_address(note.end_address)
        found[trip.id] = (start.text if start else None, end.text if end else None)
    addresses.finish()
    db.session.commit()  # the geocoder cache rows of business positions
    return found, notes


@bp.route("")
@role_required(Role.FINANCE)
def index():
    from backend.driver.views import CLASS_LABELS
    from backend.models.accounts import User
    from backend.models.fleet import Vehicle
    from backend.trips import event_texts

    wanted = _wanted()
    page = door.trip_page(current_user._get_current_object(), wanted, after=_cursor(), size=PAGE_SIZE)
    places, notes = _places(page.trips)
    vehicles = service.list_vehicles(LISTED_AT_MOST + 1)
    drivers = service.drivers(LISTED_AT_MOST + 1)
    shown_vehicles = {v.id: v for v in db.session.query(Vehicle).filter(
        Vehicle.id.in_({t.vehicle_id for t in page.trips}))} if page.trips else {}
    people = {u.id: u for u in db.session.query(User).filter(
        User.id.in_({t.driver_id for t in page.trips if t.driver_id}))} if page.trips else {}
    next_url = (list_url(after=f"{page.next.started_at.isoformat()}~{page.next.trip_id}")
                if page.next else None)
    return render_template(
        "finance/trips.html", trips=page.trips, places=places, notes=notes, wanted=wanted,
        vehicles=vehicles if len(vehicles) <= LISTED_AT_MOST else None,
        drivers=drivers if len(drivers) <= LISTED_AT_MOST else None,
        shown_vehicles=shown_vehicles, people=people, class_labels=CLASS_LABELS,
        character_labels=CHARACTER_LABELS, flag_labels=event_texts.flag_labels, next_url=next_url,
        first_url=list_url() if request.args.get("after") else None, here=list_url(after=request.args.get("after")),
        args=request.args)
