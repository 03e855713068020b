"""Build, render and audit one report: the single entry point for the web UI and the CLI."""
from __future__ import annotations

import importlib
import re
from typing import BinaryIO

from sqlalchemy import inspect

from backend import audit
from backend.access.purposes import TAX
from backend.models.accounts import User
from backend.reports import model as m
from backend.reports.build import ReportError, build_report

# The formats (name -> label in the format choice), in the order the pages offer them. Each name
# is a module backend/reports/<name>.py with render(report, out), CONTENT_TYPE and EXTENSION,
# imported when used. A new format is its module and a line here: the pages, `flask report`
# and the fleet export take their choice from this table.
FORMATS = {"pdf": "PDF", "xlsx": "Excel (XLSX)", "csv": "CSV", "xml": "XML"}


def renderer(fmt: str):
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return importlib.import_module(f"backend.reports.{fmt}")


def filename(report: m.Report, fmt: str) -> str:
    subject = re.sub(r"[^A-Za-z0-9]+", "-", report.title).strip("-") or "rapport"
    kind = "bestuurder" if report.subject == m.BY_DRIVER else "auto"
    return f"rittenregistratie-{report.year}-{kind}-{subject}.{fmt}"


def export(actor: User, out: BinaryIO, *, fmt: str, year: int, driver_id: int | None = None,
           vehicle_id: int | None = None, view: str = m.EMPLOYER) -> m.Report:
    """Write the report in `fmt` to `out` and record the export in the audit log."""
    renderer(fmt)  # an unknown format is refused before anything is read
    report = build_report(actor, year=year, driver_id=driver_id, vehicle_id=vehicle_id, view=view)
    write(actor, report, fmt, out, driver_id=driver_id, vehicle_id=vehicle_id)
    return report


def write(actor: User, report: m.Report, fmt: str, out: BinaryIO, *, driver_id: int | None = None,
          vehicle_id: int | None = None, checkpoint: dict | None = None) -> None:
    """Render a built report and audit the export (the driver's own export is audited by the
    access layer as own_export when it is read). A tax report (the employer's view) comes with
    a signed checkpoint (backend/checkpoints.py) of the report's cars, taken now unless the caller
    (the fleet export) took one for all its reports; the XML report carries it."""
    if report.view == m.EMPLOYER and checkpoint is None:
        from backend import checkpoints
        # Of the report's cars: a checkpoint of the whole database at every report would cost
        # what the database holds (issue 20); the daily one pins everything.
        checkpoint = checkpoints.issue("tax_report", vehicle_ids=[car.vehicle_id for car in report.cars])
    if fmt == "xml":
        renderer(fmt).render(report, out, checkpoint=checkpoint)
    else:
        renderer(fmt).render(report, out)
    if report.view == m.EMPLOYER:
        # The actor's id from its identity key: the report's audit commits expired the object,
        # and reading .id would reload the user and its roles just to name them here.
        identity = inspect(actor).identity
        audit.record(audit.FINANCE_EXPORT, actor=identity[0] if identity else actor,
                     subject_user_id=driver_id, subject_vehicle_id=vehicle_id,
                     purpose=TAX, details={"format": fmt, "year": report.year, "trips": report.totals.trips})
