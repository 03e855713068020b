"""Triggers that make tables of facts immutable in the database itself, whatever the
application does: UPDATE and DELETE are refused on SQLite and PostgreSQL, TRUNCATE too on
PostgreSQL (SQLite has no TRUNCATE).

Shared by the migrations that create such tables (0002 trips, 0005 history, 0006 odometer).
0003 (audit log) and 0004 (agreements) keep their own triggers: their functions raise other
messages (no error code; 0004 allows some updates) and 0003 also guards its chain head row.
Alembic loads revision files by path, outside any package, and `migrations` is not an installed
package, so `import migrations.immutable` would depend on the working directory: the revision
files run this module by its path (runpy.run_path) instead.

The generated SQL is exactly what those migrations wrote out before this helper existed
(including the whitespace of the PostgreSQL function body, which PostgreSQL stores verbatim):
trigger and function names are part of the schema and must not change.
"""
from alembic import op


def create_immutability_triggers(tables, *, function, message, row_trigger_suffix):
    """Refuse UPDATE/DELETE (and TRUNCATE on PostgreSQL) on each of `tables`.

    PostgreSQL: one plpgsql `function` raising "<OP> on <table>: <message>" (restrict_violation),
    triggers `<table>_<row_trigger_suffix>` (per row) and `<table>_no_truncate` (per statement).
    SQLite: triggers `<table>_no_update` and `<table>_no_delete` aborting with `message`.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION {function}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% on %: {message}', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'restrict_violation';
            END
            $$""")
        for table in tables:
            op.execute(f"CREATE TRIGGER {table}_{row_trigger_suffix} BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION {function}()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    else:
        for table in tables:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def drop_immutability_triggers(tables, *, function, row_trigger_suffix):
    """Undo `create_immutability_triggers` with the same arguments."""
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{row_trigger_suffix} ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for table in tables:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
