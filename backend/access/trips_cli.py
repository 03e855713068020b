"""`flask --app backend trips verify`: the stored trips against the devices' signed records."""
from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

trips_cli = AppGroup("trips", help="Trip records as the devices signed them.")


@trips_cli.command("verify")
@click.option("--device", "device_ids", multiple=True, help="Only this device (repeatable). Default: all.")
def verify_command(device_ids: tuple[str, ...]) -> None:
    """Recompute every device chain from the kept bodies, check the devices' signatures and the
    stored columns; name the first trip that differs from what its device sent (exit status 1)."""
    from backend.access import door

    result = door.verify_device_word(list(device_ids) or None)
    if not result.ok:
        lines = [str(problem) for problem in result.problems]
        raise click.ClickException(
            f"{len(result.problems)} problem(s) in {result.trips} trips of {result.devices} device(s); "
            f"the first: {lines[0]}\n" + "\n".join(lines))
    opened = f", {len(result.sealed_opened)} sealed bodies opened (audited)" if result.sealed_opened else ""
    click.echo(f"OK: {result.trips} trips of {result.devices} device(s) are what the devices signed{opened}")


@click.command("inspector-package")
@click.option("--driver", "driver_email", metavar="EMAIL", help="The package for this driver.")
@click.option("--vehicle", "kenteken", metavar="KENTEKEN", help="The package for this car.")
@click.option("--year", type=int, required=True, help="The tax (calendar) year.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="The zip file to write.")
@click.option("--as", "actor_email", metavar="EMAIL", help="The finance user making it (audited).")
@with_appcontext
def inspector_package_command(driver_email, kenteken, year, out_path, actor_email) -> None:
    """One signed package for the tax inspector: report, device records, revisions, calibrations,
    chain gaps and a checkpoint (docs/inspector-package.md); check it with `ritbox-verify`."""
    import os

    from backend.access import inspector_package
    from backend.access.door import AccessDenied
    from backend.reports.build import ReportError, find_driver, find_vehicle
    from backend.reports.cli import _actor, _atomic_output

    if bool(driver_email) == bool(kenteken):
        raise click.UsageError("give exactly one of --driver and --vehicle")
    actor = _actor(actor_email)
    try:
        subject = {"driver_id": find_driver(driver_email).id} if driver_email else \
            {"vehicle_id": find_vehicle(kenteken).id}
        data, _name = inspector_package.build(actor, year=year, **subject)
    except (ReportError, AccessDenied) as exc:
        raise click.ClickException(str(exc)) from None
    handle = _atomic_output(out_path)
    with handle:
        handle.write(data)
    os.replace(handle.name, out_path)
    click.echo(f"wrote {out_path}: check it with `ritbox-verify {out_path}`")
