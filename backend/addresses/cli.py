"""`flask --app backend places ...`: the organisation's named places (admin), and a resolve
command to see what the resolver answers for a position."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend.db import db
from backend.models.org_places import OrgPlace

places_cli = AppGroup("places", help="The organisation's named places (offices, customers).")


@places_cli.command("add")
@click.option("--name", required=True)
@click.option("--lat", type=click.FloatRange(-90, 90), required=True)
@click.option("--lon", type=click.FloatRange(-180, 180), required=True)
@click.option("--radius-m", type=click.IntRange(1, 5000), default=100, show_default=True)
@click.option("--kind", type=click.Choice(["office", "customer", "other"]), default="office", show_default=True)
@click.option("--street")
@click.option("--number")
@click.option("--postcode")
@click.option("--city")
def add_command(name, lat, lon, radius_m, kind, street, number, postcode, city) -> None:
    """Add a named place: a point with a radius."""
    postcode = postcode.replace(" ", "").upper() if postcode else None
    place = OrgPlace(name=name.strip(), kind=kind, lat=lat, lon=lon, radius_m=radius_m, street=street,
                     number=number, postcode=postcode, city=city, country="NL")
    db.session.add(place)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(f"a place named {name!r} exists already") from None
    click.echo(f"added place {place.id}: {place.name} ({radius_m} m)")


@places_cli.command("list")
def list_command() -> None:
    for place in db.session.scalars(select(OrgPlace).order_by(OrgPlace.name)):
        address = " ".join(part for part in (place.street, place.number, place.postcode, place.city) if part)
        click.echo(f"{place.id}\t{place.kind}\t{place.name}\t{place.lat:.5f},{place.lon:.5f}\t{place.radius_m} m"
                   f"\t{address or '-'}" + ("" if place.active else "\t(inactive)"))


@places_cli.command("resolve")
@click.option("--lat", type=click.FloatRange(-90, 90), required=True)
@click.option("--lon", type=click.FloatRange(-180, 180), required=True)
def resolve_command(lat: float, lon: float) -> None:
    """Show the address the resolver gives for a (not private) position."""
    from backend.addresses import resolve
    address = resolve(lat, lon)
    db.session.commit()  # keep the cache entries
    click.echo(f"{address.text or '(unknown)'}\tlevel={address.level}\tsource={address.source}"
               + ("" if address.street_level else "\t(not street level)"))
