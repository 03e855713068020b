"""Finance's page for closing months (role finance)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from backend.web.validators import DataRequired, Length  # messages that say what to type

from backend.auth import role_required
from backend.fleet import service as fleet
from backend.models import Role
from backend.periods import service
from backend.periods.service import PeriodError

bp = Blueprint("periods", __name__, url_prefix="/finance/periods")


class CloseForm(FlaskForm):
    month = StringField(_l("Month (YYYY-MM)"), validators=[DataRequired(), Length(max=7)])
    vehicle = SelectField(_l("Vehicle"))


def _vehicle_choices(form: CloseForm) -> None:
    form.vehicle.choices = [("", _("Whole fleet"))] + [
        (str(v.id), f"{v.display_kenteken} ({v.make} {v.model})") for v in fleet.list_vehicles()]


@bp.route("/", methods=["GET", "POST"])
@role_required(Role.FINANCE)
def index():
    """Closing is irreversible: a POST without `confirm` closes nothing and sends finance to the
    confirmation page, which shows what is still open in that month; only its POST closes."""
    form = CloseForm()
    _vehicle_choices(form)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                month = service.parse_month(form.month.data)
                vehicle_id = int(form.vehicle.data) if form.vehicle.data else None
                if request.form.get("confirm") != "1":
                    service.check_closable(month, vehicle_id=vehicle_id,
                                           actor=current_user._get_current_object())
                    return redirect(url_for("periods.confirm", month=month.strftime("%Y-%m"),
                                            vehicle=vehicle_id or ""), 303)
                service.close_month(month, vehicle_id=vehicle_id,
                                    actor=current_user._get_current_object(), via="web")
            except PeriodError as exc:
                form.month.errors.append(exc.translated())
            else:
                flash(_("%(month)s is closed.", month=month.strftime("%Y-%m")), "success")
                return redirect(url_for("periods.index"), 303)
        status = 400
    return render_template("periods/index.html", form=form, closings=service.list_closings()), status


@bp.route("/confirm")
@role_required(Role.FINANCE)
def confirm():
    """What is still unclassified or incomplete in the month, and the button that closes it."""
    from flask import abort

    from backend.access import door
    from backend.models.fleet import Vehicle
    from backend.db import db

    vehicle_text = request.args.get("vehicle", "")
    if vehicle_text and (not vehicle_text.isdigit() or len(vehicle_text) > 12):
        abort(400)
    vehicle = db.session.get(Vehicle, int(vehicle_text)) if vehicle_text else None
    if vehicle_text and vehicle is None:
        abort(404)
    try:
        month = service.parse_month(request.args.get("month", ""))
        service.check_closable(month, vehicle_id=vehicle.id if vehicle else None,
                               actor=current_user._get_current_object())
    except PeriodError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("periods.index"), 303)
    check = door.month_check(current_user._get_current_object(), month, vehicle.id if vehicle else None)
    trips_args = {"month": month.strftime("%Y-%m"), **({"vehicle": vehicle.id} if vehicle else {})}
    return render_template("periods/confirm.html", month=month, vehicle=vehicle, check=check,
                           trips_args=trips_args)


# --- finance's correction of one trip (also in closed months), always with a reason -----------

@bp.route("/trips/<int:trip_id>", methods=["GET", "POST"])
@role_required(Role.FINANCE)
def correct(trip_id: int):
    """Finance corrects a trip: what the driver could change, plus a mandatory reason that the
    report shows next to the original value. The trip is read through the door (audited)."""
    from backend.access import door
    from backend.trips import revisions
    from backend.trips.revisions import RevisionError

    me = current_user._get_current_object()
    status, error = 200, None
    if request.method == "POST":
        changes: dict[str, object] = {}
        if request.form.get("classification"):
            changes["classification"] = request.form["classification"]
        for name in ("business_relation", "detour", "private_detour_km"):
            if name in request.form:
                changes[name] = request.form[name]
        if request.form.get("note", "").strip():
            changes["note"] = request.form["note"]
        try:
            if not changes:
                raise RevisionError("Nothing to change.")
            written = revisions.revise(me, [trip_id], changes, reason=request.form.get("reason"))
        except RevisionError as exc:
            status, error = 400, exc.translated()
        else:
            flash(_("Saved: %(n)s change(s).", n=len(written)) if written else _("Nothing changed."), "success")
            return redirect(_back_to_list() or url_for("periods.correct", trip_id=trip_id), 303)
    (trip,) = door.trip_summaries(me, [trip_id])
    annotation = revisions.current_annotations([trip])[trip.id]
    history = revisions.revision_history([trip])[trip.id]
    from backend.driver.views import CLASS_LABELS, FIELD_LABELS, MODE_LABELS
    from backend.models.revisions import TRIP_CLASSES
    from backend.periods.service import is_closed
    return render_template("periods/correct.html", trip=trip, annotation=annotation, history=history,
                           closed=is_closed(trip.vehicle_id, trip.local_date), error=error,
                           class_labels=CLASS_LABELS, field_labels=FIELD_LABELS, mode_labels=MODE_LABELS,
                           trip_classes=TRIP_CLASSES, back=_back_to_list()), status


def _back_to_list() -> str | None:
    """The filtered trip list the correction was opened from (only that page: no open redirect)."""
    target = request.values.get("next", "")
    if target.startswith("/finance/trips") and "//" not in target and "\\" not in target and len(target) <= 1000:
        return target
    return None
