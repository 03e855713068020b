from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional


class VehicleForm(FlaskForm):
    kenteken = StringField(_l("Licence plate"), validators=[DataRequired(), Length(max=12)])
    make = StringField(_l("Make"), validators=[DataRequired(), Length(max=100)])
    model = StringField(_l("Model"), validators=[DataRequired(), Length(max=100)])


class AssignmentForm(FlaskForm):
    driver = SelectField(_l("Driver"), validators=[DataRequired()])
    vehicle = SelectField(_l("Vehicle"), validators=[DataRequired()])
    available_from = DateField(_l("Available from"), validators=[DataRequired()])
    available_until = DateField(_l("Available until (empty: open)"), validators=[Optional()])


class VehicleEditForm(FlaskForm):
    """Make and model only: the kenteken is the car's identity."""
    make = StringField(_l("Make"), validators=[DataRequired(), Length(max=100)])
    model = StringField(_l("Model"), validators=[DataRequired(), Length(max=100)])


class RetireForm(FlaskForm):
    retired_on = DateField(_l("Last day in the fleet"), validators=[DataRequired()])


class AssignmentEndForm(FlaskForm):
    """One row's last day on the assignments page (empty: open end). Rendered by hand per row,
    so that every row's input has its own id and label."""
    available_until = DateField(_l("Last day"), validators=[Optional()])


class EnrollForm(FlaskForm):
    vehicle = SelectField(_l("Vehicle"), validators=[DataRequired()])


class EmptyForm(FlaskForm):
    """Only the CSRF token: for one-button actions."""
