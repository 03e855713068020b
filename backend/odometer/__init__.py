"""Odometer calibration: dashboard readings, the corrections they book, reminders (docs/odometer.md)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend.odometer.cli import odometer_cli
    from backend.odometer.web import init_app as init_web

    init_web(app)
    app.cli.add_command(odometer_cli)
