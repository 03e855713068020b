"""Finance: choose a driver or car, a year and a format, and download the tax report; start a
fleet-wide export and watch its status. Drivers: download their own report (own_bp)."""
from __future__ import annotations

import os
import tempfile
from io import BytesIO

from flask import Blueprint, abort, jsonify, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from backend.access import inspector_package
from backend.access.door import AccessDenied
from backend.local_time import LOCAL
from backend.auth import role_required
from backend.db import db, utcnow
from backend.finance import jobs
from backend.finance.forms import FleetExportForm, OwnReportForm, ReportForm
from backend.fleet import service
from backend.models import Role
from backend.models.report_exports import ReportExport
from backend.reports import export as exports
from backend.reports import model as m
from backend.reports.build import ReportError

bp = Blueprint("finance", __name__, url_prefix="/finance")
own_bp = Blueprint("own_report", __name__, url_prefix="/my")


# A fleet with more drivers or cars than this is searched, not listed: one drop-down of every
# car and driver grew with the fleet (828 ms at 3,004; issue 20).
LISTED_AT_MOST = 50


def _driver_choice(user) -> tuple[str, str]:
    return f"driver:{user.id}", f"{user.name} <{user.email}>"


def _vehicle_choice(vehicle) -> tuple[str, str]:
    return f"vehicle:{vehicle.id}", f"{vehicle.display_kenteken} ({vehicle.make} {vehicle.model})"


def _subject_choices(query: str = "") -> dict[str, list[tuple[str, str]]]:
    """What the page lists: every driver and car of a small fleet, else those matching `query`."""
    if query.strip():
        drivers, vehicles = service.find_subjects(query)
    else:
        drivers, vehicles = service.drivers(LISTED_AT_MOST + 1), service.list_vehicles(LISTED_AT_MOST + 1)
        if len(drivers) > LISTED_AT_MOST or len(vehicles) > LISTED_AT_MOST:
            drivers, vehicles = [], []
    return {_("Drivers"): [_driver_choice(u) for u in drivers], _("Cars"): [_vehicle_choice(v) for v in vehicles]}


def _posted_choice(value: str | None) -> list[tuple[str, str]]:
    """The subject a form posted, when it exists (whatever the page had listed): the form's
    only valid choice. Anything else leaves no choice, and the form refuses it."""
    from backend.models.accounts import User
    from backend.models.fleet import Vehicle
    kind, _sep, ident = (value or "").partition(":")
    if not ident.isdigit() or len(ident) > 12:
        return []
    if kind == "driver":
        user = db.session.get(User, int(ident))
        return [_driver_choice(user)] if user is not None and user.has_role(Role.DRIVER) else []
    if kind == "vehicle":
        vehicle = db.session.get(Vehicle, int(ident))
        return [_vehicle_choice(vehicle)] if vehicle is not None else []
    return []


def _searching() -> bool:
    """Whether the fleet is too large to list (the page then shows the search first)."""
    return (len(service.drivers(LISTED_AT_MOST + 1)) > LISTED_AT_MOST
            or len(service.list_vehicles(LISTED_AT_MOST + 1)) > LISTED_AT_MOST)


def _default_year() -> int:
    # In the first months finance mostly reports on the year just closed.
    today = utcnow().astimezone(LOCAL).date()
    return today.year - 1 if today.month <= 3 else today.year


def _report_error_text(exc: ReportError) -> str:
    text = str(exc)
    if text.startswith("no trips in"):
        return _("There are no trips in that year for this driver or car: no report was made.")
    if text.startswith("unknown"):
        return _("This driver or car is not known.")
    return text


