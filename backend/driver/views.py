"""The driver's own pages (role driver). Every trip read goes through the door: summaries via
door.own_trip_summaries (no seal opened), the detail via door.trip/door.track (a private
trip's positions are unsealed for the driver and the opening is audited). Changes go through
backend.trips.revisions, which enforces the correction window and closed periods."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from backend import addresses, audit
from backend.access import door
from backend.governance.requests import local_today
from backend.auth import role_required
from backend.db import db
from backend.driver import classify
from backend.driver import places as place_service
from backend.fleet import regimes, tax_notices
from backend.fleet.service import FleetError
from backend.driver import svg
from backend.models import Role
from backend.models.places import PLACE_KINDS
from backend.models.revisions import TRIP_CLASSES, RevisionField
from backend.periods.service import PeriodError, parse_month
from backend.request_input import database_id
from backend.trips import counter as counter_service, event_texts, revisions
from backend.trips.revisions import RevisionError

bp = Blueprint("driver", __name__, url_prefix="/me")

CLASS_LABELS = {"business": _l("Business"), "commute": _l("Commute"), "private": _l("Private"),
                "unclassified": _l("Not classified")}
MODE_LABELS = {"business": _l("Business mode"), "private": _l("Private mode")}
FIELD_LABELS = {"classification": _l("Class"), "note": _l("Note"), "business_relation": _l("Business relation"),
                "detour": _l("Route deviation (reason)"), "private_detour_km": _l("Private detour km"),
                "start_address": _l("Departure address"), "end_address": _l("Arrival address")}
VERKLARING_LABELS = {"no_private_use_car": _l("Verklaring geen privégebruik auto"),
                     "business_only_van": _l("Verklaring uitsluitend zakelijk gebruik bestelauto")}
PLACE_LABELS = {"home": _l("Home (residence)"), "work": _l("Work"), "other": _l("Other"),
                "customer": _l("Known place (customer)")}
WEEKDAYS = ((1, _l("Monday")), (2, _l("Tuesday")), (3, _l("Wednesday")), (4, _l("Thursday")),
            (5, _l("Friday")), (6, _l("Saturday")), (7, _l("Sunday")))
ORDERS = ("", "unclassified")  # by time, or the trips still to classify first
TEXT_FIELDS = ("business_relation", "detour", "private_detour_km", "start_address", "end_address")
MONTHS = (_l("Jan"), _l("Feb"), _l("Mar"), _l("Apr"), _l("May"), _l("Jun"), _l("Jul"), _l("Aug"),
          _l("Sep"), _l("Oct"), _l("Nov"), _l("Dec"))


def _me():
    return current_user._get_current_object()


def _month_arg() -> date:
    text = request.args.get("month") or request.form.get("month")
    if not text:
        return local_today().replace(day=1)
    try:
        return parse_month(text)
    except PeriodError:
        abort(400)


def _month_bounds(month: date) -> tuple[date, date]:
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return month, following - timedelta(days=1)


@bp.route("/trips")
@role_required(Role.DRIVER)
def trips():
    month = _month_arg()
    class_filter = request.args.get("class", "")
    mode_filter = request.args.get("mode", "")
    order = request.args.get("order", "")
    if class_filter not in ("", *CLASS_LABELS) or mode_filter not in ("", *MODE_LABELS) or order not in ORDERS:
        abort(400)
    views = door.own_trip_summaries(_me(), _month_bounds(month))
    annotations = revisions.current_annotations(views, for_driver=True)
    states = revisions.lock_states(views)
    rules = classify.rules_for(current_user.id)
    rows = []
    for view in views:
        annotation = annotations[view.id]
        trip_class = annotation.effective_class(view)
        if class_filter and (trip_class or "unclassified") != class_filter:
            continue
        if mode_filter and view.mode != mode_filter:
            continue
        proposal = classify.proposal_for(view, trip_class, rules)
        rows.append({"trip": view, "annotation": annotation, "trip_class": trip_class,
                     "proposal": proposal.classification if proposal else None,
                     "reason": classify.reason_text(proposal) if proposal else None,
                     "state": states[view.id]})
    if order == "unclassified":
        rows.sort(key=lambda row: row["trip_class"] is not None)  # stable: by time within each group
    _add_places(rows)
    confirmable = [row for row in rows if row["proposal"] and row["state"].editable]
    previous = (month - timedelta(days=1)).replace(day=1)
    following = _month_bounds(month)[1] + timedelta(days=1)
    return render_template("driver/trips.html", rows=rows, month=month, previous=previous, following=following,
                           class_filter=class_filter, mode_filter=mode_filter, order=order, class_labels=CLASS_LABELS,
                           mode_labels=MODE_LABELS, trip_classes=TRIP_CLASSES, total=len(views),
                           confirmable=len(confirmable), order_links={key: url_for(
                               "driver.trips", month=month.strftime("%Y-%m"), **{k: v for k, v in (
                                   ("class", class_filter), ("mode", mode_filter), ("order", key)) if v})
                               for key in ORDERS},
                           unclassified=sum(1 for row in rows if row["trip_class"] is None))


def _add_places(rows: list[dict]) -> None:
    """From and to of each row: the address the driver corrected, else the driver's named place
    or the looked-up address of a position they see (never of a private one: backend.addresses);
    None when there is no position to show."""
    from backend.addresses.resolver import Resolver

    resolver = Resolver(driver_id=current_user.id)
    # The cache in a few queries, not one a position.
    resolver.prefetch([(p.lat, p.lon) for row in rows if not (row["trip"].is_private or row["trip"].sealed)
                       for p in (row["trip"].start, row["trip"].end) if p is not None])
    resolver.defer_writes()
    for row in rows:
        view, annotation = row["trip"], row["annotation"]
        for side, position, corrected in (("from", view.start, annotation.start_address),
                                          ("to", view.end, annotation.end_address)):
            if corrected and not annotation.addresses_withheld:
                row[side] = corrected
            elif position is not None and not (view.is_private or view.sealed):
                row[side] = resolver.resolve(position.lat, position.lon).text or None
            else:
                row[side] = None
    resolver.write_pending()
    db.session.commit()  # keeps the geocoder cache rows (business positions only)


def _id_or_none(text: str) -> int | None:
    try:
        return database_id(text)
    except ValueError:
        return None


def _trips_back(form) -> str:
    return url_for("driver.trips", month=_month_arg().strftime("%Y-%m"), **{
        k: v for k in ("class", "mode", "order") if (v := form.get(k))})


@bp.route("/trips/confirm", methods=["POST"])
@role_required(Role.DRIVER)
def confirm_proposals():
    """Confirm proposals: one trip ("one"), the selected trips ("trip"), or every confirmable
    proposal on the page ("all"). The page sends the class it showed for each trip
    ("proposal-<id>"); backend.driver.classify checks it is still the proposal."""
    shown = {}
    for key, value in request.form.items():
        if key.startswith("proposal-") and value in CLASS_LABELS:
            trip_id = _id_or_none(key.removeprefix("proposal-"))
            if trip_id is not None:
                shown[trip_id] = value
    if request.form.get("one"):
        ids = [_id_or_none(request.form["one"])]
    elif request.form.get("all"):
        ids = list(shown)
    else:
        ids = request.form.getlist("trip", type=database_id)
    choices = [(trip_id, shown[trip_id]) for trip_id in ids if trip_id in shown]
    if not choices:
        flash(_("Select at least one trip with a proposal."), "error")
        return redirect(_trips_back(request.form))
    outcome = classify.confirm(_me(), choices, bulk=len(choices) > 1 or bool(request.form.get("all")))
    if outcome.confirmed:
        flash(_("%(n)s proposal(s) confirmed.", n=len(outcome.confirmed)), "success")
    if outcome.locked:
        flash(_("%(n)s trip(s) are locked and were not classified.", n=len(outcome.locked)), "error")
    if outcome.stale:
        flash(_("%(n)s trip(s) changed in the meantime and were not classified: check them again.",
                n=len(outcome.stale)), "error")
    for message in outcome.errors:
        flash(message, "error")
    if request.form.get("back") == "trip" and len(choices) == 1:
        return redirect(url_for("driver.trip", trip_id=choices[0][0]))
    return redirect(_trips_back(request.form))


@bp.route("/trips/bulk", methods=["POST"])
@role_required(Role.DRIVER)
def bulk():
    back = _trips_back(request.form)
    ids = request.form.getlist("trip", type=database_id)  # an id no trip can have is left out
    trip_class = request.form.get("classification", "")
    try:
        written = revisions.revise(_me(), ids, {"classification": trip_class})
    except RevisionError as exc:
        flash(exc.translated(), "error")
        return redirect(back)
    flash(_("%(n)s trip(s) classified as %(class)s.", n=len({r.trip_id for r in written}),
            **{"class": CLASS_LABELS.get(trip_class, trip_class)}), "success")
    return redirect(back)


def _detail(trip_id: int, *, status: int = 200, error: str | None = None):
    me = _me()
    view = door.trip(me, trip_id)
    if view.driver_id != me.id:  # e.g. someone who is also finance: this page is the driver's own
        abort(404)
    track_markup, track_points = None, []
    if not view.is_private:
        track_points = [(p.lat, p.lon) for p in door.track(me, trip_id)]
        track_markup = svg.track_svg(track_points, label=_("Route of this trip"))
    annotation = revisions.current_annotations([view], for_driver=True)[view.id]
    history = revisions.revision_history([view], for_driver=True)[view.id]
    state = revisions.lock_states([view])[view.id]
    # Addresses for the positions this driver may see (their own places first); a private
    # position is never cached nor sent to an online geocoder (backend.addresses).
    found = {name: addresses.resolve(position.lat, position.lon, driver_id=me.id,
                                     private=view.is_private or view.sealed)
             for name, position in (("start", view.start), ("end", view.end)) if position is not None}
    db.session.commit()  # keeps the geocoder cache rows of business positions
    trip_class = annotation.effective_class(view)
    proposal = classify.proposal_for(view, trip_class, classify.rules_for(me.id))
    disclosed = view.sealed and not view.is_private and door.disclosed_for_tax(view.id)
    # A van under the driver's own verklaring uitsluitend zakelijk: private use needs it withdrawn first.
    binding = regimes.business_only_binds(view.driver_id, view.vehicle_id, view.local_date)
    return render_template("driver/trip.html", trip=view, track=track_markup, track_points=track_points,
                           annotation=annotation, history=history, state=state, trip_class=trip_class,
                           proposal=proposal.classification if proposal else None,
                           reason=classify.reason_text(proposal) if proposal else None,
                           can_save_place=bool(view.end and not view.is_private and not view.sealed),
                           disclosed=disclosed, binding=binding,
                           class_labels=CLASS_LABELS, field_labels=FIELD_LABELS, mode_labels=MODE_LABELS,
                           flag_labels=event_texts.flag_labels, trip_classes=TRIP_CLASSES, error=error, addresses=found), status


@bp.route("/trips/<int:trip_id>")
@role_required(Role.DRIVER)
def trip(trip_id: int):
    return _detail(trip_id)


@bp.route("/trips/<int:trip_id>", methods=["POST"])
@role_required(Role.DRIVER)
def revise(trip_id: int):
    changes: dict[str, object] = {}
    if request.form.get("classification"):
        changes["classification"] = request.form["classification"]
    for name in TEXT_FIELDS:
        if name in request.form:
            changes[name] = request.form[name]
    if request.form.get("note", "").strip():
        changes[RevisionField.NOTE.value] = request.form["note"]
    try:
        if not changes:
            raise RevisionError("Nothing to change.")
        written = revisions.revise(_me(), [trip_id], changes, reason=request.form.get("reason"))
    except RevisionError as exc:
        return _detail(trip_id, status=409 if exc.locked else 400, error=exc.translated())
    flash(_("Saved: %(n)s change(s).", n=len(written)) if written else _("Nothing changed."), "success")
    return redirect(url_for("driver.trip", trip_id=trip_id))


@bp.route("/trips/<int:trip_id>/address", methods=["POST"])
@role_required(Role.DRIVER)
def complete_address(trip_id: int):
    """The driver completes an address the report calls incomplete (a town, or coordinates):
    street, number, postcode and place become a start_address/end_address revision (with the
    correction window and closed periods of any revision), and the completion is audited."""
    side = request.form.get("side", "")
    if side not in ("start", "end"):
        abort(400)
    fields = [request.form.get(name, "") for name in ("street", "number", "postcode", "place")]
    if not all(value.strip() for value in fields):
        return _detail(trip_id, status=400, error=_("Give the street, the house number, the postcode and the place."))
    if not addresses.POSTCODE.match(fields[2]):
        return _detail(trip_id, status=400, error=_("A Dutch postcode has four digits and two letters, e.g. 3521 BJ."))
    try:
        line = addresses.format_line(*fields)
    except ValueError:
        return _detail(trip_id, status=400, error=_("This does not read as an address: give the street, a house "
                                                    "number such as 12 or 12a, the postcode and the place."))
    try:
        written = revisions.revise(_me(), [trip_id], {f"{side}_address": line},
                                   reason=request.form.get("reason") or None)
    except RevisionError as exc:
        return _detail(trip_id, status=409 if exc.locked else 400, error=exc.translated())
    if written:
        audit.record(revisions.ADDRESS_COMPLETED, actor=_me(), subject_user_id=current_user.id, purpose="tax",
                     details={"trip_id": trip_id, "side": side, "revision_id": written[0].id})
    flash(_("Address completed: the tax report now shows it."), "success")
    return redirect(url_for("driver.trip", trip_id=trip_id))


@bp.route("/trips/<int:trip_id>/known-place", methods=["POST"])
@role_required(Role.DRIVER)
def save_known_place(trip_id: int):
    """One click on a trip's arrival: the driver's known place (a customer) with that point and a
    radius; trips ending there are proposed business from then on. A setting of the driver's own,
    not a change to the trip."""
    me = _me()
    view = door.trip(me, trip_id)
    if view.driver_id != me.id:
        abort(404)
    try:
        radius = float(request.form.get("radius_m", "150").replace(",", "."))
    except ValueError:
        return _detail(trip_id, status=400, error=_("The radius must be a number of metres, e.g. 150."))
    try:
        classify.known_place_from_trip(me, view, request.form.get("name", ""), radius)
    except place_service.PlaceError as exc:
        return _detail(trip_id, status=400, error=exc.translated())
    flash(_("Known place saved: trips ending there are proposed as business."), "success")
    return redirect(url_for("driver.trip", trip_id=trip_id))


@bp.route("/working-hours", methods=["GET", "POST"])
@role_required(Role.DRIVER)
def working_hours():
    """The driver's working days and hours: trips inside them are proposed business."""
    status, error = 200, None
    if request.method == "POST":
        try:
            if request.form.get("clear"):
                classify.clear_working_hours(current_user.id)
            else:
                classify.set_working_hours(current_user.id, request.form.getlist("weekday"),
                                           request.form.get("start", ""), request.form.get("end", ""))
        except classify.SettingError as exc:
            status, error = 400, str(exc)
        else:
            flash(_("Working hours saved.") if not request.form.get("clear") else _("Working hours removed."),
                  "success")
            return redirect(url_for("driver.working_hours"))
    hours = classify.working_hours_of(current_user.id)
    return render_template("driver/working_hours.html", hours=hours, error=error, form=request.form,
                           weekdays=WEEKDAYS), status


