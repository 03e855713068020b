"""Commands under `flask --app backend ...`: users, demo data."""
from __future__ import annotations

import secrets

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from backend.accounts import AccountError, create_user, find_user, set_password
from backend.auth.passwords import WeakPasswordError
from backend.db import db
from backend.models import Role, User
from backend.models.accounts import ROLE_VALUES

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo data for a first look (never on a production database).")


def _fail(message: str) -> None:
    raise click.ClickException(message)


@users_cli.command("create")
@click.option("--email", required=True, help="Login e-mail address.")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLE_VALUES),
              help="A role; repeat for several.")
@click.option("--name", default="", help="Display name (default: the e-mail's local part).")
@click.password_option("--password", prompt="Password", help="Prompted (hidden) when not given.")
def users_create(email: str, roles: tuple[str, ...], name: str, password: str) -> None:
    """Create a user with one or more roles."""
    try:
        user = create_user(email, name, roles, password)
    except (AccountError, WeakPasswordError) as exc:
        _fail(str(exc))
    click.echo(f"created user {user.email} with roles {', '.join(sorted(r.value for r in user.roles))}")


@users_cli.command("set-password")
@click.option("--email", required=True)
@click.password_option("--password", prompt="New password", help="Prompted (hidden) when not given.")
def users_set_password(email: str, password: str) -> None:
    """Set a user's password."""
    try:
        user = set_password(email, password)
    except (AccountError, WeakPasswordError) as exc:
        _fail(str(exc))
    click.echo(f"password set for {user.email}")


@users_cli.command("list")
def users_list() -> None:
    """List users and their roles."""
    for user in db.session.scalars(select(User).order_by(User.email)):
        state = "" if user.active else " (inactive)"
        click.echo(f"{user.email}\t{','.join(sorted(r.value for r in user.roles))}{state}")


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


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
