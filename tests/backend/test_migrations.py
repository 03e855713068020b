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
        assert {"users", "user_roles", "login_failures"} <= set(inspect(db.engine).get_table_names())
