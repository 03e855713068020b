"""`flask --app backend report ...`: one report per driver or car and year, or the whole fleet.

    flask --app backend report --vehicle GB-XJ-12 --year 2025 --format pdf --out gbxj12.pdf
    flask --app backend report --driver daan@example.nl --year 2025 --format csv --out daan.csv
    flask --app backend report --fleet --year 2025 --format xlsx --out fleet-2025.zip

The export runs in the name of a finance user (--as; optional when there is exactly one), so
the door decides and the audit log records who exported what. Nothing is written on bad input:
the file appears only once the report is complete."""
from __future__ import annotations

import os
import sys
import tempfile

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import select

from backend.access.door import AccessDenied
from backend.accounts import find_user
from backend.db import db
from backend.models.accounts import Role, User, UserRole
from backend.reports import export as exports
from backend.reports.build import ReportError, find_driver, find_vehicle


def _actor(email: str | None) -> User:
    if email:
        user = find_user(email)
        if user is None:
            raise click.ClickException(f"no user with e-mail {email}")
        return user
    finance = list(db.session.scalars(select(User).join(UserRole).where(UserRole.role == Role.FINANCE.value)))
    if len(finance) != 1:
        raise click.ClickException("say on whose behalf with --as EMAIL (a finance user): "
                                   f"there are {len(finance)} finance users")
    return finance[0]


def _atomic_output(path: str):
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise click.ClickException(f"{path}: the folder does not exist")
    return tempfile.NamedTemporaryFile(dir=directory, prefix=".report-", delete=False)


@click.command("report")
@click.option("--driver", "driver_email", metavar="EMAIL", help="Report for this driver.")
@click.option("--vehicle", "kenteken", metavar="KENTEKEN", help="Report for this car.")
@click.option("--fleet", is_flag=True, help="One report per car, all in a zip file (with a progress bar).")
@click.option("--year", type=int, required=True, help="The tax (calendar) year.")
@click.option("--format", "fmt", type=click.Choice(tuple(exports.FORMATS)), required=True)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--as", "actor_email", metavar="EMAIL", help="The finance user exporting (audited).")
@with_appcontext
def report_command(driver_email, kenteken, fleet, year, fmt, out_path, actor_email) -> None:
    """Write a tax report (rittenregistratie) as CSV, XLSX, PDF or XML."""
    if sum(bool(x) for x in (driver_email, kenteken, fleet)) != 1:
        raise click.UsageError("give exactly one of --driver EMAIL, --vehicle KENTEKEN and --fleet")
    actor = _actor(actor_email)
    handle = _atomic_output(out_path)
    try:
        with handle:
            if fleet:
                result = _fleet(actor, handle, year, fmt)
            else:
                subject = ({"driver_id": find_driver(driver_email).id} if driver_email
                           else {"vehicle_id": find_vehicle(kenteken).id})
                report = exports.export(actor, handle, fmt=fmt, year=year, **subject)
        os.replace(handle.name, out_path)
    except (ReportError, AccessDenied) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
    if fleet:
        click.echo(f"wrote {out_path}: {result.reports} report(s) for {result.total} car(s)"
                   + (f", {len(result.skipped)} without trips in {year}" if result.skipped else ""))
    else:
        click.echo(f"wrote {out_path}: {report.totals.trips} trip(s), {report.totals.total} km")


def _fleet(actor: User, handle, year: int, fmt: str):
    from backend.models.fleet import Vehicle
    from backend.reports.fleet import export_fleet
    total = db.session.scalar(select(db.func.count()).select_from(Vehicle))
    if not total:
        raise ReportError("there are no cars in the fleet")
    with click.progressbar(length=total, label=f"rapporten {year}", file=sys.stderr,
                           show_pos=True) as bar:
        state = {"done": 0}

        def progress(done: int, _total: int) -> None:
            bar.update(done - state["done"])
            state["done"] = done

        return export_fleet(actor.id, handle, year=year, fmt=fmt, progress=progress)


@click.command("report-simplified")
@click.option("--vehicle", "kenteken", required=True, metavar="KENTEKEN", help="The van.")
@click.option("--year", type=int, required=True, help="The tax (calendar) year.")
@click.option("--format", "fmt", type=click.Choice(("csv", "xlsx", "xml", "pdf")), required=True)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--as", "actor_email", metavar="EMAIL", help="The finance user exporting (audited).")
@with_appcontext
def report_simplified_command(kenteken, year, fmt, out_path, actor_email) -> None:
    """The simplified van registration: per day working hours and odometers, private trips in full."""
    from backend.reports import simplified

    actor = _actor(actor_email)
    handle = _atomic_output(out_path)
    try:
        with handle:
            report = simplified.export(actor, handle, fmt=fmt, vehicle_id=find_vehicle(kenteken).id, year=year)
        os.replace(handle.name, out_path)
    except (ReportError, AccessDenied) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
    click.echo(f"wrote {out_path}: {len(report.days)} day(s), {len(report.private_trips)} private trip(s)")


def init_app(app: Flask) -> None:
    app.cli.add_command(report_command)
    app.cli.add_command(report_simplified_command)
