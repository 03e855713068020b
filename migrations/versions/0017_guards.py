"""guards: assignments, grants and agreement consent change only with their audit event; retention through owner functions

What the verdict depends on is guarded like the trips (docs/access.md, "What the database guards"):
- assignments: UPDATE only of available_from/available_until, and only when the last audit event
  (the chain head's) is the assignment_changed event naming this assignment and exactly the new
  period; DELETE only when it is the assignment_deleted event naming it.
- access_grants: the scope (subject, purpose, period, categories, expiry ...) never changes; the
  revocation columns are set once with a grant_revoked event, expired_marked_at once with a
  grant_expired event; no DELETE.
- agreement_versions: label, title, text, hash and upload never change; consent is recorded once,
  with its agreement_consented event. (0004's triggers stay; this one comes on top.)
- TRUNCATE refused on PostgreSQL. Calibrations, corrections and period closings were immutable
  already (0005, 0006).

PostgreSQL: the app's role holds no DELETE on the trip tables (backend/db_roles.py); retention
deletes through two SECURITY DEFINER functions owned by the migrating role, which work only
while a retention run is open in the same transaction (the triggers of 0008 check that too).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

RETENTION_OPEN = "EXISTS (SELECT 1 FROM retention_runs WHERE open_sentinel IS NOT NULL)"


def _mail_kinds(kinds):
    with op.batch_alter_table('outgoing_mail', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_outgoing_mail_kind_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_outgoing_mail_kind_known'),
                                         sa.text("kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"))


def upgrade():
    # Signed checkpoints are e-mailed to OR delegates and privacy officers (backend/checkpoints.py).
    _mail_kinds(("access_notice", "odometer_reminder", "checkpoint"))
    if op.get_bind().dialect.name == "postgresql":
        _create_retention_functions()
        _create_pg_guards()
    else:
        _create_sqlite_guards()


def downgrade():
    op.execute("DELETE FROM outgoing_mail WHERE kind = 'checkpoint'")
    _mail_kinds(("access_notice", "odometer_reminder"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ritbox_retention_delete(text, integer[])")
        op.execute("DROP FUNCTION IF EXISTS ritbox_retention_clear_seals(integer[])")
        for table, function in _PG_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_guard ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_guard_truncate ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


# The chain head's event: the one audit.record appended last. The app records a change's event
# first and writes the row right after, in the same transaction.
_LAST_BODY_PG = "(SELECT e.body::jsonb FROM audit_events e WHERE e.seq = (SELECT seq FROM audit_chain_head WHERE id = 1))"
_LAST_EVENT_SQLITE = "audit_events e WHERE e.seq = (SELECT seq FROM audit_chain_head WHERE id = 1)"

_SCOPE_COLUMNS = ("id", "request_id", "agreement_version_id", "purpose", "holder_id", "subject_user_id",
                  "subject_vehicle_id", "period_start", "period_end", "categories", "issued_at", "expires_at")
_REVOKE_COLUMNS = ("revoked_at", "revoked_by_id", "revoke_reason")
_AGREEMENT_FIXED = ("id", "label", "title", "document_text", "sha256", "uploaded_by_id", "uploaded_at")

_PG_GUARDS = (("assignments", "ritbox_guard_assignment"), ("access_grants", "ritbox_guard_grant"),
              ("agreement_versions", "ritbox_guard_agreement"))
_SQLITE_TRIGGERS = ("assignments_guard_update", "assignments_guard_delete", "access_grants_guard_update",
                    "access_grants_guard_delete", "agreement_versions_guard_update")


def _same(columns, *, pg: bool) -> str:
    op_ = "IS NOT DISTINCT FROM" if pg else "IS"
    return " AND ".join(f"NEW.{c} {op_} OLD.{c}" for c in columns)


def _create_pg_guards():
    refuse = ("RAISE EXCEPTION '% on %: {what}', TG_OP, TG_TABLE_NAME "
              "USING ERRCODE = 'restrict_violation';")
    bodies = {
        "ritbox_guard_assignment": f"""
            IF TG_OP = 'DELETE' THEN
                IF latest->>'event_type' = 'assignment_deleted'
                   AND (latest->'details'->>'assignment_id')::bigint = OLD.id THEN
                    RETURN OLD;
                END IF;
            ELSIF TG_OP = 'UPDATE' AND {_same(("id", "driver_id", "vehicle_id", "created_at"), pg=True)}
                  AND latest->>'event_type' = 'assignment_changed'
                  AND (latest->'details'->>'assignment_id')::bigint = OLD.id
                  AND latest->'details'->'new'->>'from' = NEW.available_from::text
                  AND (latest->'details'->'new'->>'until') IS NOT DISTINCT FROM NEW.available_until::text THEN
                RETURN NEW;
            END IF;
            {refuse.format(what="an assignment changes only with its audit event")}""",
        "ritbox_guard_grant": f"""
            IF TG_OP = 'UPDATE' AND {_same(_SCOPE_COLUMNS, pg=True)} AND (
                   (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
                    AND NEW.expired_marked_at IS NOT DISTINCT FROM OLD.expired_marked_at
                    AND latest->>'event_type' = 'grant_revoked' AND (latest->>'grant_id')::bigint = OLD.id)
                OR (OLD.expired_marked_at IS NULL AND NEW.expired_marked_at IS NOT NULL
                    AND {_same(_REVOKE_COLUMNS, pg=True)}
                    AND latest->>'event_type' = 'grant_expired' AND (latest->>'grant_id')::bigint = OLD.id)) THEN
                RETURN NEW;
            END IF;
            {refuse.format(what="a grant keeps its scope; it is only revoked or marked expired, with its audit event")}""",
        "ritbox_guard_agreement": f"""
            IF TG_OP = 'UPDATE' AND {_same(_AGREEMENT_FIXED, pg=True)} AND OLD.consent_recorded_at IS NULL
               AND latest->>'event_type' = 'agreement_consented'
               AND (latest->'details'->>'agreement_version_id')::bigint = OLD.id
               AND latest->'details'->>'consent_date' = NEW.consent_date::text THEN
                RETURN NEW;
            END IF;
            {refuse.format(what="agreement_versions are kept: the text never changes, consent is recorded once with its audit event")}""",
    }
    for table, function in _PG_GUARDS:
        op.execute(f"""
            CREATE FUNCTION {function}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                latest jsonb;
            BEGIN
                IF TG_OP <> 'TRUNCATE' THEN
                    latest := {_LAST_BODY_PG};
                END IF;{bodies[function]}
            END
            $$""")
        events = "UPDATE" if table == "agreement_versions" else "UPDATE OR DELETE"  # 0004 refuses DELETE
        op.execute(f"CREATE TRIGGER {table}_guard BEFORE {events} ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {function}()")
        op.execute(f"CREATE TRIGGER {table}_guard_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")


def _sqlite_trigger(name, action, table, when, message):
    op.execute(f"CREATE TRIGGER {name} BEFORE {action} ON {table} WHEN {when} "
               f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def _create_sqlite_guards():
    last = _LAST_EVENT_SQLITE
    _sqlite_trigger(
        "assignments_guard_update", "UPDATE", "assignments",
        f"NOT ({_same(('id', 'driver_id', 'vehicle_id', 'created_at'), pg=False)} AND EXISTS (SELECT 1 FROM {last} "
        "AND json_extract(e.body, '$.event_type') = 'assignment_changed' "
        "AND json_extract(e.body, '$.details.assignment_id') = OLD.id "
        "AND json_extract(e.body, '$.details.new.from') IS NEW.available_from "
        "AND json_extract(e.body, '$.details.new.until') IS NEW.available_until))",
        "an assignment changes only with its audit event")
    _sqlite_trigger(
        "assignments_guard_delete", "DELETE", "assignments",
        f"NOT EXISTS (SELECT 1 FROM {last} AND json_extract(e.body, '$.event_type') = 'assignment_deleted' "
        "AND json_extract(e.body, '$.details.assignment_id') = OLD.id)",
        "an assignment is deleted only with its audit event")
    _sqlite_trigger(
        "access_grants_guard_update", "UPDATE", "access_grants",
        f"NOT ({_same(_SCOPE_COLUMNS, pg=False)} AND ("
        "(OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.expired_marked_at IS OLD.expired_marked_at "
        f"AND EXISTS (SELECT 1 FROM {last} AND json_extract(e.body, '$.event_type') = 'grant_revoked' "
        "AND json_extract(e.body, '$.grant_id') = OLD.id)) "
        f"OR (OLD.expired_marked_at IS NULL AND NEW.expired_marked_at IS NOT NULL AND {_same(_REVOKE_COLUMNS, pg=False)} "
        f"AND EXISTS (SELECT 1 FROM {last} AND json_extract(e.body, '$.event_type') = 'grant_expired' "
        "AND json_extract(e.body, '$.grant_id') = OLD.id))))",
        "a grant keeps its scope; it is only revoked or marked expired, with its audit event")
    _sqlite_trigger("access_grants_guard_delete", "DELETE", "access_grants", "1",
                    "grants are kept: DELETE refused")
    _sqlite_trigger(
        "agreement_versions_guard_update", "UPDATE", "agreement_versions",
        f"NOT ({_same(_AGREEMENT_FIXED, pg=False)} AND OLD.consent_recorded_at IS NULL "
        f"AND EXISTS (SELECT 1 FROM {last} AND json_extract(e.body, '$.event_type') = 'agreement_consented' "
        "AND json_extract(e.body, '$.details.agreement_version_id') = OLD.id "
        "AND json_extract(e.body, '$.details.consent_date') IS NEW.consent_date))",
        "agreement_versions are kept: the text never changes, consent is recorded once with its audit event")


# The tables retention deletes from by trip id (0021 adds the reseal and disclosure rows).
RETENTION_TABLES = ("trip_tracks", "chain_events", "trip_revisions", "odometer_corrections")


def retention_delete_sql(tables=RETENTION_TABLES) -> str:
    """The owner's delete function for retention, for a list of tables it may delete from."""
    # search_path pinned: a SECURITY DEFINER function must not resolve names in a schema the
    # caller controls.
    listed = ", ".join(f"'{table}'" for table in tables)
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
            ELSIF target IN ({listed}) THEN
                EXECUTE format('DELETE FROM %I WHERE trip_id = ANY($1)', target) USING ids;
            ELSE
                RAISE EXCEPTION 'retention does not delete from %', target
                    USING ERRCODE = 'restrict_violation';
            END IF;
            GET DIAGNOSTICS deleted = ROW_COUNT;
            RETURN deleted;
        END
        $$"""


def _create_retention_functions():
    op.execute(retention_delete_sql())
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
