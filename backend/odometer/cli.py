"""`flask --app backend odometer record|list|remind`."""
from __future__ import annotations

from datetime import datetime, timezone

import click
from flask.cli import AppGroup

from backend.accounts import find_user
from backend.fleet import service as fleet
from backend.fleet.service import FleetError
from backend.odometer import service
from backend.odometer.photos import PhotoError
from backend.local_time import LOCAL
from backend.odometer.service import CalibrationError

odometer_cli = AppGroup("odometer", help="Odometer calibrations (dashboard readings) and their corrections.")


def _vehicle(kenteken: str):
    try:
        return fleet.get_vehicle(kenteken)
    except FleetError as exc:
        raise click.ClickException(str(exc)) from None


def _moment(text: str | None) -> datetime:
    """ISO date-time; without a zone it is Amsterdam local time."""
    if not text:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date-time like 2026-03-01T08:30") from None
    return moment.replace(tzinfo=LOCAL) if moment.tzinfo is None else moment


@odometer_cli.command("record")
@click.option("--vehicle", "kenteken", required=True, help="Licence plate, e.g. GB-XJ-12.")
@click.option("--km", required=True, help="The dashboard reading in km (e.g. 48213 or 48213,4).")
@click.option("--at", "at", help="When the dashboard showed it (ISO; local time without a zone). Default: now.")
@click.option("--photo", type=click.Path(exists=True, dir_okay=False), help="Photo of the dashboard (JPEG, PNG, WebP).")
@click.option("--by", "email", help="Record it in the name of this finance user or the car's driver.")
@click.option("--confirm-reason", "confirm_reason",
              help="Book a reading beyond the plausibility bound anyway, for this reason (shown in the reports).")
def record_command(kenteken: str, km: str, at: str | None, photo: str | None, email: str | None,
                   confirm_reason: str | None) -> None:
    """Record a dashboard reading; the difference from the GPS odometer is booked as correction."""
    vehicle = _vehicle(kenteken)
    actor = None
    if email:
        actor = find_user(email)
        if actor is None:
            raise click.ClickException(f"no user with e-mail {email}")
    data = None
    if photo:
        with open(photo, "rb") as handle:
            data = handle.read()
    try:
        calibration = service.record(vehicle, km, _moment(at), actor, photo=data, via_cli=actor is None,
                                     confirm_reason=confirm_reason)
    except (CalibrationError, PhotoError) as exc:
        raise click.ClickException(str(exc)) from None
    except service.door.AccessDenied as exc:
        raise click.ClickException(f"refused: {exc}") from None
    if calibration.is_first:
        offset = "no trips yet" if calibration.offset_m is None else f"offset {calibration.offset_m / 1000:+.3f} km"
        click.echo(f"calibration {calibration.id}: first reading of {vehicle.display_kenteken}, {offset}")
    else:
        click.echo(f"calibration {calibration.id}: {calibration.correction_m / 1000:+.3f} km booked over "
                   f"{calibration.trips_spread} trip(s) ({calibration.gps_delta_m / 1000:.3f} km by GPS, "
                   f"{calibration.dashboard_delta_m / 1000:.3f} km on the dashboard)")


@odometer_cli.command("list")
@click.option("--vehicle", "kenteken", required=True)
def list_command(kenteken: str) -> None:
    """The car's calibrations, newest first, and when the next one is due."""
    vehicle = _vehicle(kenteken)
    status = service.due_status(vehicle)
    click.echo(f"{vehicle.display_kenteken}: " + (
        "never calibrated" if status.last is None else
        f"next calibration due {status.due_date.isoformat()}" + (" (OVERDUE)" if status.overdue else "")))
    for c in service.calibrations_for_vehicle(vehicle.id):
        gps = "-" if c.gps_odometer_m is None else f"{c.gps_odometer_m / 1000:.3f}"
        correction = "first" if c.is_first else f"{c.correction_m / 1000:+.3f} km over {c.trips_spread} trip(s)"
        click.echo(f"{c.id}\t{c.read_at.astimezone(LOCAL):%Y-%m-%d %H:%M}\tdashboard {c.dashboard_m / 1000:.3f}"
                   f"\tgps {gps}\t{correction}\t{c.recorded_as}" + ("\tphoto" if c.photo_path else ""))


@odometer_cli.command("remind")
def remind_command() -> None:
    """Run the reminder job once (the scheduler runs it every few minutes)."""
    click.echo(f"{service.send_reminders()} reminder(s) recorded")
