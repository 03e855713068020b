"""`flask --app backend vehicles|assignments|devices ...`: the fleet from the command line."""
from __future__ import annotations

from datetime import date

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from backend.fleet import regimes, service
from backend.models.regimes import REGIMES, VEHICLE_KINDS, VERKLARING_KINDS
from backend.fleet.service import FleetError

vehicles_cli = AppGroup("vehicles", help="Company cars.")
assignments_cli = AppGroup("assignments", help="Which driver may use which car, when.")
devices_cli = AppGroup("devices", help="Trip recorders in the cars, and their enrollment.")
verklaringen_cli = AppGroup("verklaringen", help="Drivers' verklaringen to the tax authority.")


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: expected a date YYYY-MM-DD, got {value!r}")
    return None  # unreachable


@vehicles_cli.command("add")
@click.option("--kenteken", required=True, help="Dutch licence plate, with or without dashes.")
@click.option("--make", required=True, help="Make (merk), e.g. Volkswagen.")
@click.option("--model", required=True, help="Model (type), e.g. Golf.")
def vehicles_add(kenteken: str, make: str, model: str) -> None:
    """Register a car."""
    try:
        vehicle = service.create_vehicle(kenteken, make, model)
    except FleetError as exc:
        _fail(str(exc))
    click.echo(f"added vehicle {vehicle.display_kenteken} ({vehicle.make} {vehicle.model})")


@vehicles_cli.command("list")
def vehicles_list() -> None:
    """List cars (a car that left the fleet says since when)."""
    for vehicle in service.list_vehicles():
        retired = f"\tretired {vehicle.retired_on.isoformat()}" if vehicle.retired_on else ""
        click.echo(f"{vehicle.display_kenteken}\t{vehicle.make}\t{vehicle.model}{retired}")


@vehicles_cli.command("edit")
@click.option("--kenteken", required=True, help="The car's licence plate (its identity: not editable).")
@click.option("--make", default=None, help="New make (merk).")
@click.option("--model", default=None, help="New model (type).")
def vehicles_edit(kenteken: str, make: str | None, model: str | None) -> None:
    """Correct a car's make and/or model."""
    if make is None and model is None:
        _fail("give --make and/or --model")
    try:
        vehicle = service.update_vehicle(kenteken, make, model)
    except FleetError as exc:
        _fail(str(exc))
    click.echo(f"vehicle {vehicle.display_kenteken} is now {vehicle.make} {vehicle.model}")


@vehicles_cli.command("retire")
@click.option("--kenteken", required=True)
@click.option("--on", "on", required=True, help="The car's last day in the fleet, YYYY-MM-DD.")
def vehicles_retire(kenteken: str, on: str) -> None:
    """A car leaves the fleet (sold, lease ended): its assignments end on that day, its devices
    are retired, its trips stay."""
    day = _parse_date(on, "--on")
    try:
        vehicle = service.retire_vehicle(kenteken, day, via="cli")
    except FleetError as exc:
        _fail(str(exc))
    click.echo(f"vehicle {vehicle.display_kenteken} left the fleet on {day.isoformat()}")


@vehicles_cli.command("regime")
@click.option("--kenteken", required=True)
@click.option("--kind", type=click.Choice(VEHICLE_KINDS), required=True, help="car or van.")
@click.option("--regime", type=click.Choice(REGIMES), default=None,
              help="A van's registration: van_full, van_simplified or van_business_only.")
@click.option("--from", "valid_from", required=True, help="First day it applies, YYYY-MM-DD.")
@click.option("--working-hours", default=None, help="A van's working hours, e.g. 07:30-16:30.")
def vehicles_regime(kenteken: str, kind: str, regime: str | None, valid_from: str, working_hours: str | None) -> None:
    """Set a vehicle's kind and tax regime from a day on (the earlier regime stays as history)."""
    day = _parse_date(valid_from, "--from")
    try:
        row = regimes.set_regime(kenteken, kind, regime, day, via="cli", working_hours=working_hours)
    except FleetError as exc:
        _fail(str(exc))
    click.echo(f"{kenteken.upper()}: {row.kind} under {row.regime} from {row.valid_from.isoformat()}")


@vehicles_cli.command("regimes")
@click.option("--kenteken", required=True)
def vehicles_regimes(kenteken: str) -> None:
    """A vehicle's regime history: first day, kind, regime (none listed: a car, full registration)."""
    try:
        vehicle = service.get_vehicle(kenteken)
    except FleetError as exc:
        _fail(str(exc))
    for row in regimes.regime_history(vehicle.id):
        click.echo(f"{row.valid_from.isoformat()}\t{row.kind}\t{row.regime}")


