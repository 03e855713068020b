"""`flask --app backend periods close --month 2026-10 [--vehicle KENTEKEN]` and `periods list`."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from backend.periods import service
from backend.periods.service import PeriodError

periods_cli = AppGroup("periods", help="Closed months: after closing, drivers can no longer change their trips.")


@periods_cli.command("close")
@click.option("--month", required=True, help="The month to close, YYYY-MM.")
@click.option("--vehicle", "kenteken", default=None, help="Only this car (licence plate); default: the whole fleet.")
def close_command(month: str, kenteken: str | None) -> None:
    """Close a past month for one car or the whole fleet."""
    from backend.fleet import service as fleet

    try:
        vehicle_id = None
        if kenteken:
            vehicle = fleet.find_vehicle(kenteken)
            if vehicle is None:
                raise PeriodError("Unknown vehicle.")
            vehicle_id = vehicle.id
        closing = service.close_month(service.parse_month(month), vehicle_id=vehicle_id, via="cli")
    except PeriodError as exc:
        raise click.ClickException(str(exc)) from None
    scope = kenteken.upper() if kenteken else "the whole fleet"
    click.echo(f"closed {closing.month.strftime('%Y-%m')} for {scope}")


@periods_cli.command("list")
def list_command() -> None:
    """List the closed months."""
    for closed in service.list_closings():
        click.echo(f"{closed.month.strftime('%Y-%m')}\t{closed.kenteken or 'fleet'}\t"
                   f"{closed.closed_at.strftime('%Y-%m-%dT%H:%M:%SZ')}\t{closed.closed_via}")
