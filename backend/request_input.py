"""Ids and dates from URLs, query strings and forms, bounded once for the whole app.

An id beyond the database's integer range, or a text with a NUL character, matches no route
(404) instead of failing in the database driver; a date outside EARLIEST_DATE..LATEST_DATE is refused where it is read (a form
error or a 400) instead of overflowing date arithmetic deeper down (docs/access.md, "Bad input").
"""
from __future__ import annotations

from datetime import date

from flask import Flask
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter, UnicodeConverter
from werkzeug.routing import ValidationError as NoMatch
from wtforms import DateField
from wtforms.validators import ValidationError

MAX_DATABASE_ID = 2**31 - 1  # INTEGER on PostgreSQL (SQLite's is 2**63 - 1): every id column
# No trip, assignment or agreement of Ritbox is older than Unix time or centuries ahead; within
# these, a day plus or minus a year, in any time zone, is still a date.
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2999, 12, 31)


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` for the whole app: 0 to MAX_DATABASE_ID, else no match (404)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 - werkzeug's names
                 max: int | None = MAX_DATABASE_ID, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class TextConverter(UnicodeConverter):
    """`<name>` and `<string:...>` for the whole app: no NUL character (PostgreSQL refuses one
    in a text parameter), else no match (404)."""

    def to_python(self, value: str) -> str:
        if "\x00" in value:
            raise NoMatch()
        return value


def database_id(text: str) -> int:
    """An id from a form or query string; ValueError when it cannot be one (for `type=`)."""
    value = int(text)
    if not 0 <= value <= MAX_DATABASE_ID:
        raise ValueError(f"no id: {text[:30]!r}")
    return value


def date_in_range(day: date) -> bool:
    return EARLIEST_DATE <= day <= LATEST_DATE


class BoundedDateField(DateField):
    """A DateField that refuses a date outside EARLIEST_DATE..LATEST_DATE as a form error."""

    def pre_validate(self, form) -> None:
        if self.data is not None and not date_in_range(self.data):
            raise ValidationError(_l("Give a date between %(first)s and %(last)s.",
                                     first=EARLIEST_DATE.isoformat(), last=LATEST_DATE.isoformat()))


def init_app(app: Flask) -> None:
    """Before any blueprint: rules take their converter when they are added."""
    app.url_map.converters["int"] = DatabaseIdConverter
    app.url_map.converters["default"] = app.url_map.converters["string"] = TextConverter
