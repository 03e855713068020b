"""The schema comes only from the migrations, and the models agree with their head."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from backend.db import db
from backend.migrate import render_item  # noqa: F401  (the same configuration the CLI uses)


def _differences(app) -> list:
    with app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, db.metadata)


def test_models_match_the_migration_head(app) -> None:
    assert _differences(app) == []


def test_a_model_change_without_migration_is_detected(app) -> None:
    """The check above can fail: a column only the model has is reported."""
    from sqlalchemy import Column, Integer

    table = db.metadata.tables["users"]
    extra = Column("shoe_size", Integer)
    table.append_column(extra)
    try:
        differences = _differences(app)
    finally:
        table._columns.remove(extra)
    assert any(diff[0] == "add_column" and diff[3].name == "shoe_size" for diff in differences)


def test_downgrade_to_base_and_upgrade_again(app) -> None:
    with app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert {"users", "user_roles", "login_counters"} <= set(inspect(db.engine).get_table_names())


def _triggers(connection) -> dict[str, str]:
    """Every trigger (and PostgreSQL trigger function) with its full definition."""
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(
            "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal "
            "UNION ALL SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'").all()
    else:
        rows = connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
    return dict(rows)


def test_retention_migration_changes_only_its_triggers_and_downgrade_restores_them(app) -> None:
    """0008 re-creates the row triggers of the tables retention empties, under the same names;
    its downgrade leaves every trigger exactly as 0007 had it."""
    with app.app_context():
        downgrade(revision="0007")
        with db.engine.connect() as connection:
            before = _triggers(connection)
        upgrade(revision="0008")
        with db.engine.connect() as connection:
            retention = _triggers(connection)
        downgrade(revision="0007")
        with db.engine.connect() as connection:
            after = _triggers(connection)
        upgrade()
    assert after == before
    changed = {name for name in before if retention.get(name) != before[name]}
    if "ritbox_refuse_trip_fact_change" in before:  # PostgreSQL: one row trigger per table
        expected = {"trips_immutable", "trip_tracks_immutable", "chain_events_immutable",
                    "trip_revisions_append_only", "odometer_corrections_immutable"}
    else:
        expected = {f"{table}_no_delete" for table in ("trips", "trip_tracks", "chain_events", "trip_revisions",
                                                        "odometer_corrections")} | {"trips_no_update"}
    assert changed == expected
    assert set(before) <= set(retention)  # no trigger disappears
    assert {"retention_runs_no_delete", "retention_runs_final"} & set(retention)


def test_audit_events_keep_their_hashes_across_the_body_migration(app) -> None:
    """0010 rebuilds audit_events with the canonical JSON stored as body and the columns derived
    from it: events written before it still verify, and say the same, both ways."""
    from datetime import datetime, timezone

    from sqlalchemy import MetaData, Table, text

    from backend import audit
    from backend.models.audit import GENESIS_HASH

    columns = ("seq", "at", "event_type", "actor_id", "subject_user_id", "subject_vehicle_id", "purpose",
               "grant_id", "request_id", "details")
    old_rows, prev = [], GENESIS_HASH
    for seq, (purpose, details) in enumerate([(None, {}), ("tax", {"note": "é \"quoted\"", "ids": [1, 2]}),
                                              ("misuse_investigation", {"records": 3})], start=1):
        values = dict(zip(columns, (seq, datetime(2026, 3, seq, 7, 30, 15, 120 * seq, tzinfo=timezone.utc),
                                    audit.READ, seq, 40 + seq, None if seq % 2 else 7, purpose,
                                    None if seq == 1 else 11, None, audit.canonical_details(details))))
        digest = audit.event_hash(prev, audit.canonical_json(**values))
        old_rows.append({**values, "prev_hash": prev, "hash": digest})
        prev = digest

    def stored(connection) -> list[tuple]:
        return [tuple(row) for row in connection.execute(text(
            f"SELECT {', '.join(columns)}, prev_hash, hash FROM audit_events ORDER BY seq")).all()]

    with app.app_context():
        downgrade(revision="0009")
        with db.engine.begin() as connection:
            # Through the reflected table, so each database stores the time as SQLAlchemy does.
            table = Table("audit_events", MetaData(), autoload_with=connection)
            connection.execute(table.insert(), old_rows)
            connection.execute(text("UPDATE audit_chain_head SET seq = 3, hash = :h WHERE id = 1"), {"h": prev})
        with db.engine.connect() as connection:
            before = stored(connection)
        upgrade()
        with db.engine.connect() as connection:
            assert stored(connection) == before
            bodies = connection.execute(text("SELECT body FROM audit_events ORDER BY seq")).scalars().all()
        assert bodies == [audit.canonical_json(**{c: row[c] for c in columns}) for row in old_rows]
        result = audit.verify()
        assert (result.ok, result.events) == (True, 3), result.message()
        db.session.remove()
        downgrade(revision="0009")
        with db.engine.connect() as connection:
            assert stored(connection) == before
        upgrade()
        assert audit.verify().ok
