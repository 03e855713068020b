"""Finance's page for closing months (role finance)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from backend.auth import role_required
from backend.fleet import service as fleet
from backend.models import Role
from backend.periods import service
from backend.periods.service import PeriodError

bp = Blueprint("periods", __name__, url_prefix="/finance/periods")


class CloseForm(FlaskForm):
    month = StringField(_l("Month (YYYY-MM)"), validators=[DataRequired(), Length(max=7)])
    vehicle = SelectField(_l("Vehicle"))


@bp.route("/", methods=["GET", "POST"])
@role_required(Role.FINANCE)
def index():
    form = CloseForm()
    form.vehicle.choices = [("", _("Whole fleet"))] + [
        (str(v.id), f"{v.display_kenteken} ({v.make} {v.model})") for v in fleet.list_vehicles()]
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                month = service.parse_month(form.month.data)
                service.close_month(month, vehicle_id=int(form.vehicle.data) if form.vehicle.data else None,
                                    actor=current_user._get_current_object(), via="web")
            except PeriodError as exc:
                form.month.errors.append(_(exc.msgid, **exc.params))
            else:
                flash(_("%(month)s is closed.", month=month.strftime("%Y-%m")), "success")
                return redirect(url_for("periods.index"))
        status = 400
    return render_template("periods/index.html", form=form, closings=service.list_closings()), status