@bp.route("/trips/<int:trip_id>/disclose", methods=["POST"])
@role_required(Role.DRIVER)
def disclose(trip_id: int):
    """The driver opens a sealed trip that is business now for the tax report (audited)."""
    try:
        door.disclose_for_tax(_me(), trip_id)
    except door.DisclosureRefused as exc:
        return _detail(trip_id, status=409, error=_(str(exc)))
    flash(_("The addresses of this trip now appear in the tax report."), "success")
    return redirect(url_for("driver.trip", trip_id=trip_id))


@bp.route("/counter")
@role_required(Role.DRIVER)
def counter():
    today = local_today()
    year = request.args.get("year", default=today.year, type=int)
    if not 2000 <= year <= today.year + 1:
        abort(400)
    result = counter_service.for_driver(_me(), year)
    chart = svg.counter_svg(result, today=today, labels={
        "title": _("Private km in %(year)s against the limit", year=year),
        "limit": _("limit %(km)s km", km=f"{result.limit_km:.0f}"),
        "warning": _("80%% warning (%(km)s km)", km=f"{result.limit_km * 0.8:.0f}"),
        "months": [str(m) for m in MONTHS]})
    return render_template("driver/counter.html", counter=result, chart=chart, year=year, today=today,
                           stretches=_own_stretches(year),
                           verklaringen=regimes.verklaringen_of(current_user.id),
                           verklaring_labels=VERKLARING_LABELS,
                           notices=[tax_notices.text_of(n) for n in tax_notices.notices_for(current_user.id)])


