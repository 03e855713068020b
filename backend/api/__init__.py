"""The JSON API for devices under /api/v1 (enrollment, trip upload, OpenAPI document)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend.api.views import bp
    from backend.security import csrf

    # Devices authenticate each request by signature (or a one-time token), never by a session
    # cookie, so there is nothing for a cross-site request to ride on: no CSRF token needed.
    csrf.exempt(bp)
    app.register_blueprint(bp)
