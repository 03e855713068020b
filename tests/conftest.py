"""Shared fixtures, in the Flask tutorial's shape (app, client, runner), over real databases.

Backend tests run twice: on a SQLite file and on a PostgreSQL server. Each database is
built once per session by the Alembic migrations (never create_all) and copied per test:
a file copy for SQLite, CREATE DATABASE ... TEMPLATE for PostgreSQL.
"""
from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "RITBOX_TEST_POSTGRES_URL"
# The two roles of a production set-up (README): migrations run as the owner, the app as a role
# that owns nothing. scripts/test creates them; the fixtures create them when missing.
POSTGRES_OWNER_ROLE = "ritbox_owner"
POSTGRES_APP_ROLE = "ritbox_app"
CHROMIUM_PATH = "/usr/bin/chromium"
ON_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET_KEY = "test-secret-key-not-for-production"
TEST_PASSWORD = "correct horse battery"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# axe-core from npm (package-lock.json; scripts/vendor installs it): the accessibility checker the
# browser tests inject into a page.
AXE_SCRIPT = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"

# One Hypothesis profile for the whole project: no deadline and no time-based health check, so
# that no test depends on the machine's speed (a loaded 2-core CI machine failed
# test_odometer's spread test with FailedHealthCheck too_slow). Example counts stay per test.
settings.register_profile(
    "ritbox", deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large])
settings.load_profile("ritbox")


def _missing_service(message: str) -> None:
    """Locally a missing service skips its tests; on CI it is a failure, never a skip."""
    if ON_CI:
        pytest.fail(f"{message} (CI=true: the test services must be there)")
    pytest.skip(message)


def base_config(database_url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
    }


def _migrate(database_url: str, migrate_url: str | None = None) -> None:
    from flask_migrate import upgrade

    from backend import create_app
    from backend.db import db

    config = base_config(database_url)
    if migrate_url:
        config["MIGRATE_DATABASE_URL"] = migrate_url
    app = create_app(config)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    _migrate(f"sqlite:///{path}")
    # Fold the WAL into the main file so that one file copy is the whole database.
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        _missing_service(f"no PostgreSQL server: set {POSTGRES_URL_ENV} (scripts/test starts one)")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server"
        engine.dispose()
        _missing_service(f"PostgreSQL at {url} is not reachable: {exc}")
    try:
        with engine.connect() as connection:
            for role in (POSTGRES_OWNER_ROLE, POSTGRES_APP_ROLE):
                connection.execute(text(
                    f"DO $$ BEGIN CREATE ROLE {role} LOGIN; "
                    "EXCEPTION WHEN duplicate_object THEN NULL; END $$"))
    finally:
        engine.dispose()
    return url


def _postgres_url_for(admin_url: str, database: str, role: str | None = None) -> str:
    url = make_url(admin_url).set(database=database)
    if role is not None:
        url = url.set(username=role, password=None)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    name = f"ritbox_template_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" OWNER {POSTGRES_OWNER_ROLE}'))
    # Migrated as the owner, with the app's role granted its privileges, as in production: the
    # copies keep both, so a test may connect as either (app_role_url); most connect as the
    # admin (a superuser) as before.
    _migrate(_postgres_url_for(postgres_admin_url, name, POSTGRES_APP_ROLE),
             _postgres_url_for(postgres_admin_url, name, POSTGRES_OWNER_ROLE))
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of each kind."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "ritbox.sqlite"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"ritbox_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}" OWNER {POSTGRES_OWNER_ROLE}'))
    try:
        yield _postgres_url_for(admin_url, name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def role_url(database_url: str, role: str) -> str:
    """The same PostgreSQL database, connected as another role (no password: the test cluster trusts)."""
    return make_url(database_url).set(username=role, password=None).render_as_string(hide_password=False)


@pytest.fixture
def app(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from backend import create_app
    from backend.db import db

    # An instance folder per test (exports, photos, sealing keys): the repository's instance/ is
    # the demo's, and a shared one lets one test (or xdist worker) see another's files.
    monkeypatch.setenv("RITBOX_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(base_config(database_url))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a user with the given roles and the shared test password."""
    from backend.accounts import create_user

    def make(email: str, *roles: str, name: str = "", password: str = TEST_PASSWORD):
        with app.app_context():
            user = create_user(email, name, roles, password)
            return user.id

    return make


@pytest.fixture
def login(client):
    def do_login(email: str, password: str = TEST_PASSWORD, **kwargs):
        return client.post("/login", data={"email": email, "password": password}, **kwargs)

    return do_login


# --- a real browser -----------------------------------------------------------------------------

@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served over real HTTP on a loopback port, in a thread of this process."""
    from werkzeug.serving import make_server

    app.config["WTF_CSRF_ENABLED"] = True  # the browser goes through the real forms
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM_PATH).exists():
        _missing_service(f"no Chromium at {CHROMIUM_PATH} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def axe():
    """A function that runs axe-core (WCAG 2.1 A and AA rules) on a page and returns its
    violations as short lines ("rule: selector"), empty when there are none."""
    if not AXE_SCRIPT.exists():
        _missing_service(f"no axe-core at {AXE_SCRIPT} (bash scripts/vendor)")

    source = AXE_SCRIPT.read_text()

    def violations(page) -> list[str]:
        # Evaluated through the DevTools protocol: the pages' CSP (script-src 'self') would
        # refuse an injected <script>, and must not be loosened for a test.
        page.evaluate(f"() => {{ if (!window.axe) {{ {source}\n }} }}")
        result = page.evaluate(
            "() => axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
        return [f"{v['id']}: {', '.join(str(n['target']) for n in v['nodes'][:3])}"
                for v in result["violations"]]

    return violations


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