def _download(fmt: str, **kwargs):
    """Build and render into a temporary file (spooled: small reports never touch the disk),
    then stream it. Nothing is sent unless the whole report was made."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    try:
        report = exports.export(current_user._get_current_object(), spool, fmt=fmt, **kwargs)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    module = exports.renderer(fmt)
    response = send_file(spool, mimetype=module.CONTENT_TYPE, as_attachment=True,
                         download_name=exports.filename(report, fmt))
    response.headers["Cache-Control"] = "no-store"
    return response


def _package_download(**kwargs):
    """The signed inspector package (backend/access/inspector_package.py) of one driver or car."""
    data, name = inspector_package.build(current_user._get_current_object(), **kwargs)
    response = send_file(BytesIO(data), mimetype="application/zip", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "no-store"
    return response


def _jobs_for(user_id: int) -> list[ReportExport]:
    jobs.reap_stale()
    return list(db.session.scalars(select(ReportExport).where(ReportExport.requested_by_id == user_id)
                                   .order_by(ReportExport.id.desc()).limit(5)))


@bp.route("/reports", methods=["GET", "POST"])
@role_required(Role.FINANCE)
def reports():
    form = ReportForm()
    query = request.args.get("q", "")[:100]
    form.subject.choices = (_posted_choice(request.form.get("subject")) if request.method == "POST"
                            else _subject_choices(query))
    fleet_form = FleetExportForm(prefix="fleet")
    if request.method == "GET":
        form.year.data = form.year.data or _default_year()
        fleet_form.year.data = fleet_form.year.data or _default_year()
    status = 200
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            kind, _sep, ident = form.subject.data.partition(":")
            subject = {"driver_id": int(ident)} if kind == "driver" else {"vehicle_id": int(ident)}
            try:
                if request.form.get("package"):
                    return _package_download(year=form.year.data, **subject)
                return _download(form.format.data, year=form.year.data, **subject)
            except ReportError as exc:
                error = _report_error_text(exc)
            except AccessDenied:
                abort(403)
        status = 400
    return render_template("finance/reports.html", form=form, fleet_form=fleet_form, error=error,
                           jobs=_jobs_for(current_user.id), query=query, searching=_searching(),
                           matches=sum(len(group) for group in form.subject.choices.values())
                           if isinstance(form.subject.choices, dict) else len(form.subject.choices)), status


@bp.route("/reports/fleet", methods=["POST"])
@role_required(Role.FINANCE)
def fleet_export():
    fleet_form = FleetExportForm(prefix="fleet")
    if not fleet_form.validate_on_submit():
        form = ReportForm()
        form.subject.choices = _subject_choices()
        return render_template("finance/reports.html", form=form, fleet_form=fleet_form, error=None,
                               jobs=_jobs_for(current_user.id), query="", searching=_searching()), 400
    jobs.start(current_user.id, fleet_form.year.data, fleet_form.format.data)
    # Post/redirect/get: reloading the page that follows shows the job, it does not start another.
    from flask import flash, redirect
    flash(_("The fleet export has started; this page shows how far it is."), "success")
    return redirect(url_for("finance.reports"), 303)


def _own_job(job_id: int) -> ReportExport:
    jobs.reap_stale()
    job = db.session.get(ReportExport, job_id)
    if job is None or job.requested_by_id != current_user.id:
        abort(404)
    return job


@bp.app_template_global()
def job_message_text(message: str | None) -> str:
    """A failed job's message in the user's language: the stored message is the worker's own
    (English, fixed at the time); the one a person can act on is translated here."""
    if message == jobs.DIED:
        return _("The export stopped because of an internal error; start it again.")
    if message == jobs.INTERRUPTED:
        return _("The export was interrupted because the server stopped; start it again.")
    return _report_error_text(ReportError(message)) if message else ""


@bp.route("/reports/jobs/<int:job_id>")
@role_required(Role.FINANCE)
def job_status(job_id: int):
    job = _own_job(job_id)
    return jsonify({"id": job.id, "status": job.status, "done": job.done, "total": job.total,
                    "reports": job.reports, "message": job.message, "message_text": job_message_text(job.message),
                    "year": job.year, "format": job.format,
                    "download": url_for("finance.job_download", job_id=job.id) if job.status == "done" else None})


@bp.route("/reports/jobs/<int:job_id>/download")
@role_required(Role.FINANCE)
def job_download(job_id: int):
    job = _own_job(job_id)
    path = jobs.zip_path(current_app_obj(), job.id)
    if job.status != "done" or not os.path.exists(path):
        abort(404)
    response = send_file(path, mimetype="application/zip", as_attachment=True,
                         download_name=f"rittenregistraties-{job.year}-{job.format}.zip")
    response.headers["Cache-Control"] = "no-store"
    return response


def current_app_obj():
    from flask import current_app
    return current_app._get_current_object()


@own_bp.route("/report", methods=["GET", "POST"])
@role_required(Role.DRIVER)
def own():
    """The driver's own export: the same report with their private addresses (opened for them
    only, audited)."""
    form = OwnReportForm()
    if request.method == "GET":
        form.year.data = form.year.data or _default_year()
    error = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                return _download(form.format.data, year=form.year.data, driver_id=current_user.id, view=m.DRIVER)
            except ReportError as exc:
                error = _report_error_text(exc)
            except AccessDenied:
                abort(403)
        status = 400
    return render_template("finance/own_report.html", form=form, error=error), status


@bp.route("/verdicts")
@role_required(Role.FINANCE)
def verdicts():
    """Every driver's 500 km verdict for a year, from the one verdict function (the same the
    driver's counter and the reports use)."""
    from backend.trips import counter

    year = request.args.get("year", default=_default_year(), type=int)
    if not 2000 <= year <= 2100:
        abort(400)
    actor = current_user._get_current_object()
    from backend.access.door import unassigned_trips
    from backend.models.fleet import Vehicle

    from backend.driver.views import VERKLARING_LABELS
    from backend.fleet import regimes
    from backend.reports.verdict import verklaringen_in_year

    drivers = service.drivers()
    rows = [(driver, counter.driver_counter(actor, driver.id, year)) for driver in drivers]
    # The verklaring a verdict is judged by (docs/reports.md, "Regimes"), as the reports name it.
    standing = regimes.verklaringen_of_drivers([d.id for d in drivers])
    verklaringen = {d.id: verklaringen_in_year(year, standing.get(d.id, ())) for d in drivers}
    unassigned = [(db.session.get(Vehicle, u.vehicle_id), u) for u in unassigned_trips(year)]
    return render_template("finance/verdicts.html", year=year, rows=rows, unassigned=unassigned,
                           vehicles=service.list_vehicles(), verklaringen=verklaringen,
                           verklaring_labels=VERKLARING_LABELS)


