"""Commands under `flask --app backend ...`: users, demo data."""
from __future__ import annotations

import secrets

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from backend.accounts import (AccountError, create_account, create_user, deactivate, find_user, propose_role,
                              remove_role, rename, reset_password, set_password)
from backend.auth.passwords import WeakPasswordError
from backend.db import db
from backend.models import Role, User
from backend.models.accounts import ROLE_VALUES

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo data for a first look (never on a production database).")


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _user(email: str) -> User:
    user = find_user(email)
    if user is None:
        _fail(f"no user with e-mail {email.strip().lower()}")
    return user


def _roles_text(user: User) -> str:
    parts = [r.value for r in sorted(user.roles, key=lambda r: r.value)]
    parts += [f"{r.value}(awaiting confirmation)" for r in sorted(user.pending_roles, key=lambda r: r.value)]
    return ", ".join(parts)


@users_cli.command("create")
@click.option("--email", required=True, help="Login e-mail address.")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLE_VALUES),
              help="A role; repeat for several.")
@click.option("--name", default="", help="Display name (default: the e-mail's local part).")
@click.password_option("--password", prompt="Password", help="Prompted (hidden) when not given.")
def users_create(email: str, roles: tuple[str, ...], name: str, password: str) -> None:
    """Create a user. Finance and manager are proposed (an approver confirms them on the web);
    the first OR delegate and privacy officer are installed at once, later ones are proposed."""
    try:
        user = create_account(None, email, name, roles, password, via="cli")
    except (AccountError, WeakPasswordError) as exc:
        _fail(str(exc))
    click.echo(f"created user {user.email} with roles {_roles_text(user)}")


@users_cli.command("grant")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLE_VALUES))
def users_grant(email: str, role: str) -> None:
    """Give a role (driver, admin) or propose it (the others; see `users create`)."""
    user = _user(email)
    try:
        row = propose_role(None, user, role, via="cli")
    except AccountError as exc:
        _fail(str(exc))
    state = "in force" + (" (installation)" if row.installation else "") if row.confirmed_at else \
        "proposed: an OR delegate or privacy officer confirms it on /roles/pending"
    click.echo(f"{user.email}: role {role} {state}")


@users_cli.command("remove-role")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLE_VALUES))
def users_remove_role(email: str, role: str) -> None:
    """Take a role away at once (the user's open sessions end)."""
    user = _user(email)
    try:
        remove_role(None, user, role, via="cli")
    except AccountError as exc:
        _fail(str(exc))
    click.echo(f"{user.email}: role {role} removed")


@users_cli.command("deactivate")
@click.option("--email", required=True)
def users_deactivate(email: str) -> None:
    """Deactivate an account at once (its open sessions end)."""
    user = _user(email)
    try:
        deactivate(None, user, via="cli")
    except AccountError as exc:
        _fail(str(exc))
    click.echo(f"{user.email} deactivated")


@users_cli.command("rename")
@click.option("--email", required=True)
@click.option("--name", required=True)
def users_rename(email: str, name: str) -> None:
    """Change a user's display name."""
    user = _user(email)
    try:
        rename(None, user, name, via="cli")
    except AccountError as exc:
        _fail(str(exc))
    click.echo(f"{user.email} is now called {user.name}")


@users_cli.command("set-password")
@click.option("--email", required=True)
@click.password_option("--password", prompt="New password", help="Prompted (hidden) when not given.")
def users_set_password(email: str, password: str) -> None:
    """Reset a user's password: they must change it at the next login, and their roles (all but
    admin) wait for an approver's confirmation again, since whoever reset it knows it."""
    user = _user(email)
    try:
        reset_password(None, user, password, via="cli")
    except (AccountError, WeakPasswordError) as exc:
        _fail(str(exc))
    click.echo(f"password set for {user.email}; roles awaiting confirmation: "
               f"{', '.join(sorted(r.value for r in user.pending_roles)) or 'none'}")


@users_cli.command("list")
def users_list() -> None:
    """List users and their roles."""
    for user in db.session.scalars(select(User).order_by(User.email)):
        state = "" if user.active else " (inactive)"
        click.echo(f"{user.email}\t{_roles_text(user).replace(', ', ',')}{state}")


DEMO_USERS: tuple[tuple[str, str, Role], ...] = (
    ("driver@demo.ritbox.nl", "Daan de Vries", Role.DRIVER),
    ("finance@demo.ritbox.nl", "Fatima El Amrani", Role.FINANCE),
    ("manager@demo.ritbox.nl", "Mark Jansen", Role.MANAGER),
    ("or@demo.ritbox.nl", "Olga Bakker", Role.OR_DELEGATE),
    ("privacy@demo.ritbox.nl", "Pieter Smit", Role.PRIVACY_OFFICER),
    ("admin@demo.ritbox.nl", "Anna Visser", Role.ADMIN),
)


@demo_cli.command("users")
def demo_users() -> None:
    """Create one demo user per role (or give existing ones a new password) and print the logins."""
    click.echo("Demo logins (new passwords each run):")
    for email, name, role in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        if find_user(email) is None:
            create_user(email, name, [role], password)
        else:
            set_password(email, password)
        click.echo(f"  {role.value:<16} {email:<26} {password}")


@demo_cli.command("place")
@click.option("--driver", "email", required=True, help="the driver's e-mail")
@click.option("--kind", type=click.Choice(["home", "work", "other"]), required=True)
@click.option("--name", required=True)
@click.option("--lat", type=click.FloatRange(-90, 90), required=True)
@click.option("--lon", type=click.FloatRange(-180, 180), required=True)
@click.option("--radius-m", type=click.FloatRange(10, 5000), default=250, show_default=True)
def demo_place(email: str, kind: str, name: str, lat: float, lon: float, radius_m: float) -> None:
    """Give a driver a named home or work place (kept when one of that kind and name exists)."""
    from backend.driver import places

    driver = _user(email)
    if any(p.kind == kind and p.name == name for p in places.places_of(driver.id)):
        click.echo(f"{driver.email} has the place {name!r} already")
        return
    try:
        places.add_place(driver.id, kind, name, lat, lon, radius_m)
    except places.PlaceError as exc:
        _fail(str(exc))
    click.echo(f"added {kind} place {name!r} for {driver.email}")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
