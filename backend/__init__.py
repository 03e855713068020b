"""Ritbox backend: the Flask application factory."""
from __future__ import annotations

import gc
import os
import sys
from datetime import timedelta
from typing import Any, Mapping

from flask import Flask

from backend.config import ConfigError, load_settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. Without test_config (flask CLI, gunicorn) a bad configuration is one
    line on stderr and exit status 2; with test_config it raises ConfigError."""
    try:
        app = _build_app(test_config)
    except ConfigError as exc:
        if test_config is not None:
            raise
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if test_config is None:
        # A real process (flask CLI, a gunicorn worker) builds one app and keeps it, with
        # everything imported for it, until it exits. Frozen, those objects are no longer walked
        # by every full garbage collection: one such walk cost ~0.1 s in the middle of a report,
        # three times the report's own database read. (Tests build an app per test: no freeze,
        # or each test's app would stay in memory.)
        gc.freeze()
    return app


def _build_app(test_config: Mapping[str, Any] | None) -> Flask:
    instance_path = os.environ.get("RITBOX_INSTANCE_PATH")  # read first: the config file lives there
    app = Flask(__name__, instance_relative_config=True,
                instance_path=os.path.abspath(instance_path) if instance_path else None)
    os.makedirs(app.instance_path, exist_ok=True)

    app.config.from_mapping(load_settings(os.environ, app.instance_path))
    if test_config is not None:
        app.config.from_mapping(test_config)
    _apply_fixed_settings(app)

    if not app.config.get("SECRET_KEY"):
        if not app.debug:
            raise ConfigError("RITBOX_SECRET_KEY is not set; the app refuses to start without it "
                              "(generate one: python3 -c 'import secrets; print(secrets.token_hex(32))')")
        app.config["SECRET_KEY"] = "debug-only-" + os.urandom(16).hex()

    from backend import auth, cli, i18n, request_input, security, web
    from backend.db import db
    from backend.migrate import migrate

    request_input.init_app(app)  # first: the routes below take its bounded id converter
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir())
    security.init_app(app)
    from backend import maps; maps.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    web.init_app(app)
    cli.init_app(app)
    from backend import fleet; fleet.init_app(app)
    from backend import api; api.init_app(app)
    from backend import audit; audit.init_app(app)
    from backend import governance; governance.init_app(app)
    from backend import driver; driver.init_app(app)
    from backend import periods; periods.init_app(app)
    from backend import odometer; odometer.init_app(app)
    from backend import addresses; addresses.init_app(app)
    from backend import reports; reports.init_app(app)
    from backend import finance; finance.init_app(app)
    from backend.access import retention; retention.init_app(app)
    from backend.agreement_documents import web as documents_web; documents_web.init_app(app)
    from backend import mail; mail.init_app(app)
    from backend.home import reminders; reminders.init_app(app)
    from backend import tasks; tasks.init_app(app)

    if not app.testing:
        from backend.db_check import check_database_reachable
        check_database_reachable(app)
    return app


def _apply_fixed_settings(app: Flask) -> None:
    """Settings that are policy, not configuration."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config.get("SESSION_HOURS", 8)),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_ENABLED=app.config.get("WTF_CSRF_ENABLED", True),
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(app.config["SQLALCHEMY_DATABASE_URI"]),
        BABEL_TRANSLATION_DIRECTORIES=os.path.join(os.path.dirname(__file__), "translations"),
    )


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 5}}
    return {}


def _migrations_dir() -> str:
    # Installed from the wheel, the scripts are inside the package (backend/migrations, see
    # setup.py); in a checkout (and an editable install) they are migrations/ beside it.
    package = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(package, "migrations")
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(package), "migrations")
