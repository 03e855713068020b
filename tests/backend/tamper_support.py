"""SQL the way someone with access to the database runs it, past the application."""
from __future__ import annotations

import sqlite3

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_APP_ROLE, role_url


def tamper(database_url: str, *statements: str, role: str = POSTGRES_APP_ROLE) -> None:
    """SQLite through the sqlite3 module (foreign keys off, as in the sqlite3 shell; a statement
    may DROP TRIGGER), PostgreSQL connected as `role` (the app's, or the tables' owner)."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(make_url(database_url).database)
        try:
            for statement in statements:
                connection.execute(statement)
            connection.commit()
        finally:
            connection.close()
        return
    engine = create_engine(role_url(database_url, role))
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()
