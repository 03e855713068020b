"""audit body: each audit event is stored as its canonical JSON; the database derives the columns

Until now the columns were the event and `audit verify` rebuilt the canonical JSON from them in
SQL for every event, which cost more than the hashing. Now the hashed text itself is stored
(`body`) and every other column is generated from it by the database (SQLite: virtual columns;
PostgreSQL: stored columns), so no column can disagree with what is hashed and verify reads
three columns. Existing events are copied with the body rebuilt from their columns by the same
SQL verify used, so every stored hash still covers exactly prev_hash + body.

SQLite cannot turn a column into a generated one, and PostgreSQL cannot either: the table is
rebuilt (new table, copy in chain order, drop the old one), with the append-only triggers
dropped for the rebuild and created again on the new table, under the same names.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 22:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

GENERATED = ("at", "event_type", "actor_id", "subject_user_id", "subject_vehicle_id", "purpose", "grant_id",
             "request_id", "details")
REQUIRED = {"at", "event_type", "details"}  # NOT NULL: a body without them is refused
INDEXES = (("ix_audit_events_event_type_seq", ["event_type", "seq"]),
           ("ix_audit_events_grant_id", ["grant_id"]),
           ("ix_audit_events_subject_user_id_seq", ["subject_user_id", "seq"]))

# The canonical JSON (without prev_hash) from the old columns: the text audit verify hashed.
_SQLITE_BODY = (
    "printf('{\"actor_id\":%s,\"at\":\"%s\",\"details\":%s,\"event_type\":\"%s\",\"grant_id\":%s,\"purpose\":%s,"
    "\"request_id\":%s,\"seq\":%s,\"subject_user_id\":%s,\"subject_vehicle_id\":%s}', "
    "coalesce(actor_id, 'null'), replace(at, ' ', 'T') || 'Z', details, event_type, coalesce(grant_id, 'null'), "
    "coalesce('\"' || purpose || '\"', 'null'), coalesce(request_id, 'null'), seq, "
    "coalesce(subject_user_id, 'null'), coalesce(subject_vehicle_id, 'null'))")
_POSTGRES_BODY = (
    "format('{\"actor_id\":%s,\"at\":\"%s\",\"details\":%s,\"event_type\":\"%s\",\"grant_id\":%s,\"purpose\":%s,"
    "\"request_id\":%s,\"seq\":%s,\"subject_user_id\":%s,\"subject_vehicle_id\":%s}', "
    "coalesce(actor_id::text, 'null'), to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "details, event_type, coalesce(grant_id::text, 'null'), coalesce('\"' || purpose || '\"', 'null'), "
    "coalesce(request_id::text, 'null'), seq::text, coalesce(subject_user_id::text, 'null'), "
    "coalesce(subject_vehicle_id::text, 'null'))")


def _generated(dialect: str) -> dict[str, str]:
    """Column -> SQL expression over body, per database."""
    if dialect == "postgresql":
        field = "(body::json ->> '{}')"
        return {"at": "ritbox_audit_utc(body::json ->> 'at')",
                **{name: field.format(name) for name in ("event_type", "purpose", "details")},
                **{name: field.format(name) + "::integer"
                   for name in ("actor_id", "subject_user_id", "subject_vehicle_id", "grant_id", "request_id")}}
    field = "json_extract(body, '$.{}')"
    return {"at": "replace(substr(json_extract(body, '$.at'), 1, 26), 'T', ' ')",
            **{name: field.format(name) for name in GENERATED if name != "at"}}


def _types() -> dict[str, sa.types.TypeEngine]:
    return {"at": sa.DateTime(timezone=True), "event_type": sa.String(length=40), "actor_id": sa.Integer(),
            "subject_user_id": sa.Integer(), "subject_vehicle_id": sa.Integer(), "purpose": sa.String(length=64),
            "grant_id": sa.Integer(), "request_id": sa.Integer(), "details": sa.Text()}


def _drop_event_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")


def _create_event_triggers(dialect: str) -> None:
    if dialect == "postgresql":  # the function ritbox_refuse_audit_change() of 0003 is still there
        op.execute("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION ritbox_refuse_audit_change()")
        op.execute("CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ritbox_refuse_audit_change()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_events_no_{action.lower()} BEFORE {action} ON audit_events "
                       f"BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: {action} refused'); END")


def _set_aside_old_table(dialect: str) -> None:
    """Rename the old table out of the way; its index names are freed for the new table."""
    _drop_event_triggers(dialect)
    for name, _ in INDEXES:
        op.drop_index(name, table_name="audit_events")
    op.rename_table("audit_events", "audit_events_old")
    if dialect == "postgresql":  # constraint names are index names there: free them too
        op.execute("ALTER TABLE audit_events_old RENAME CONSTRAINT pk_audit_events TO pk_audit_events_old")
        op.execute("ALTER TABLE audit_events_old RENAME CONSTRAINT uq_audit_events_hash TO uq_audit_events_old_hash")


def _finish_new_table(dialect: str) -> None:
    op.drop_table("audit_events_old")
    for name, columns in INDEXES:
        op.create_index(name, "audit_events", columns, unique=False)
    _create_event_triggers(dialect)


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # Text to timestamptz is not immutable in general (it reads DateStyle and TimeZone); the
        # body's 'YYYY-MM-DDTHH:MM:SS.ffffffZ' always is, which a generated column needs declared.
        op.execute("""
            CREATE FUNCTION ritbox_audit_utc(text) RETURNS timestamptz
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $$ SELECT (substr($1, 1, 26))::timestamp AT TIME ZONE 'UTC' $$""")
    _set_aside_old_table(dialect)
    generated, types = _generated(dialect), _types()
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        *[sa.Column(name, types[name], sa.Computed(generated[name], persisted=dialect == "postgresql"),
                    nullable=name not in REQUIRED) for name in GENERATED],
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    body = _POSTGRES_BODY if dialect == "postgresql" else _SQLITE_BODY
    op.execute(f"INSERT INTO audit_events (seq, body, prev_hash, hash) "
               f"SELECT seq, {body}, prev_hash, hash FROM audit_events_old ORDER BY seq")
    _finish_new_table(dialect)


def downgrade():
    dialect = op.get_bind().dialect.name
    _set_aside_old_table(dialect)
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        *[sa.Column(name, type_, nullable=name not in REQUIRED) for name, type_ in _types().items()],
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    columns = ", ".join(("seq", *GENERATED, "prev_hash", "hash"))
    op.execute(f"INSERT INTO audit_events ({columns}) SELECT {columns} FROM audit_events_old ORDER BY seq")
    _finish_new_table(dialect)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION ritbox_audit_utc(text)")
