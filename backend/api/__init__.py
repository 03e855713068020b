"""The JSON API for devices under /api/v1 (enrollment, trip upload, OpenAPI document)."""
from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import HTTPException

API_PREFIX = "/api/"


def init_app(app: Flask) -> None:
    from backend.api.views import bp, json_http_error
    from backend.security import csrf

    # Devices authenticate each request by signature (or a one-time token), never by a session
    # cookie, so there is nothing for a cross-site request to ride on: no CSRF token needed.
    csrf.exempt(bp)
    app.register_blueprint(bp)

    # On the app, not the blueprint: a 404 or 405 is raised before any blueprint is chosen, and
    # an unhandled exception arrives as a 500 here. Other paths get a page in the reader's language.
    from backend.web.errors import error_page

    def http_error(exc: HTTPException):
        return json_http_error(exc) if request.path.startswith(API_PREFIX) else error_page(exc)

    app.register_error_handler(HTTPException, http_error)
