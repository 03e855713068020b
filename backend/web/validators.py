"""WTForms' validators with messages that say what to type in which field ("Vul bij Reden 10 tot
2000 tekens in"), in the reader's language, instead of WTForms' generic "Field must be between...".
Forms import their validators from here; the checks themselves are WTForms' own."""
from __future__ import annotations

from flask_babel import gettext as _
from wtforms import SelectFieldBase
from wtforms import validators as wtf
from wtforms.validators import Optional, StopValidation, ValidationError  # noqa: F401 - re-exported

__all__ = ["DataRequired", "EqualTo", "InputRequired", "Length", "NumberRange", "Optional", "Regexp"]


def _name(field) -> str:
    """The field's label as a word in a sentence: "Reden" -> "reden" (not "BSN" or "E-mailadres" mid-word)."""
    text = str(field.label.text).strip().rstrip(":")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _missing(field) -> str:
    if isinstance(field, SelectFieldBase):
        return _("Choose %(field)s.", field=_name(field))
    return _("Fill in %(field)s.", field=_name(field))


class _SaysWhatIsMissing:
    """For WTForms' required-validators: an empty field names itself ("Vul reden in.")."""

    def __call__(self, form, field):
        try:
            super().__call__(form, field)
        except StopValidation:
            field.errors[:] = []
            raise StopValidation(self.message or _missing(field)) from None


class DataRequired(_SaysWhatIsMissing, wtf.DataRequired):
    pass


class InputRequired(_SaysWhatIsMissing, wtf.InputRequired):
    pass


class Length(wtf.Length):
    def __call__(self, form, field):
        try:
            super().__call__(form, field)
        except ValidationError:
            if self.message:
                raise
            name = _name(field)
            if self.min > 0 and self.max >= 0:
                raise ValidationError(_("Fill in %(field)s with %(min)d to %(max)d characters.",
                                        field=name, min=self.min, max=self.max)) from None
            if self.max >= 0:
                raise ValidationError(_("%(field)s may have at most %(max)d characters.",
                                        field=str(field.label.text), max=self.max)) from None
            raise ValidationError(_("Fill in %(field)s with at least %(min)d characters.",
                                    field=name, min=self.min)) from None


class NumberRange(wtf.NumberRange):
    def __call__(self, form, field):
        try:
            super().__call__(form, field)
        except ValidationError:
            if self.message:
                raise
            raise ValidationError(_("Fill in %(field)s as a whole number from %(min)s to %(max)s.",
                                    field=_name(field), min=self.min, max=self.max)) from None


class Regexp(wtf.Regexp):
    def __call__(self, form, field, message=None):
        try:
            super().__call__(form, field, message)
        except ValidationError:
            if self.message:
                raise
            raise ValidationError(_("%(field)s does not have the expected form.",
                                    field=str(field.label.text))) from None


class EqualTo(wtf.EqualTo):
    def __call__(self, form, field):
        try:
            super().__call__(form, field)
        except ValidationError:
            if self.message:
                raise
            other = form[self.fieldname]
            raise ValidationError(_("Type the same as in %(other)s.", other=_name(other))) from None