@verklaringen_cli.command("add")
@click.option("--driver", "driver_email", required=True, help="The driver's login e-mail.")
@click.option("--kind", type=click.Choice(VERKLARING_KINDS), required=True)
@click.option("--number", required=True, help="The tax authority's reference of the verklaring.")
@click.option("--issued", required=True, help="Date issued, YYYY-MM-DD.")
def verklaringen_add(driver_email: str, kind: str, number: str, issued: str) -> None:
    """Record a driver's verklaring."""
    day = _parse_date(issued, "--issued")
    try:
        row = regimes.record_verklaring(driver_email, kind, number, day, via="cli")
    except FleetError as exc:
        _fail(str(exc))
    click.echo(f"verklaring {row.id}: {row.kind} {row.number} issued {row.issued_on.isoformat()}")


@verklaringen_cli.command("withdraw")
@click.option("--id", "verklaring_id", type=int, required=True)
@click.option("--on", "on", required=True, help="First day it no longer stands, YYYY-MM-DD.")
def verklaringen_withdraw(verklaring_id: int, on: str) -> None:
    """Withdraw a verklaring."""
    day = _parse_date(on, "--on")
    try:
        row = regimes.withdraw_verklaring(verklaring_id, day, via="cli")
    except FleetError as exc:
        _fail(str(exc))
    click.echo(f"verklaring {row.id} withdrawn on {row.withdrawn_on.isoformat()}")


@verklaringen_cli.command("list")
@click.option("--driver", "driver_email", required=True, help="The driver's login e-mail.")
def verklaringen_list(driver_email: str) -> None:
    """A driver's verklaringen: id, kind, number, issued, withdrawn (- while standing)."""
    try:
        driver = regimes.driver_by_email(driver_email)
    except FleetError as exc:
        _fail(str(exc))
    for row in regimes.verklaringen_of(driver.id):
        withdrawn = row.withdrawn_on.isoformat() if row.withdrawn_on else "-"
        click.echo(f"{row.id}\t{row.kind}\t{row.number}\t{row.issued_on.isoformat()}\t{withdrawn}")


@assignments_cli.command("add")
@click.option("--driver", "driver_email", required=True, help="The driver's login e-mail.")
@click.option("--kenteken", required=True)
@click.option("--from", "available_from", required=True, help="First day, YYYY-MM-DD.")
@click.option("--until", "available_until", default=None, help="Last day, YYYY-MM-DD (default: open).")
def assignments_add(driver_email: str, kenteken: str, available_from: str, available_until: str | None) -> None:
    """Make a car available to a driver for a period."""
    start = _parse_date(available_from, "--from")
    end = _parse_date(available_until, "--until")
    try:
        assignment = service.create_assignment(driver_email, kenteken, start, end)
    except FleetError as exc:
        _fail(str(exc))
    until = assignment.available_until.isoformat() if assignment.available_until else "open end"
    click.echo(f"assigned {assignment.vehicle.display_kenteken} to {assignment.driver.email} "
               f"from {assignment.available_from.isoformat()} to {until}")


@assignments_cli.command("list")
def assignments_list() -> None:
    """List assignments: car, driver, first day, last day (- when open), id."""
    for a in service.list_assignments():
        # The id comes last so that scripts matching the leading columns keep working.
        click.echo(f"{a.vehicle.display_kenteken}\t{a.driver.email}\t{a.available_from.isoformat()}\t"
                   f"{_until(a)}\t{a.id}")


def _until(assignment) -> str:
    return assignment.available_until.isoformat() if assignment.available_until else "-"


def _pick(assignment_id: int | None, kenteken: str | None, driver_email: str | None, on: date | None):
    """The assignment named by --id, or by --kenteken and --driver."""
    if assignment_id is not None:
        if kenteken or driver_email:
            _fail("give either --id or --kenteken with --driver, not both")
        return service.get_assignment(assignment_id)
    if not (kenteken and driver_email):
        _fail("name the assignment: --id, or --kenteken with --driver")
    return service.find_assignment(kenteken, driver_email, on)


def _report(verb: str, assignment) -> None:
    click.echo(f"{verb} assignment {assignment.id}: {assignment.vehicle.display_kenteken} "
               f"{assignment.driver.email} from {assignment.available_from.isoformat()} to "
               f"{_until(assignment) if assignment.available_until else 'open end'}")