@bp.route("/events")
@role_required(Role.FINANCE)
def events():
    """A car's chain and device events of a year as readable lines in date order (the same
    sentences as the reports: backend.trips.event_texts), read through the door (audited)."""
    from backend.access import door
    from backend.models.fleet import Vehicle
    from backend.trips import event_texts

    year = request.args.get("year", default=_default_year(), type=int)
    vehicle_id = request.args.get("vehicle", type=int)
    if not 2000 <= year <= 2100 or vehicle_id is None:
        abort(400)
    vehicle = db.session.get(Vehicle, vehicle_id)
    if vehicle is None:
        abort(404)
    found = [e for e in door.chain_events_for_vehicle(current_user._get_current_object(), vehicle.id)
             if e.at.astimezone(LOCAL).year == year]
    found.sort(key=lambda e: e.at)
    lines = [(e.at.astimezone(LOCAL), e.occurred_at is not None or e.kind != "device_event",
              event_texts.chain_event_line(e)) for e in found]
    return render_template("finance/events.html", year=year, vehicle=vehicle, lines=lines)


def _car_stretches(year: int) -> list:
    """Every car's stretches of unexplained km in a year (trips read through the door, audited)."""
    from backend.access import door
    from backend.trips import stretches

    actor = current_user._get_current_object()
    found = []
    for vehicle in service.list_vehicles():
        trips = door.tax_report_rows(actor, year=year, vehicle_id=vehicle.id)
        found.extend((vehicle, s) for s in stretches.for_trips(trips))
    return found


@bp.route("/unexplained")
@role_required(Role.FINANCE)
def unexplained():
    """Km no trip covers, per car, to be explained with a reason (they count against the limit)."""
    year = request.args.get("year", default=_default_year(), type=int)
    if not 2000 <= year <= 2100:
        abort(400)
    return render_template("finance/unexplained.html", year=year, stretches=_car_stretches(year),
                           error=request.args.get("error"))


