"""reseal as the app role: sealing a trip classified private through an owner function (PostgreSQL)

0016 lets the trip-fact triggers accept one more change: the clear copies of a business-mode trip
that a person classified private are removed (positions and body of trips, rows of trip_tracks)
once its sealed copies are in trip_reseals. 0017 took DELETE on trip_tracks and UPDATE on trips
away from the app's role, so that change goes through a SECURITY DEFINER function owned by the
migrating role; the triggers still decide whether it is allowed. The retention function may now
also delete the reseal and disclosure rows of the trips it deletes.

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-07 09:20:00

"""
import runpy
from pathlib import Path

from alembic import op


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0018'
branch_labels = None
depends_on = None

SEALED_BODY = '{"sealed":"trip_reseals"}'  # backend.models.seals.SEALED_BODY
# Alembic loads this file by path, outside any package: load 0017's builder by its path too.
_guards = runpy.run_path(str(Path(__file__).resolve().with_name("0017_guards.py")))
RETENTION_TABLES = (*_guards["RETENTION_TABLES"], "trip_reseals", "trip_disclosures")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_guards["retention_delete_sql"](RETENTION_TABLES))
    # Only the clearing itself: which trips may be cleared is the triggers' decision (0016).
    op.execute(f"""
        CREATE FUNCTION ritbox_reseal_clear(trip integer) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            points bigint;
        BEGIN
            DELETE FROM trip_tracks WHERE trip_id = trip;
            GET DIAGNOSTICS points = ROW_COUNT;
            UPDATE trips SET start_lat = NULL, start_lon = NULL, end_lat = NULL, end_lon = NULL,
                             body = '{SEALED_BODY}'
             WHERE id = trip;
            RETURN points;
        END
        $$""")
    op.execute("REVOKE ALL ON FUNCTION ritbox_reseal_clear(integer) FROM PUBLIC")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS ritbox_reseal_clear(integer)")
    op.execute(_guards["retention_delete_sql"]())
