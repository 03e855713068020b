from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField
from backend.web.validators import DataRequired, EqualTo, Length  # messages that say what to type

from backend.auth.passwords import MIN_PASSWORD_LENGTH
from backend.config import SUPPORTED_LOCALES

LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}


class LanguageForm(FlaskForm):
    language = SelectField(_l("Language"), choices=[(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"),
                                 validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)])
    repeat_password = PasswordField(_l("Repeat new password"),
                                    validators=[DataRequired(), EqualTo("new_password")])
