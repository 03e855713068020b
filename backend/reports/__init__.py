"""Tax reports (rittenregistratie) per driver or per car per calendar year, in CSV, XLSX, PDF
and XML. The model (model.py) is assembled through the door (build.py) and rendered by one
module per format; export.py ties building, rendering and the audit record together."""

from flask import Flask


def init_app(app: Flask) -> None:
    from backend.reports import cli
    cli.init_app(app)
