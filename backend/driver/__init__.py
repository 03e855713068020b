"""The driver's pages: my trips (by month, filters, classify alone or in bulk), trip detail with
the business track as SVG, the 500 km counter, and my home/work places."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend.driver.views import bp

    app.register_blueprint(bp)
