"""guards: retention through owner functions (PostgreSQL)

PostgreSQL: the app's role holds no DELETE on the trip tables (backend/db_roles.py); retention
deletes through two SECURITY DEFINER functions owned by the migrating role, which work only
while a retention run is open in the same transaction (the triggers of 0008 check that too).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 09:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

RETENTION_OPEN = "EXISTS (SELECT 1 FROM retention_runs WHERE open_sentinel IS NOT NULL)"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _create_retention_functions()


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ritbox_retention_delete(text, integer[])")
        op.execute("DROP FUNCTION IF EXISTS ritbox_retention_clear_seals(integer[])")


def _create_retention_functions():
    # search_path pinned: a SECURITY DEFINER function must not resolve names in a schema the
    # caller controls.
    op.execute(f"""
        CREATE FUNCTION ritbox_retention_delete(target text, ids integer[]) RETURNS bigint
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
            ELSIF target IN ('trip_tracks', 'chain_events', 'trip_revisions', 'odometer_corrections') THEN
                EXECUTE format('DELETE FROM %I WHERE trip_id = ANY($1)', target) USING ids;
            ELSE
                RAISE EXCEPTION 'retention does not delete from %', target
                    USING ERRCODE = 'restrict_violation';
            END IF;
            GET DIAGNOSTICS deleted = ROW_COUNT;
            RETURN deleted;
        END
        $$""")
    op.execute(f"""
        CREATE FUNCTION ritbox_retention_clear_seals(ids integer[]) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            cleared bigint;
        BEGIN
            IF NOT {RETENTION_OPEN} THEN
                RAISE EXCEPTION 'retention clears seals only inside an open retention run'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            UPDATE trips SET start_sealed = NULL, end_sealed = NULL WHERE id = ANY(ids);
            GET DIAGNOSTICS cleared = ROW_COUNT;
            RETURN cleared;
        END
        $$""")
    for function in ("ritbox_retention_delete(text, integer[])", "ritbox_retention_clear_seals(integer[])"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
