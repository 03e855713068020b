"""every kilometre accounted for: the reason that confirms an implausible odometer reading, and
a trip without a driver may be attributed once

- odometer_calibrations.confirm_reason: set when a reading beyond the plausibility bound was
  booked anyway (docs/odometer.md).
- trips: the fact triggers also let a trip whose driver_id is NULL (uploaded for a day without an
  assignment) get a driver, once, when nothing else in the row changes (an assignment covering
  its day was added or extended: backend.fleet.service, audited as trips_attributed). A driver
  once set never changes; everything else stays refused as before (0002/0008).

Revision ID: 0019
Revises: 0013
Create Date: 2026-12-07 09:00:00

"""
import runpy
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0013'
branch_labels = None
depends_on = None

_immutable = runpy.run_path(str(Path(__file__).resolve().parents[1] / "immutable.py"))
TRIP_GUARD = "ritbox_trip_fact_guard"
MESSAGE = "trips are immutable"


def upgrade():
    # A plain ADD COLUMN (no batch copy): on SQLite a table copy would drop the triggers that
    # keep calibrations immutable.
    op.add_column('odometer_calibrations', sa.Column('confirm_reason', sa.Text(), nullable=True))
    _trip_update_rule(attribution=True)


def downgrade():
    _trip_update_rule(attribution=False)
    op.drop_column('odometer_calibrations', 'confirm_reason')


def _trip_update_rule(*, attribution: bool):
    columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("trips")]
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trips_immutable ON trips")
        if attribution:
            retention_open = _immutable["RETENTION_OPEN"]
            op.execute(f"""
                CREATE FUNCTION {TRIP_GUARD}() RETURNS trigger
                LANGUAGE plpgsql AS $$
                DECLARE
                    new_row jsonb;
                BEGIN
                    IF TG_OP = 'UPDATE' AND OLD.driver_id IS NULL AND NEW.driver_id IS NOT NULL
                       AND to_jsonb(NEW) - 'driver_id' = to_jsonb(OLD) - 'driver_id' THEN
                        RETURN NEW;
                    END IF;
                    IF {retention_open} THEN
                        IF TG_OP = 'DELETE' THEN
                            RETURN OLD;
                        END IF;
                        new_row := to_jsonb(NEW);
                        IF jsonb_typeof(new_row -> 'start_sealed') = 'null'
                           AND jsonb_typeof(new_row -> 'end_sealed') = 'null'
                           AND new_row - 'start_sealed' - 'end_sealed'
                               = to_jsonb(OLD) - 'start_sealed' - 'end_sealed' THEN
                            RETURN NEW;
                        END IF;
                    END IF;
                    RAISE EXCEPTION '% on %: {MESSAGE}', TG_OP, TG_TABLE_NAME
                        USING ERRCODE = 'restrict_violation';
                END
                $$""")
            op.execute(_immutable["_pg_row_trigger"]("trips", "immutable", f"{TRIP_GUARD}()"))
        else:
            op.execute(_immutable["_pg_row_trigger"](
                "trips", "immutable", f"{_immutable['RETENTION_GUARD_FUNCTION']}('{MESSAGE}', 'clear_seals')"))
            op.execute(f"DROP FUNCTION IF EXISTS {TRIP_GUARD}()")
        return
    retention_open = _immutable["RETENTION_OPEN"]
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in columns if c not in ("start_sealed", "end_sealed"))
    allowed = (f"({retention_open} AND NEW.start_sealed IS NULL AND NEW.end_sealed IS NULL AND {unchanged})")
    if attribution:
        same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in columns if c != "driver_id")
        allowed += f" OR (OLD.driver_id IS NULL AND NEW.driver_id IS NOT NULL AND {same})"
    op.execute("DROP TRIGGER trips_no_update")
    op.execute(_immutable["_sqlite_trigger"]("trips", "UPDATE", MESSAGE, when=f"NOT ({allowed})"))
