"""Period closing: finance closes a month (page under /finance/periods, `flask periods close`)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend.periods.cli import periods_cli
    from backend.periods.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(periods_cli)