def _own_stretches(year: int) -> list:
    """The stretches of unexplained km between the driver's own trips of a year, explained or not."""
    from backend.trips import stretches

    trips = door.own_trip_summaries(_me(), (date(year, 1, 1), date(year, 12, 31)))
    return [s for s in stretches.for_trips(trips) if s.driver_id == current_user.id]


@bp.route("/counter/explain", methods=["POST"])
@role_required(Role.DRIVER)
def explain_stretch():
    """The driver explains a stretch of unexplained km between two of their trips (audited)."""
    from backend.trips import stretches

    year = request.form.get("year", type=int)
    vehicle_id, from_m, to_m = (request.form.get(name, type=int) for name in ("vehicle", "from_m", "to_m"))
    if year is None or not 2000 <= year <= 2100 or None in (vehicle_id, from_m, to_m):
        abort(400)
    try:
        stretches.explain(_me(), _own_stretches(year), vehicle_id, from_m, to_m, request.form.get("reason", ""),
                          as_finance=False)
    except stretches.ExplanationError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("driver.counter", year=year)), 303
    flash(_("Thank you: the km are explained and no longer count against the limit."), "success")
    return redirect(url_for("driver.counter", year=year)), 303


@bp.route("/van-days", methods=["GET", "POST"])
@role_required(Role.DRIVER)
def van_days():
    """The days of the month on which the driver drove a van under the simplified registration:
    record the day's working hours (else the van's setting applies) and confirm the day."""
    from backend.fleet.service import FleetError
    from backend.models.fleet import Vehicle
    from backend.models.regimes import VAN_SIMPLIFIED

    month = _month_arg()
    error, status = None, 200
    if request.method == "POST":
        try:
            day = date.fromisoformat(request.form.get("day", ""))
            vehicle_id = database_id(request.form.get("vehicle", ""))
        except ValueError:
            abort(400)
        try:
            regimes.confirm_van_day(_me(), vehicle_id, day, request.form.get("working_hours"))
        except FleetError as exc:
            error, status = exc.translated(), 400
        else:
            flash(_("Day %(date)s confirmed.", date=day.strftime("%d-%m-%Y")), "success")
            return redirect(url_for("driver.van_days", month=month.strftime("%Y-%m")))
    first, last = _month_bounds(month)
    book = regimes.RegimeBook()
    km: dict[tuple[int, date], float] = {}
    for view in door.own_trip_summaries(_me(), (first, last)):
        if book.on(view.vehicle_id, view.local_date)[1] == VAN_SIMPLIFIED:
            key = (view.vehicle_id, view.local_date)
            km[key] = km.get(key, 0.0) + view.odometer_end_km - view.odometer_start_km
    confirmed = {vehicle_id: regimes.van_days(vehicle_id, first, last) for vehicle_id, _day in km}
    rows = [{"vehicle": db.session.get(Vehicle, vehicle_id), "day": day, "km": total,
             "confirmed": confirmed[vehicle_id].get(day)} for (vehicle_id, day), total in sorted(km.items())]
    previous = (month - timedelta(days=1)).replace(day=1)
    return render_template("driver/van_days.html", rows=rows, month=month, previous=previous,
                           following=last + timedelta(days=1), error=error), status


