from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField
from backend.web.validators import DataRequired, NumberRange  # messages that say what to type

from backend.reports import export

FORMAT_CHOICES = list(export.FORMATS.items())


class ReportForm(FlaskForm):
    # "driver:<id>" or "vehicle:<id>"; choices are filled in by the view (grouped).
    subject = SelectField(_l("Driver or car"), validators=[DataRequired()])
    year = IntegerField(_l("Year"), validators=[DataRequired(), NumberRange(2000, 2100)])
    format = SelectField(_l("Format"), choices=FORMAT_CHOICES, validators=[DataRequired()])


class FleetExportForm(FlaskForm):
    year = IntegerField(_l("Year"), validators=[DataRequired(), NumberRange(2000, 2100)])
    format = SelectField(_l("Format"), choices=FORMAT_CHOICES, validators=[DataRequired()])


class OwnReportForm(FlaskForm):
    year = IntegerField(_l("Year"), validators=[DataRequired(), NumberRange(2000, 2100)])
    format = SelectField(_l("Format"), choices=FORMAT_CHOICES, validators=[DataRequired()])
