"""The access layer: works-council agreements, purpose-change requests and grants, and the door
(backend.access.door) through which every read of trip data passes. See docs/access.md."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend import jobs
    from backend.access import cli, web
    cli.init_app(app)
    web.init_app(app)
    jobs.init_app(app)