@bp.route("/verklaringen/<int:verklaring_id>/withdraw", methods=["POST"])
@role_required(Role.DRIVER)
def withdraw_verklaring(verklaring_id: int):
    """The driver withdraws their own verklaring from today (audited), e.g. before private use
    of a van under uitsluitend zakelijk."""
    own = {v.id for v in regimes.verklaringen_of(current_user.id)}
    if verklaring_id not in own:
        abort(404)
    try:
        regimes.withdraw_verklaring(verklaring_id, local_today(), actor=_me(), via="web")
    except FleetError as exc:
        flash(exc.translated(), "error")
    else:
        flash(_("Verklaring withdrawn from today. Tell the tax authority too."), "success")
    back = request.form.get("trip", type=database_id)
    return redirect(url_for("driver.trip", trip_id=back) if back else url_for("driver.counter"))


def _add_place_from_form(form) -> None:
    """A centre with a radius, or an area (corner lines or GeoJSON in "corners"): whichever is
    filled in. Both at once is refused rather than guessed."""
    kind, name = form.get("kind", ""), form.get("name", "")
    corners = form.get("corners", "").strip()
    if corners:
        if form.get("lat", "").strip() or form.get("lon", "").strip():
            raise place_service.PlaceError(_("Give either a centre with a radius or the corners of an area, "
                                             "not both: empty the other fields."))
        place_service.add_area(current_user.id, kind, name, corners)
        return
    if not (form.get("lat", "").strip() or form.get("lon", "").strip()):
        raise place_service.PlaceError(_("Give a centre with a radius, or the corners of an area."))
    try:
        lat = float(form.get("lat", "").replace(",", "."))
        lon = float(form.get("lon", "").replace(",", "."))
        radius = float(form.get("radius_m", "").replace(",", "."))
    except ValueError:
        raise place_service.PlaceError(str(_l("Latitude, longitude and radius must be numbers."))) from None
    place_service.add_place(current_user.id, kind, name, lat, lon, radius)


