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
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0018'
branch_labels = None
depends_on = None

RETENTION_OPEN = "EXISTS (SELECT 1 FROM retention_runs WHERE open_sentinel IS NOT NULL)"
SEALED_BODY = '{"sealed":"trip_reseals"}'  # backend.models.seals.SEALED_BODY
RETENTION_TABLES_0017 = "'trip_tracks', 'chain_events', 'trip_revisions', 'odometer_corrections'"
RETENTION_TABLES = RETENTION_TABLES_0017 + ", 'trip_reseals', 'trip_disclosures'"


def _retention_delete(tables: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION ritbox_retention_delete(target text, ids integer[]) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            deleted bigint;
        BEGIN
            IF NOT {RETENTION_OPEN} THEN
                RAISE EXCEPTION 'retention deletes only inside an open retention run'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF target = 'trips' THEN
                DELETE FROM trips WHERE id = ANY(ids);
            ELSIF target IN ({tables}) THEN
                EXECUTE format('DELETE FROM %I WHERE trip_id = ANY($1)', target) USING ids;
            ELSE
                RAISE EXCEPTION 'retention does not delete from %', target
                    USING ERRCODE = 'restrict_violation';
            END IF;
            GET DIAGNOSTICS deleted = ROW_COUNT;
            RETURN deleted;
        END
        $$"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_retention_delete(RETENTION_TABLES))
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
    op.execute(_retention_delete(RETENTION_TABLES_0017))
