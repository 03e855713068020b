"""Dutch first, English second: the user's choice, then a cookie, then the default."""
from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel
from flask_login import current_user

from backend.config import SUPPORTED_LOCALES

LANGUAGE_COOKIE = "ritbox_lang"
babel = Babel()


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.locale in SUPPORTED_LOCALES:
        return current_user.locale
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie in SUPPORTED_LOCALES:
        return cookie
    from flask import current_app
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Amsterdam")
    babel.init_app(app, locale_selector=select_locale)
    from backend.numbers import km_nl, metres_km_nl, number_nl, trip_km
    app.add_template_filter(km_nl, "km_nl")  # every km figure on a page, rounded as the reports round
    app.add_template_filter(metres_km_nl, "metres_km_nl")
    app.add_template_filter(number_nl, "number_nl")
    from backend.trips.event_texts import flag_label, flag_labels
    app.add_template_global(flag_label, "flag_label")  # a flag in words on any page, never its code
    app.add_template_global(flag_labels, "flag_labels")
    app.add_template_global(trip_km, "trip_km")

    @app.context_processor
    def _languages():
        from flask_babel import get_locale
        return {"supported_locales": SUPPORTED_LOCALES, "current_locale": str(get_locale())}
