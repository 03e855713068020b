"""Finance's pages: tax reports per driver or car and year in every format, and the fleet-wide
export running in the background with a status the page polls. Also the driver's own export
(their private addresses included), which lives here because it is the same report."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend.finance.trip_list import bp as trips_bp
    from backend.finance.views import bp, own_bp

    app.register_blueprint(bp)
    app.register_blueprint(trips_bp)
    app.register_blueprint(own_bp)