@assignments_cli.command("end")
@click.option("--id", "assignment_id", type=int, default=None, help="The assignment's id (assignments list).")
@click.option("--kenteken", default=None)
@click.option("--driver", "driver_email", default=None, help="The driver's login e-mail.")
@click.option("--on", "on", required=True, help="The driver's last day with the car, YYYY-MM-DD.")
def assignments_end(assignment_id: int | None, kenteken: str | None, driver_email: str | None, on: str) -> None:
    """End an assignment (or move its last day)."""
    day = _parse_date(on, "--on")
    try:
        assignment = _pick(assignment_id, kenteken, driver_email, day)
        assignment = service.end_assignment(assignment.id, day, via="cli")
    except FleetError as exc:
        _fail(str(exc))
    _report("ended", assignment)


@assignments_cli.command("change")
@click.option("--id", "assignment_id", type=int, required=True, help="The assignment's id (assignments list).")
@click.option("--from", "available_from", default=None, help="New first day, YYYY-MM-DD.")
@click.option("--until", "available_until", default=None, help="New last day, YYYY-MM-DD.")
@click.option("--open", "open_end", is_flag=True, help="No last day any more.")
def assignments_change(assignment_id: int, available_from: str | None, available_until: str | None,
                       open_end: bool) -> None:
    """Move an assignment's first and/or last day."""
    if open_end and available_until:
        _fail("give either --until or --open, not both")
    if not (available_from or available_until or open_end):
        _fail("give --from, --until or --open")
    start = _parse_date(available_from, "--from")
    end = _parse_date(available_until, "--until")
    try:
        assignment = service.change_assignment(assignment_id, start, end, open_end=open_end, via="cli")
    except FleetError as exc:
        _fail(str(exc))
    _report("changed", assignment)


@assignments_cli.command("delete")
@click.option("--id", "assignment_id", type=int, required=True, help="The assignment's id (assignments list).")
def assignments_delete(assignment_id: int) -> None:
    """Delete an assignment made by mistake (only when no trip was attributed to it)."""
    try:
        service.delete_assignment(assignment_id, via="cli")
    except FleetError as exc:
        _fail(str(exc))
    click.echo(f"deleted assignment {assignment_id}")


@devices_cli.command("enroll")
@click.option("--vehicle", "kenteken", required=True, help="Licence plate of the car the device goes in.")
@click.option("--url", default=None, help="The backend's address as the device reaches it "
              "(default: SERVER_NAME or http://127.0.0.1:5000).")
def devices_enroll(kenteken: str, url: str | None) -> None:
    """Create a device slot for a car and print its one-time enrollment token."""
    try:
        issued = service.create_device(kenteken)
    except FleetError as exc:
        _fail(str(exc))
    base = url or _default_url()
    click.echo(f"device {issued.device.id} for {issued.device.vehicle.display_kenteken} (pending)")
    click.echo(f"token (shown once, valid until {issued.expires_at.strftime('%Y-%m-%d %H:%M')} UTC): "
               f"{issued.token}")
    click.echo(f"on the device: ritbox enroll {base} {issued.token}")


@devices_cli.command("token")
@click.argument("device_id")
def devices_token(device_id: str) -> None:
    """A new one-time token for a pending device."""
    try:
        issued = service.new_token(device_id)
    except FleetError as exc:
        _fail(str(exc))
    click.echo(f"token (shown once, valid until {issued.expires_at.strftime('%Y-%m-%d %H:%M')} UTC): "
               f"{issued.token}")
    click.echo(f"on the device: ritbox enroll {_default_url()} {issued.token}")


@devices_cli.command("list")
def devices_list() -> None:
    """List devices."""
    for device in service.list_devices():
        click.echo(f"{device.id}\t{device.vehicle.display_kenteken}\t{device.status}")


@devices_cli.command("retire")
@click.argument("device_id")
def devices_retire(device_id: str) -> None:
    """Take a device out of service; its uploads are refused from now on."""
    try:
        device = service.retire_device(device_id)
    except FleetError as exc:
        _fail(str(exc))
    click.echo(f"retired device {device.id}")


def _default_url() -> str:
    server = current_app.config.get("SERVER_NAME")
    if server:
        return f"{current_app.config.get('PREFERRED_URL_SCHEME', 'https')}://{server}"
    return "http://127.0.0.1:5000"


def init_app(app: Flask) -> None:
    app.cli.add_command(vehicles_cli)
    app.cli.add_command(assignments_cli)
    app.cli.add_command(devices_cli)
    app.cli.add_command(verklaringen_cli)
