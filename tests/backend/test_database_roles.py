"""PostgreSQL with two roles (issue #14, item 1): the app's role owns nothing, so its own
connection cannot ALTER, DROP, TRUNCATE or DISABLE TRIGGER, nor UPDATE/DELETE a guarded table
outside what the triggers allow; and the app's normal work still runs as that role.

The template database is migrated as the owner role with the app role granted its privileges
(tests/conftest.py), as `flask db upgrade` does in production with RITBOX_MIGRATE_DATABASE_URL.
Here the app itself connects as the app role.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from backend.db import db
from backend.db_roles import GUARDED
from tests.backend.access_support import agreement_in_force, granted, make_people, user
from tests.backend.trip_factory import TripFactory, TripSpec, days_ago
from tests.conftest import POSTGRES_APP_ROLE, POSTGRES_OWNER_ROLE, base_config, role_url

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

UTC = timezone.utc


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    """The app as production runs it: connected as the role that owns nothing."""
    from backend import create_app

    monkeypatch.setenv("RITBOX_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(base_config(role_url(database_url, POSTGRES_APP_ROLE)))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def world(app, client, make_user, runner, tmp_path):
    """Everything the app writes, written as the app role: ingest, revisions, a calibration, a
    closed month, an agreement with consent, a grant, a retention run and a report."""
    from backend.access import retention
    from backend.odometer import service as odometer
    from backend.periods import service as periods
    from backend.trips import revisions

    people = make_people(make_user)
    with app.app_context():
        agreement_in_force(people)
        from backend.fleet.service import get_vehicle
    factory = TripFactory(app, client, driver_email="daan@example.nl", assigned_from="2025-01-01")
    (old,) = factory.upload(TripSpec(datetime(2025, 3, 3, 8, tzinfo=UTC)))
    with app.app_context():
        periods.close_month(periods.parse_month("2025-03"), via="cli")
        done = retention.run(datetime(2035, 6, 1, tzinfo=UTC))
        odometer.record(get_vehicle("GB-XJ-12"), "10013", days_ago(5), None, via_cli=True)
    factory.seq += 1  # a record the device never sent: a chain gap
    recent, private, kept = factory.upload(TripSpec(days_ago(3)), TripSpec(days_ago(2), mode="private"),
                                           TripSpec(days_ago(2) + timedelta(hours=3)))  # stays business
    with app.app_context():
        revisions.revise(user(people.driver), [recent], {"classification": "private"})  # sealed now
        # A private-mode trip the driver calls business and opens for the tax report.
        from backend.access import door
        revisions.revise(user(people.driver), [private], {"classification": "business"})
        assert door.disclose_for_tax(user(people.driver), private)
        odometer.record(get_vehicle("GB-XJ-12"), "10045", days_ago(1), None, via_cli=True,
                        confirm_reason="dashboard read again at the garage")  # beyond the 5% bound
        grant = granted(people)
        from backend.fleet import regimes
        regimes.set_regime("GB-XJ-12", "van", "van_full", date(2025, 1, 1))
        verklaring = regimes.record_verklaring("daan@example.nl", "no_private_use_car", "VGP-1", date(2025, 1, 1))
        regimes.withdraw_verklaring(verklaring.id, date(2025, 2, 1))
    out = tmp_path / "report.xml"
    report = runner.invoke(args=["report", "--vehicle", "GB-XJ-12", "--year", str(days_ago(3).year),
                                 "--format", "xml", "--out", str(out)])
    return dict(people=people, trips=(old, recent, private, kept), grant=grant, retention=done, report=report, out=out)


def test_the_apps_normal_work_runs_as_the_app_role(app, world):
    assert world["grant"] is not None
    assert world["retention"].trips_deleted == 1  # the 2025 trip, through the owner's function
    assert world["report"].exit_code == 0, world["report"].output
    assert world["out"].read_bytes().startswith(b"<?xml")
    with app.app_context():
        assert db.session.execute(text("SELECT current_user")).scalar() == POSTGRES_APP_ROLE
        left = set(db.session.scalars(text("SELECT id FROM trips")))
        assert left == set(world["trips"][1:])
        from backend import audit
        assert audit.verify().ok


def test_the_app_role_owns_nothing(app, database_url, world):
    engine = create_engine(role_url(database_url, POSTGRES_APP_ROLE))
    try:
        with engine.connect() as connection:
            owned = connection.execute(text(
                "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                "WHERE r.rolname = current_user")).scalars().all()
            owner = connection.execute(text(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'trips'")).scalar()
    finally:
        engine.dispose()
    assert owned == [] and owner == POSTGRES_OWNER_ROLE


def _key_column(connection, table: str) -> str:
    return connection.execute(text(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = CAST(:t AS regclass) AND i.indisprimary "
        "ORDER BY a.attnum LIMIT 1"), {"t": table}).scalar() or "version_num"


def _tamperings(table: str, key: str, granted_column: str | None) -> list[str]:
    statements = [
        f"ALTER TABLE {table} DISABLE TRIGGER USER",
        f"ALTER TABLE {table} DISABLE TRIGGER ALL",
        f"ALTER TABLE {table} ADD COLUMN tampered integer",
        f"TRUNCATE {table} CASCADE",
        f"DROP TABLE {table} CASCADE",
        f"UPDATE {table} SET {key} = {key}",
        f"DELETE FROM {table}",
    ]
    if granted_column:  # a column the app may change, but only with its audit event
        statements.append(f"UPDATE {table} SET {granted_column} = {granted_column}")
    return statements


# A column per table whose UPDATE the app's role holds, which the triggers still refuse here.
_GRANTED_COLUMNS = {
    "audit_chain_head": None,  # the chain head moves with every event; audit verify checks it
    "device_chain_heads": None,  # ingest moves it; audit verify --checkpoint checks it
    "retention_runs": "finished_at",
    "agreement_versions": "consent_date",
    "assignments": "available_until",
    "access_grants": "revoked_at",
    "verklaringen": "withdrawn_on",  # once withdrawn, a verklaring never changes again
}


def test_the_app_role_cannot_switch_off_or_bypass_a_guard(app, database_url, world):
    engine = create_engine(role_url(database_url, POSTGRES_APP_ROLE))
    not_refused = []
    try:
        with engine.connect() as connection:
            for table in sorted(GUARDED):
                key = _key_column(connection, table)
                rows_before = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                connection.rollback()
                assert rows_before > 0 or table == "retention_open_sentinels", f"{table} has no row to tamper with"
                for statement in _tamperings(table, key, _GRANTED_COLUMNS.get(table)):
                    try:
                        connection.execute(text(statement))
                        not_refused.append(statement)
                    except DBAPIError as refused:
                        # 42501 insufficient_privilege (also "must be owner"); 23001
                        # restrict_violation and P0001 raise_exception come from the triggers.
                        assert refused.orig.sqlstate in {"42501", "23001", "P0001"}, (statement, refused)
                    connection.rollback()
                assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == rows_before
                connection.rollback()
    finally:
        engine.dispose()
    assert not_refused == []
