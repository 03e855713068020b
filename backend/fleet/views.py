"""Admin pages for the fleet: vehicles, assignments, devices (role admin).

No trip contents are shown here: the fleet pages manage who drives what, not where anyone went.
"""
from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from backend.auth import role_required
from backend.fleet import service
from backend.fleet.forms import AssignmentForm, EmptyForm, EnrollForm, VehicleForm
from backend.fleet.service import FleetError
from backend.models import Role

bp = Blueprint("fleet", __name__, url_prefix="/admin/fleet")


def _message(exc: FleetError) -> str:
    return _(exc.msgid, **exc.params)


@bp.route("/", methods=["GET", "POST"])
@bp.route("/vehicles", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def vehicles():
    form = VehicleForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                vehicle = service.create_vehicle(form.kenteken.data, form.make.data, form.model.data)
            except FleetError as exc:
                form.kenteken.errors.append(_message(exc))
            else:
                flash(_("Vehicle %(plate)s added.", plate=vehicle.display_kenteken), "success")
                return redirect(url_for("fleet.vehicles"))
        status = 400
    return render_template("fleet/vehicles.html", form=form, vehicles=service.list_vehicles()), status


def _vehicle_choices() -> list[tuple[str, str]]:
    return [(v.kenteken, f"{v.display_kenteken} ({v.make} {v.model})") for v in service.list_vehicles()]


@bp.route("/assignments", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def assignments():
    form = AssignmentForm()
    form.driver.choices = [(u.email, f"{u.name} <{u.email}>") for u in service.drivers()]
    form.vehicle.choices = _vehicle_choices()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                assignment = service.create_assignment(form.driver.data, form.vehicle.data,
                                                       form.available_from.data, form.available_until.data)
            except FleetError as exc:
                form.available_from.errors.append(_message(exc))
            else:
                flash(_("%(plate)s assigned to %(name)s.", plate=assignment.vehicle.display_kenteken,
                        name=assignment.driver.name), "success")
                return redirect(url_for("fleet.assignments"))
        status = 400
    return render_template("fleet/assignments.html", form=form,
                           assignments=service.list_assignments()), status


@bp.route("/devices", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def devices():
    form = EnrollForm()
    form.vehicle.choices = _vehicle_choices()
    issued = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                issued = service.create_device(form.vehicle.data)
            except FleetError as exc:
                form.vehicle.errors.append(_message(exc))
                status = 400
        else:
            status = 400
    # The token is rendered into this one response and never stored in clear: no redirect,
    # no flash message (that would put it in the session cookie).
    return _no_store(render_template("fleet/devices.html", form=form, action_form=EmptyForm(),
                                     devices=service.list_devices(), issued=issued,
                                     server_url=request.host_url.rstrip("/")), status)


@bp.route("/devices/<device_id>/token", methods=["POST"])
@role_required(Role.ADMIN)
def device_token(device_id: str):
    action_form = EmptyForm()
    if not action_form.validate_on_submit():
        return redirect(url_for("fleet.devices"))
    form = EnrollForm()
    form.vehicle.choices = _vehicle_choices()
    try:
        issued = service.new_token(device_id)
    except FleetError as exc:
        flash(_message(exc), "error")
        return redirect(url_for("fleet.devices"))
    return _no_store(render_template("fleet/devices.html", form=form, action_form=action_form,
                                     devices=service.list_devices(), issued=issued,
                                     server_url=request.host_url.rstrip("/")), 200)


def _no_store(html: str, status: int):
    """A page that may hold a one-time token must not be kept in any cache."""
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/devices/<device_id>/retire", methods=["POST"])
@role_required(Role.ADMIN)
def device_retire(device_id: str):
    if EmptyForm().validate_on_submit():
        try:
            device = service.retire_device(device_id)
        except FleetError as exc:
            flash(_message(exc), "error")
        else:
            flash(_("Device %(device)s retired: its uploads are refused from now on.", device=device.id),
                  "success")
    return redirect(url_for("fleet.devices"))
