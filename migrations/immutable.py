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
            op.execute(_pg_row_trigger(table, row_trigger_suffix, f"{function}()"))
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    else:
        for table in tables:
            for action in ("UPDATE", "DELETE"):
                op.execute(_sqlite_trigger(table, action, message))


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


def _pg_row_trigger(table, row_trigger_suffix, call):
    return (f"CREATE TRIGGER {table}_{row_trigger_suffix} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {call}")


def _sqlite_trigger(table, action, message, when=None):
    condition = f"WHEN {when} " if when else ""
    return (f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"{condition}BEGIN SELECT RAISE(ABORT, '{message}'); END")


# The retention exception (migration 0008, docs/retention.md). A run is open while a row of
# retention_runs has open_sentinel set; that row can never be committed (a deferred foreign key
# to a parent that cannot exist), so only the transaction that inserted it sees it open.
RETENTION_OPEN = "EXISTS (SELECT 1 FROM retention_runs WHERE open_sentinel IS NOT NULL)"
RETENTION_GUARD_FUNCTION = "ritbox_retention_guard"


def create_retention_guard_function():
    """PostgreSQL: the row-trigger function of the tables with a retention exception.

    TG_ARGV[0] is the message the table's original function raised, so every refusal reads as
    before ("DELETE on trips: trips are immutable"); TG_ARGV[1] = 'clear_seals' also lets an
    open run UPDATE a row when the only change is start_sealed/end_sealed becoming null.
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION {RETENTION_GUARD_FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            new_row jsonb;
        BEGIN
            IF {RETENTION_OPEN} THEN
                IF TG_OP = 'DELETE' THEN
                    RETURN OLD;
                END IF;
                IF TG_OP = 'UPDATE' AND TG_ARGV[1] = 'clear_seals' THEN
                    new_row := to_jsonb(NEW);
                    IF jsonb_typeof(new_row -> 'start_sealed') = 'null'
                       AND jsonb_typeof(new_row -> 'end_sealed') = 'null'
                       AND new_row - 'start_sealed' - 'end_sealed'
                           = to_jsonb(OLD) - 'start_sealed' - 'end_sealed' THEN
                        RETURN NEW;
                    END IF;
                END IF;
            END IF;
            RAISE EXCEPTION '% on %: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
                USING ERRCODE = 'restrict_violation';
        END
        $$""")


def drop_retention_guard_function():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {RETENTION_GUARD_FUNCTION}()")


def allow_retention(tables, *, message, row_trigger_suffix, clear_seals_columns=None):
    """Recreate the row triggers of `tables` (same names, same messages) so that an open
    retention run may DELETE; with `clear_seals_columns` (the table's other columns) it may
    also UPDATE a row whose only change is start_sealed/end_sealed set to NULL. Everything
    else is refused exactly as before; TRUNCATE triggers are left alone (still refused).
    Call create_retention_guard_function() first."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in tables:
        clears = clear_seals_columns is not None
        if postgresql:
            op.execute(f"DROP TRIGGER {table}_{row_trigger_suffix} ON {table}")
            mode = "clear_seals" if clears else "delete"
            op.execute(_pg_row_trigger(table, row_trigger_suffix,
                                       f"{RETENTION_GUARD_FUNCTION}('{message}', '{mode}')"))
            continue
        op.execute(f"DROP TRIGGER {table}_no_delete")
        op.execute(_sqlite_trigger(table, "DELETE", message, when=f"NOT {RETENTION_OPEN}"))
        if clears:
            unchanged = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in clear_seals_columns)
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(_sqlite_trigger(
                table, "UPDATE", message,
                when=f"NOT ({RETENTION_OPEN} AND NEW.start_sealed IS NULL AND NEW.end_sealed IS NULL "
                     f"AND {unchanged})"))


def disallow_retention(tables, *, function, message, row_trigger_suffix):
    """Undo allow_retention: the row triggers exactly as create_immutability_triggers made them."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in tables:
        if postgresql:
            op.execute(f"DROP TRIGGER {table}_{row_trigger_suffix} ON {table}")
            op.execute(_pg_row_trigger(table, row_trigger_suffix, f"{function}()"))
            continue
        for action in ("UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER {table}_no_{action.lower()}")
            op.execute(_sqlite_trigger(table, action, message))
