"""The Alembic integration (Flask-Migrate): `flask --app backend db upgrade` and friends."""
from __future__ import annotations

from flask_migrate import Migrate
from sqlalchemy.types import TypeDecorator


def render_item(type_: str, obj, autogen_context):
    """Write our TypeDecorators as the plain types they store, so that migration files
    never import application code (which changes over time; migrations must not)."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl if not isinstance(obj.impl, type) else obj.impl()
        autogen_context.imports.add("import sqlalchemy as sa")
        return "sa." + repr(impl)
    return False


# render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds tables instead.
migrate = Migrate(compare_type=True, render_as_batch=True, render_item=render_item)