@bp.route("/places", methods=["GET", "POST"])
@role_required(Role.DRIVER)
def places():
    status, error = 200, None
    if request.method == "POST":
        try:
            _add_place_from_form(request.form)
        except place_service.PlaceError as exc:
            status, error = 400, exc.translated()
        else:
            flash(_("Place saved. Trips between home and work are now proposed as commute."), "success")
            return redirect(url_for("driver.places"))
    rows = [(place, place_service.shape_of(place)) for place in place_service.places_of(current_user.id)]
    search_text, hits, search_error = _address_search()
    return render_template("driver/places.html", rows=rows, kinds=PLACE_KINDS, place_labels=PLACE_LABELS,
                           error=error, form=request.form if request.method == "POST" else request.args,
                           max_area_km2=place_service.MAX_AREA_KM2, max_corners=place_service.MAX_CORNERS,
                           can_search=bool(current_app.config.get("PDOK_URL")), search_text=search_text,
                           hits=hits, search_error=search_error,
                           map_points=[(shape.lat, shape.lon, 0 if shape.is_area else shape.radius_m or 0)
                                       for _place, shape in rows]), status


MAX_SEARCH_TEXT = 200


def _address_search() -> tuple[str, list, str | None]:
    """An address typed on the places page, looked up at PDOK's Locatieserver when it is
    configured: (the text, the hits, an error text). The request goes from the server, so PDOK
    sees the typed text but not the driver's browser or IP address."""
    from backend.addresses import pdok

    text = (request.args.get("q") or "").strip()[:MAX_SEARCH_TEXT]
    url = current_app.config.get("PDOK_URL")
    if not text or not url or request.method != "GET":
        return text, [], None
    try:
        hits = pdok.search(url, text, current_app.config.get("PDOK_TIMEOUT_SECONDS", 3))
    except pdok.PdokError:
        return text, [], _("The address search is not available now; click the map or type the coordinates.")
    return text, hits, None if hits else _("No address found for “%(text)s”.", text=text)


@bp.route("/places/<int:place_id>/delete", methods=["POST"])
@role_required(Role.DRIVER)
def delete_place(place_id: int):
    if not place_service.delete_place(current_user.id, place_id):
        abort(404)
    flash(_("Place removed."), "success")
    return redirect(url_for("driver.places"))
