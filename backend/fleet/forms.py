from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from backend.web.validators import DataRequired, Length, Optional  # messages that say what to type

from backend.request_input import BoundedDateField


class VehicleForm(FlaskForm):
    kenteken = StringField(_l("Licence plate"), validators=[DataRequired(), Length(max=12)])
    make = StringField(_l("Make"), validators=[DataRequired(), Length(max=100)])
    model = StringField(_l("Model"), validators=[DataRequired(), Length(max=100)])


class AssignmentForm(FlaskForm):
    driver = SelectField(_l("Driver"), validators=[DataRequired()])
    vehicle = SelectField(_l("Vehicle"), validators=[DataRequired()])
    available_from = BoundedDateField(_l("Available from"), validators=[DataRequired()])
    available_until = BoundedDateField(_l("Available until (empty: open)"), validators=[Optional()])


class VehicleEditForm(FlaskForm):
    """Make and model only: the kenteken is the car's identity."""
    make = StringField(_l("Make"), validators=[DataRequired(), Length(max=100)])
    model = StringField(_l("Model"), validators=[DataRequired(), Length(max=100)])


class RetireForm(FlaskForm):
    retired_on = BoundedDateField(_l("Last day in the fleet"), validators=[DataRequired()])
    # Retiring cannot be undone: the admin confirms it on the form itself.
    confirm = BooleanField(_l("I understand that retiring the car cannot be undone"),
                           validators=[DataRequired(_l("Tick the box to confirm that the car leaves the fleet."))])


class AssignmentEndForm(FlaskForm):
    """One row's last day on the assignments page (empty: open end). Rendered by hand per row,
    so that every row's input has its own id and label."""
    available_until = BoundedDateField(_l("Last day"), validators=[Optional()])


class EnrollForm(FlaskForm):
    vehicle = SelectField(_l("Vehicle"), validators=[DataRequired()])


class EmptyForm(FlaskForm):
    """Only the CSRF token: for one-button actions."""
