"""The access layer: works-council agreements, purpose-change requests and grants, and the door
(backend.access.door) through which every read of trip data passes. See docs/access.md."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend import jobs
    from backend.access import cli, web
    from backend.access.labels import ground_label, purpose_label
    # Every page names a purpose or ground in words, never by its code.
    app.add_template_global(purpose_label, "purpose_label")
    app.add_template_global(ground_label, "ground_label")
    cli.init_app(app)
    web.init_app(app)
    jobs.init_app(app)
