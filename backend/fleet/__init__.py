"""The fleet: vehicles, driver assignments, devices and their enrollment (admin pages and CLI)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend.fleet.cli import init_app as init_cli
    from backend.fleet.views import bp

    app.register_blueprint(bp)
    init_cli(app)
