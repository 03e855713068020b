"""Forms of the access pages (Flask-WTF: every form carries a CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from backend.web.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from backend.request_input import BoundedDateField

CATEGORY_LABELS = {
    "trip_summaries": _l("Trip summaries (date, times, odometer, km, business addresses)"),
    "business_tracks": _l("Routes of business trips"),
    "private_trip_details": _l("Start and end positions of private trips"),
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UploadForm(FlaskForm):
    document = FileField(_l("Agreement document (YAML or JSON)"))
    text = TextAreaField(_l("Or paste the document"), validators=[Optional(), Length(max=256 * 1024)])


class ConsentForm(FlaskForm):
    consent_date = BoundedDateField(_l("Date of the works council's decision"), validators=[InputRequired()])
    reference = StringField(_l("Decision reference"), validators=[DataRequired(), Length(max=200)])
    regeling_sha256 = HiddenField(validators=[DataRequired(), Length(min=64, max=64)])


class RequestForm(FlaskForm):
    purpose = SelectField(_l("Purpose (agreement clause)"), validators=[DataRequired()])
    subject_user_id = SelectField(_l("Employee"), coerce=str, validators=[Optional()])
    subject_vehicle_id = SelectField(_l("Car"), coerce=str, validators=[Optional()])
    period_start = BoundedDateField(_l("Period from"), validators=[InputRequired()])
    period_end = BoundedDateField(_l("Period until"), validators=[InputRequired()])
    categories = MultiCheckboxField(_l("Data categories"), choices=list(CATEGORY_LABELS.items()),
                                    validators=[DataRequired()])
    grant_days = IntegerField(_l("Duration of the grant (days)"), validators=[InputRequired(), NumberRange(1, 365)])
    grounds_category = SelectField(_l("Grounds"), validators=[DataRequired()])
    motivation = TextAreaField(_l("Written motivation"), validators=[DataRequired(), Length(max=5000)])


class DecisionForm(FlaskForm):
    decision = SelectField(_l("Decision"), choices=[("approve", _l("Approve")), ("deny", _l("Deny"))])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
    period_start = BoundedDateField(_l("Narrow the period: from"), validators=[Optional()])
    period_end = BoundedDateField(_l("Narrow the period: until"), validators=[Optional()])
    categories = MultiCheckboxField(_l("Data categories"), choices=list(CATEGORY_LABELS.items()),
                                    validators=[Optional()])
    grant_days = IntegerField(_l("Duration (days)"), validators=[Optional(), NumberRange(1, 365)])


class RevokeForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
    # A revocation cannot be undone (a new request is needed): confirmed on the form itself.
    confirm = BooleanField(_l("I understand that revoking cannot be undone"), validators=[DataRequired()])


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    event_type = SelectField(_l("Event"), validators=[Optional()])
    purpose = StringField(_l("Purpose"), validators=[Optional(), Length(max=64)])
    actor = StringField(_l("Actor (e-mail)"), validators=[Optional(), Length(max=254)])
    subject = StringField(_l("Employee concerned (e-mail)"), validators=[Optional(), Length(max=254)])
    date_from = BoundedDateField(_l("From"), validators=[Optional()])
    date_until = BoundedDateField(_l("Until"), validators=[Optional()])
