"""Admin pages for the fleet: vehicles, assignments, devices (role admin).

No trip contents are shown here: the fleet pages manage who drives what, not where anyone went.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from backend.auth import role_required
from backend.fleet import service
from backend.fleet.forms import (AssignmentEndForm, AssignmentForm, EmptyForm, EnrollForm, RetireForm,
                                 VehicleEditForm, VehicleForm)
from backend.fleet.service import FleetError
from backend.models import Role

bp = Blueprint("fleet", __name__, url_prefix="/admin/fleet")



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
                form.kenteken.errors.append(exc.translated())
            else:
                flash(_("Vehicle %(plate)s added.", plate=vehicle.display_kenteken), "success")
                return redirect(url_for("fleet.vehicles"))
        status = 400
    return render_template("fleet/vehicles.html", form=form, vehicles=service.list_vehicles()), status


def _vehicle_or_404(kenteken: str):
    vehicle = service.find_vehicle(kenteken)
    if vehicle is None:
        abort(404)
    return vehicle


def _vehicle_page(vehicle, edit_form: VehicleEditForm, retire_form: RetireForm, status: int = 200):
    return render_template("fleet/vehicle_edit.html", vehicle=vehicle, form=edit_form,
                           retire_form=retire_form), status


@bp.route("/vehicles/<kenteken>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def vehicle_edit(kenteken: str):
    vehicle = _vehicle_or_404(kenteken)
    form = VehicleEditForm(obj=vehicle) if request.method == "GET" else VehicleEditForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                service.update_vehicle(vehicle.kenteken, form.make.data, form.model.data)
            except FleetError as exc:
                form.make.errors.append(exc.translated())
            else:
                flash(_("Vehicle %(plate)s saved.", plate=vehicle.display_kenteken), "success")
                return redirect(url_for("fleet.vehicles"))
        return _vehicle_page(vehicle, form, RetireForm(formdata=None), 400)
    return _vehicle_page(vehicle, form, RetireForm(formdata=None))


@bp.route("/vehicles/<kenteken>/retire", methods=["POST"])
@role_required(Role.ADMIN)
def vehicle_retire(kenteken: str):
    vehicle = _vehicle_or_404(kenteken)
    form = RetireForm()
    if form.validate_on_submit():
        try:
            service.retire_vehicle(vehicle.kenteken, form.retired_on.data, actor=current_user, via="web")
        except FleetError as exc:
            form.retired_on.errors.append(exc.translated())
        else:
            flash(_("%(plate)s left the fleet on %(date)s; its assignments are ended and its devices retired.",
                    plate=vehicle.display_kenteken, date=form.retired_on.data.isoformat()), "success")
            return redirect(url_for("fleet.vehicles"))
    return _vehicle_page(vehicle, VehicleEditForm(formdata=None, obj=vehicle), form, 400)


def _vehicle_choices() -> list[tuple[str, str]]:
    # A car that left the fleet cannot get a new driver or device: not offered.
    return [(v.kenteken, f"{v.display_kenteken} ({v.make} {v.model})") for v in service.list_vehicles()
            if v.retired_on is None]


def _assignments_page(form: AssignmentForm, status: int, row_errors: dict[int, str] | None = None,
                      row_values: dict[int, str] | None = None):
    return render_template("fleet/assignments.html", form=form, action_form=EmptyForm(),
                           assignments=service.list_assignments(), row_errors=row_errors or {},
                           row_values=row_values or {}), status


def _new_assignment_form(blank: bool = False) -> AssignmentForm:
    """The new-assignment form; `blank` for a page answering a row action (whose POST is not
    meant for this form)."""
    form = AssignmentForm(formdata=None) if blank else AssignmentForm()
    form.driver.choices = [(u.email, f"{u.name} <{u.email}>") for u in service.drivers()]
    form.vehicle.choices = _vehicle_choices()
    return form


def _assignment_or_404(assignment_id: int) -> None:
    """A row action on a row that is not there (deleted meanwhile) has no row to show its error in."""
    try:
        service.get_assignment(assignment_id)
    except FleetError:
        abort(404)


@bp.route("/assignments/<int:assignment_id>/end", methods=["POST"])
@role_required(Role.ADMIN)
def assignment_end(assignment_id: int):
    """Set or move one assignment's last day (empty: open end again)."""
    _assignment_or_404(assignment_id)
    form = AssignmentEndForm()
    if not form.validate_on_submit():
        message = form.available_until.errors[0] if form.available_until.errors else _("Please try again.")
        return _assignments_page(_new_assignment_form(blank=True), 400, {assignment_id: message},
                                 {assignment_id: request.form.get("available_until", "")})
    until = form.available_until.data
    try:
        assignment = service.change_assignment(assignment_id, available_until=until, open_end=until is None,
                                               actor=current_user, via="web")
    except FleetError as exc:
        return _assignments_page(_new_assignment_form(blank=True), 400, {assignment_id: exc.translated()},
                                 {assignment_id: request.form.get("available_until", "")})
    if assignment.available_until:
        flash(_("The assignment of %(plate)s to %(name)s now ends on %(date)s.",
                plate=assignment.vehicle.display_kenteken, name=assignment.driver.name,
                date=assignment.available_until.isoformat()), "success")
    else:
        flash(_("The assignment of %(plate)s to %(name)s is open-ended now.",
                plate=assignment.vehicle.display_kenteken, name=assignment.driver.name), "success")
    return redirect(url_for("fleet.assignments"))


