"""`flask --app backend vehicles|assignments|devices ...`: the fleet from the command line."""
from __future__ import annotations

from datetime import date

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from backend.fleet import service
from backend.fleet.service import FleetError

vehicles_cli = AppGroup("vehicles", help="Company cars.")
assignments_cli = AppGroup("assignments", help="Which driver may use which car, when.")
devices_cli = AppGroup("devices", help="Trip recorders in the cars, and their enrollment.")


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
    """List cars."""
    for vehicle in service.list_vehicles():
        click.echo(f"{vehicle.display_kenteken}\t{vehicle.make}\t{vehicle.model}")


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
    """List assignments."""
    for a in service.list_assignments():
        until = a.available_until.isoformat() if a.available_until else "-"
        click.echo(f"{a.vehicle.display_kenteken}\t{a.driver.email}\t{a.available_from.isoformat()}\t{until}")


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
