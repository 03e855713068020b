"""PostgreSQL: the privileges of the application's role (README "Two database roles").

Migrations run as the role that owns every table (RITBOX_MIGRATE_DATABASE_URL); the app connects
as a role that owns nothing (RITBOX_DATABASE_URL). Only an owner (or a superuser) can ALTER,
DROP or DISABLE TRIGGER, and TRUNCATE is granted to nobody, so the app's own connection cannot
switch off the triggers that keep trip facts, the audit log and what the verdict depends on.

`flask --app backend db upgrade` calls grant_app_role after the migrations (migrations/env.py),
so the grants always match the tables of the migrated schema:
- every table: SELECT, INSERT, UPDATE, DELETE (and new tables too: ALTER DEFAULT PRIVILEGES);
- the tables in GUARDED: exactly what is listed there, column by column where the app changes
  only some columns. Retention deletes through SECURITY DEFINER functions owned by the owner
  (migration 0017), so the app holds no DELETE on any trip table.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

# table -> the app's privileges. A table missing here gets full DML; a new table of facts must
# be added here (and get its triggers in its migration).
GUARDED: dict[str, str] = {
    # driver_id: a trip uploaded for a day without an assignment gets its driver once (0019's trigger).
    "trips": "SELECT, INSERT, UPDATE (driver_id)",
    "trip_tracks": "SELECT, INSERT",
    "chain_events": "SELECT, INSERT",
    "trip_revisions": "SELECT, INSERT",
    "odometer_corrections": "SELECT, INSERT",
    "odometer_calibrations": "SELECT, INSERT",
    "period_closings": "SELECT, INSERT",
    "audit_events": "SELECT, INSERT",
    "audit_chain_head": "SELECT, UPDATE (seq, hash)",
    "device_chain_heads": "SELECT, INSERT, UPDATE (head_seq, head_hash, updated_at, deleted_through_seq)",
    "retention_runs": "SELECT, INSERT, UPDATE (finished_at, tracks_deleted, seals_cleared, trips_deleted, "
                      "related_deleted, audit_seqs, open_sentinel)",
    "retention_open_sentinels": "SELECT",
    "agreement_versions": "SELECT, INSERT, UPDATE (consent_date, consent_reference, consent_recorded_by_id, "
                          "consent_recorded_at)",
    # Changes the triggers allow only with the audit event that explains them (migration 0017).
    "assignments": "SELECT, INSERT, UPDATE (available_from, available_until), DELETE",
    "access_grants": "SELECT, INSERT, UPDATE (revoked_at, revoked_by_id, revoke_reason, expired_marked_at)",
    # The sealed copies of a trip classified private, and the driver's opening of them (0016).
    "trip_reseals": "SELECT, INSERT",
    "trip_disclosures": "SELECT, INSERT",
    "alembic_version": "SELECT",
    # Regime history is only added to; a verklaring changes only by its withdrawal (0026).
    "vehicle_regimes": "SELECT, INSERT",
    "verklaringen": "SELECT, INSERT, UPDATE (withdrawn_on, withdrawn_by_id, withdrawn_at)",
}

# SECURITY DEFINER functions the app may call (migrations 0017, 0021).
FUNCTIONS = ("ritbox_retention_delete(text,integer[])", "ritbox_retention_clear_seals(integer[])",
             "ritbox_reseal_clear(integer)")


def role_of(url: str) -> str | None:
    return make_url(url).username


def app_role_to_grant(app_url: str, migrate_url: str | None) -> str | None:
    """The app's role when it is another PostgreSQL role than the one that migrates, else None."""
    if not migrate_url or make_url(app_url).get_backend_name() != "postgresql":
        return None
    app_role, owner_role = role_of(app_url), role_of(migrate_url)
    if not app_role or app_role == owner_role:
        return None
    return app_role


def grant_app_role(connection: Connection, app_role: str) -> None:
    """Give `app_role` exactly the privileges above, on every table of the public schema."""
    role = connection.dialect.identifier_preparer.quote(app_role)
    existing = set(connection.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    statements = [
        f"GRANT CONNECT ON DATABASE {connection.dialect.identifier_preparer.quote(connection.engine.url.database)} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]
    for table, privileges in GUARDED.items():
        if table in existing:
            statements += [f"REVOKE ALL ON {table} FROM {role}", f"GRANT {privileges} ON {table} TO {role}"]
    if connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = 'procrastinate'")).scalar():
        # The task queue's own schema (migration 0018): its rows are work, not facts.
        statements += [f"GRANT USAGE ON SCHEMA procrastinate TO {role}",
                       f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA procrastinate TO {role}",
                       f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA procrastinate TO {role}",
                       f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA procrastinate TO {role}"]
    existing_functions = set(connection.execute(text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public'")).scalars())
    statements += [f"GRANT EXECUTE ON FUNCTION {function} TO {role}"
                   for function in FUNCTIONS if function in existing_functions]
    for statement in statements:
        connection.execute(text(statement))