@bp.route("/assignments/<int:assignment_id>/delete", methods=["POST"])
@role_required(Role.ADMIN)
def assignment_delete(assignment_id: int):
    _assignment_or_404(assignment_id)
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("fleet.assignments"))
    try:
        service.delete_assignment(assignment_id, actor=current_user, via="web")
    except FleetError as exc:
        return _assignments_page(_new_assignment_form(blank=True), 400, {assignment_id: exc.translated()})
    flash(_("Assignment deleted."), "success")
    return redirect(url_for("fleet.assignments"))


@bp.route("/assignments", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def assignments():
    form = _new_assignment_form()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                assignment = service.create_assignment(form.driver.data, form.vehicle.data,
                                                       form.available_from.data, form.available_until.data,
                                                       actor=current_user, via="web")
            except FleetError as exc:
                form.available_from.errors.append(exc.translated())
            else:
                flash(_("%(plate)s assigned to %(name)s.", plate=assignment.vehicle.display_kenteken,
                        name=assignment.driver.name), "success")
                return redirect(url_for("fleet.assignments"))
        status = 400
    return _assignments_page(form, status)


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
                form.vehicle.errors.append(exc.translated())
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
        flash(exc.translated(), "error")
        return redirect(url_for("fleet.devices"))
    return _no_store(render_template("fleet/devices.html", form=form, action_form=action_form,
                                     devices=service.list_devices(), issued=issued,
                                     server_url=request.host_url.rstrip("/")), 200)


def _no_store(html: str, status: int):
    """A page that may hold a one-time token must not be kept in any cache."""
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/devices/<device_id>/retire", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def device_retire(device_id: str):
    """Retiring a device cannot be undone: the list's button leads to this confirmation (a POST
    without `confirm` retires nothing), whose own button retires it."""
    from backend.db import db
    from backend.models.fleet import Device
    device = db.session.get(Device, device_id[:64])
    if device is None:
        abort(404)
    if request.method == "GET":
        return render_template("fleet/device_retire.html", device=device, action_form=EmptyForm())
    if EmptyForm().validate_on_submit():
        if request.form.get("confirm") != "1":
            return redirect(url_for("fleet.device_retire", device_id=device_id), 303)
        try:
            device = service.retire_device(device_id)
        except FleetError as exc:
            flash(exc.translated(), "error")
        else:
            flash(_("Device %(device)s retired: its uploads are refused from now on.", device=device.id),
                  "success")
    return redirect(url_for("fleet.devices"), 303)
