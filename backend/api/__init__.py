"""The JSON API for devices under /api/v1 (enrollment, trip upload, OpenAPI document)."""
from __future__ import annotations

from flask import Flask, jsonify, request
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

    # A UserError no view answered (most views answer their own, on their page or form): a 400
    # with its message, a JSON body under /api/, never a 500. One handler for every blueprint.
    from werkzeug.exceptions import BadRequest

    from backend.db import db
    from backend.errors import UserError

    def user_error(exc: UserError):
        db.session.rollback()
        if request.path.startswith(API_PREFIX):
            return jsonify({"error": "refused", "message": str(exc)}), 400
        return error_page(BadRequest(), refusal=exc.translated())

    app.register_error_handler(UserError, user_error)
