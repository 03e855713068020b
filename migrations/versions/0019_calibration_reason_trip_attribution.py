"""every kilometre accounted for: the reason that confirms an implausible odometer reading, and
a trip without a driver may be attributed once

- odometer_calibrations.confirm_reason: set when a reading beyond the plausibility bound was
  booked anyway (docs/odometer.md).
- trips: the fact triggers also let a trip whose driver_id is NULL (uploaded for a day without an
  assignment) get a driver, once, when nothing else in the row changes (an assignment covering
  its day was added or extended: backend.fleet.service, audited as trips_attributed). A driver
  once set never changes; everything else stays refused as before (0002/0008).

The trips trigger is 0016's (sealing at reclassification) with this exception added in front; the
conditions are built by 0016's own helpers, so the two rules stay one guard.

Revision ID: 0019
Revises: 0021
Create Date: 2026-12-07 09:00:00

"""
import runpy
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0021'
branch_labels = None
depends_on = None

_immutable = runpy.run_path(str(Path(__file__).resolve().parents[1] / "immutable.py"))
_sealing = runpy.run_path(str(Path(__file__).resolve().with_name("0016_trip_reseals.py")))
MESSAGE = "trips are immutable"
# PL/pgSQL, first in 0016's guard: a trip without a driver gets one, and nothing else changes.
ATTRIBUTION = """
            IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'trips'
               AND to_jsonb(OLD) ->> 'driver_id' IS NULL AND to_jsonb(NEW) ->> 'driver_id' IS NOT NULL
               AND to_jsonb(NEW) - 'driver_id' = to_jsonb(OLD) - 'driver_id' THEN
                RETURN NEW;
            END IF;"""


def upgrade():
    # A plain ADD COLUMN (no batch copy): on SQLite a table copy would drop the triggers that
    # keep calibrations immutable.
    op.add_column('odometer_calibrations', sa.Column('confirm_reason', sa.Text(), nullable=True))
    _trip_update_rule(attribution=True)


def downgrade():
    _trip_update_rule(attribution=False)
    op.drop_column('odometer_calibrations', 'confirm_reason')


def _trip_update_rule(*, attribution: bool):
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_sealing["guard_function_sql"](ATTRIBUTION if attribution else ""))
        return
    allowed = _sealing["sqlite_trips_update_allowed"]()
    if attribution:
        columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("trips")]
        same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in columns if c != "driver_id")
        allowed.append(f"(OLD.driver_id IS NULL AND NEW.driver_id IS NOT NULL AND {same})")
    op.execute("DROP TRIGGER trips_no_update")
    op.execute(_immutable["_sqlite_trigger"]("trips", "UPDATE", MESSAGE, when=f"NOT ({' OR '.join(allowed)})"))


# Later migrations that add or drop a trips column call these (through runpy, like this file
# calls 0016's builders): on SQLite the attribution rule above names every trips column.

def trips_column_added() -> None:
    """After ADD COLUMN on trips: the SQLite rule compares the new column too."""
    if op.get_bind().dialect.name == "sqlite":
        _trip_update_rule(attribution=True)


def drop_trips_column(name: str) -> None:
    """DROP COLUMN on trips (plain, SQLite >= 3.35: a batch copy would lose the triggers); on
    SQLite a placeholder trigger stands while the column goes, as the rule names it."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER trips_no_update")
        op.execute("CREATE TRIGGER trips_no_update BEFORE UPDATE ON trips BEGIN SELECT 1; END")
    op.execute(f"ALTER TABLE trips DROP COLUMN {name}")
    if sqlite:
        _trip_update_rule(attribution=True)