@bp.route("/unexplained/explain", methods=["POST"])
@role_required(Role.FINANCE)
def explain_stretch():
    from flask import flash, redirect

    from backend.trips import stretches

    year = request.form.get("year", type=int)
    vehicle_id, from_m, to_m = (request.form.get(name, type=int) for name in ("vehicle", "from_m", "to_m"))
    if year is None or not 2000 <= year <= 2100 or None in (vehicle_id, from_m, to_m):
        abort(400)
    candidates = [s for _vehicle, s in _car_stretches(year)]
    try:
        stretches.explain(current_user._get_current_object(), candidates, vehicle_id, from_m, to_m,
                          request.form.get("reason", ""), as_finance=True)
    except stretches.ExplanationError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("finance.unexplained", year=year)), 303
    flash(_("The km are explained and no longer count against the limit."), "success")
    return redirect(url_for("finance.unexplained", year=year)), 303


# --- vehicle regimes and verklaringen (docs/reports.md, "Regimes") --------------------------------

REGIME_LABELS = {"car": _l("Car: full trip registration"), "van_full": _l("Van: full trip registration"),
                 "van_simplified": _l("Van: simplified registration"),
                 "van_business_only": _l("Van: uitsluitend zakelijk gebruik (verklaring)")}


def _regime_action(form) -> str:
    """One form action of the regimes page; returns the success message or raises FleetError."""
    from datetime import date

    from backend.fleet import regimes
    from backend.errors import N_
    from backend.fleet.service import FleetError

    actor = current_user._get_current_object()

    def day(name: str) -> date:
        try:
            return date.fromisoformat(form.get(name, ""))
        except ValueError:
            raise FleetError(N_("Give a date as YYYY-MM-DD.")) from None

    action = form.get("action")
    if action == "regime":
        regime = form.get("regime", "")
        if regime not in REGIME_LABELS:
            raise FleetError(N_("Choose a regime."))
        regimes.set_regime(form.get("kenteken", ""), "car" if regime == "car" else "van", regime, day("valid_from"),
                           actor=actor, via="web", working_hours=form.get("working_hours"))
        return _("Regime saved.")
    if action == "verklaring":
        regimes.record_verklaring(form.get("driver", ""), form.get("kind", ""), form.get("number", ""),
                                  day("issued_on"), actor=actor, via="web")
        return _("Verklaring recorded.")
    if action == "withdraw":
        try:
            verklaring_id = int(form.get("verklaring", ""))
        except ValueError:
            raise FleetError(N_("Choose a verklaring.")) from None
        regimes.withdraw_verklaring(verklaring_id, day("withdrawn_on"), actor=actor, via="web")
        return _("Verklaring withdrawn.")
    raise FleetError(N_("Unknown action."))


@bp.route("/regimes", methods=["GET", "POST"])
@role_required(Role.FINANCE)
def regimes_page():
    """Each vehicle's kind and regime (history), the drivers' verklaringen, and the notices."""
    from flask import flash, redirect

    from backend.fleet import regimes, tax_notices
    from backend.fleet.service import FleetError
    from backend.driver.views import VERKLARING_LABELS

    error, status = None, 200
    if request.method == "POST":
        try:
            message = _regime_action(request.form)
        except FleetError as exc:
            db.session.rollback()
            error, status = exc.translated(), 400
        else:
            flash(message, "success")
            return redirect(url_for("finance.regimes_page"))
    vehicles = [(v, regimes.regime_history(v.id)) for v in service.list_vehicles()]
    drivers = [(d, regimes.verklaringen_of(d.id)) for d in service.drivers()]
    notices = [tax_notices.text_of(n) for n in tax_notices.notices_for(current_user.id)]
    return render_template("finance/regimes.html", vehicles=vehicles, drivers=drivers, notices=notices,
                           regime_labels=REGIME_LABELS, verklaring_labels=VERKLARING_LABELS, error=error,
                           form=request.form), status
