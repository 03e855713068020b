from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from backend.web.validators import DataRequired, Length, Regexp  # messages that say what to type
from wtforms.widgets import CheckboxInput, ListWidget

from backend.auth.passwords import MIN_PASSWORD_LENGTH
from backend.accounts import EMAIL_PATTERN
from backend.models.accounts import ROLE_VALUES
from backend.web.roles import ROLE_LABELS


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class NewUserForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[
        DataRequired(), Regexp(EMAIL_PATTERN, message=_l("Fill in an e-mail address, e.g. name@example.nl.")),
        Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    roles = MultiCheckboxField(_l("Roles"), choices=[(role, ROLE_LABELS[role]) for role in ROLE_VALUES],
                               validators=[DataRequired()])
    password = PasswordField(_l("Initial password"),
                             validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)])


class NameForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])


class DetailsForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Regexp(EMAIL_PATTERN), Length(max=254)],
                       filters=[lambda value: value.strip() if isinstance(value, str) else value])
    locale = SelectField(_l("Language"), choices=[("", _l("Default of the installation")), ("nl", "Nederlands"),
                                                   ("en", "English")])


class ProposeRoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[(role, ROLE_LABELS[role]) for role in ROLE_VALUES],
                       validators=[DataRequired()])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
