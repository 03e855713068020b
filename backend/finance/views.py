"""Finance: choose a driver or car, a year and a format, and download the tax report; start a
fleet-wide export and watch its status. Drivers: download their own report (own_bp)."""
from __future__ import annotations

import os
import tempfile

from flask import Blueprint, abort, jsonify, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from backend.access.door import LOCAL, AccessDenied
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


def _subject_choices() -> dict[str, list[tuple[str, str]]]:
    return {
        _("Drivers"): [(f"driver:{u.id}", f"{u.name} <{u.email}>") for u in service.drivers()],
        _("Cars"): [(f"vehicle:{v.id}", f"{v.display_kenteken} ({v.make} {v.model})")
                    for v in service.list_vehicles()],
    }


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
    from io import BytesIO

    from backend.access import inspector_package

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
    form.subject.choices = _subject_choices()
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
                           jobs=_jobs_for(current_user.id)), status


@bp.route("/reports/fleet", methods=["POST"])
@role_required(Role.FINANCE)
def fleet_export():
    fleet_form = FleetExportForm(prefix="fleet")
    if not fleet_form.validate_on_submit():
        form = ReportForm()
        form.subject.choices = _subject_choices()
        return render_template("finance/reports.html", form=form, fleet_form=fleet_form, error=None,
                               jobs=_jobs_for(current_user.id)), 400
    job = jobs.start(current_user.id, fleet_form.year.data, fleet_form.format.data)
    return render_template("finance/reports.html", form=_blank_form(), fleet_form=fleet_form, error=None,
                           jobs=_jobs_for(current_user.id), started=job.id), 202


def _blank_form() -> ReportForm:
    form = ReportForm(formdata=None)
    form.subject.choices = _subject_choices()
    form.year.data = _default_year()
    return form


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
    from backend.access.fleet_reads import unassigned_trips
    from backend.models.fleet import Vehicle

    rows = [(driver, counter.driver_counter(actor, driver.id, year)) for driver in service.drivers()]
    unassigned = [(db.session.get(Vehicle, u.vehicle_id), u) for u in unassigned_trips(year)]
    return render_template("finance/verdicts.html", year=year, rows=rows, unassigned=unassigned)
