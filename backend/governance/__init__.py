"""Governance: the works council's say over any use of trip data beyond the tax registration.
Agreements (and their consent), purpose-change requests, approvals, grants, the notices to the
employee, the statistics for the works council, and their pages (web.py: the `agreements`,
`access` and `audit` blueprints) and CLI. Trip data itself is read only through the door
(backend.access.door), which decides by the agreement in force and the grants kept here.
See docs/access.md and docs/agreements.md."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backend import jobs
    from backend.governance import cli, web
    from backend.governance.labels import ground_label, purpose_label
    # Every page names a purpose or ground in words, never by its code.
    app.add_template_global(purpose_label, "purpose_label")
    app.add_template_global(ground_label, "ground_label")
    cli.init_app(app)
    web.init_app(app)
    jobs.init_app(app)
