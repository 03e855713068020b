"""The calibration page (finance.calibrations): finance records readings for any car and sees
every car's due status; a driver records readings for the car assigned to them (same page,
role-aware). No trip contents are shown: only odometer figures per calibration.

The endpoints are named finance.* (the navigation's placeholder) but registered on the app, not
on a "finance" blueprint: the reports' pages may own that blueprint, and two blueprints cannot
share a name.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateTimeLocalField, SelectField, StringField
from backend.web.validators import DataRequired, Length  # messages that say what to type

from backend.auth import role_required
from backend.db import db
from backend.models import Role
from backend.models.odometer import OdometerCalibration
from backend.numbers import metres_km_nl
from backend.odometer import photos, service
from backend.odometer.photos import PhotoError
from backend.local_time import LOCAL
from backend.odometer.service import CalibrationError


class CalibrationForm(FlaskForm):
    vehicle = SelectField(_l("Vehicle"), validators=[DataRequired()])
    km = StringField(_l("Odometer reading on the dashboard (km)"), validators=[DataRequired(), Length(max=20)])
    read_at = DateTimeLocalField(_l("Date and time of the reading"), format="%Y-%m-%dT%H:%M",
                                 validators=[DataRequired()])
    photo = FileField(_l("Photo of the dashboard (optional: JPEG, PNG or WebP)"))
    confirm_reason = StringField(_l("Reason, when the reading differs much from the GPS km (optional)"),
                                 validators=[Length(max=500)])



@role_required(Role.FINANCE, Role.DRIVER)
def calibrations():
    vehicles = service.vehicles_for(current_user)
    form = CalibrationForm()
    form.vehicle.choices = [(v.kenteken, f"{v.display_kenteken} ({v.make} {v.model})") for v in vehicles]
    by_plate = {v.kenteken: v for v in vehicles}
    selected = by_plate.get(request.args.get("vehicle", "").replace("-", "").upper())
    if selected is None and len(vehicles) == 1:
        selected = vehicles[0]
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            vehicle = by_plate.get(form.vehicle.data)
            if vehicle is None:  # not one of the actor's cars
                abort(403)
            data = form.photo.data.read() if form.photo.data else None
            read_at = form.read_at.data.replace(tzinfo=LOCAL).astimezone(timezone.utc)
            try:
                calibration = service.record(vehicle, form.km.data, read_at, current_user, photo=data or None,
                                             confirm_reason=form.confirm_reason.data)
            except CalibrationError as exc:
                form.km.errors.append(exc.translated())
            except PhotoError as exc:
                form.photo.errors.append(exc.translated())
            else:
                if calibration.is_first:
                    flash(_("First reading of %(plate)s recorded: it sets the offset from the GPS odometer.",
                            plate=vehicle.display_kenteken), "success")
                else:
                    flash(_("Reading of %(plate)s recorded: %(km)s km correction spread over %(trips)s trip(s).",
                            plate=vehicle.display_kenteken, km=km_text(calibration.correction_m, signed=True),
                            trips=calibration.trips_spread), "success")
                return redirect(url_for("finance.calibrations", vehicle=vehicle.kenteken))
        status = 400
    elif selected is not None:
        form.vehicle.data = selected.kenteken
    if not form.read_at.data:
        form.read_at.data = datetime.now(LOCAL).replace(second=0, microsecond=0, tzinfo=None)
    return render_template(
        "odometer/calibrations.html", form=form, statuses=[service.due_status(v) for v in vehicles],
        selected=selected, history=service.calibrations_for_vehicle(selected.id) if selected else [],
        reminders=service.open_reminders(current_user), km_text=km_text, LOCAL=LOCAL), status


@role_required(Role.FINANCE, Role.DRIVER)
def calibration_photo(calibration_id: int):
    calibration = db.session.get(OdometerCalibration, calibration_id)
    if calibration is None or not calibration.photo_path:
        abort(404)
    if calibration.vehicle_id not in {v.id for v in service.vehicles_for(current_user)}:
        abort(403)
    try:
        path = photos.absolute_path(calibration.photo_path)
    except PhotoError:
        abort(404)
    response = send_file(path, mimetype=calibration.photo_type, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def km_text(metres: int | None, signed: bool = False) -> str:
    """As the report prints it (backend.numbers): 48213,4."""
    return metres_km_nl(metres, signed)


def init_app(app: Flask) -> None:
    app.add_url_rule("/finance/calibrations", endpoint="finance.calibrations", view_func=calibrations,
                     methods=["GET", "POST"])
    app.add_url_rule("/finance/calibrations/<int:calibration_id>/photo", endpoint="finance.calibration_photo",
                     view_func=calibration_photo)

