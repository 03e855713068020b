"""Fail at start-up, with the host and port, when the database cannot be reached."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from backend.config import ConfigError


def check_database_reachable(app: Flask) -> None:
    from backend.db import db

    with app.app_context():
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError as exc:
            url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
            if url.get_backend_name() == "sqlite":
                where = f"SQLite file {url.database}"
            else:
                where = f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}"
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(f"cannot reach the database ({where}): {reason}") from None
