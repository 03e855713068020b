"""device events and km explanations: the device's own events (power lost, receiver lost, private
switch, ...) kept as chain events of kind 'device_event'; explanations of unexplained km

- chain_events.kind may be 'device_event'; such a row has no seq range (seq_from/seq_to NULL) but
  the device's event id, its kind, when it happened and its validated body (no positions).
- one row per (device, device event id): an event sent again is not stored twice.

- km_explanations: a reason for a stretch of a car's odometer no trip covers (append-only:
  triggers refuse UPDATE and DELETE, as on trip revisions).

chain_events stays immutable: on SQLite the table must be rebuilt to change its CHECK, which drops
its triggers, so they are read before and created again, verbatim, after the rebuild.

Revision ID: 0022
Revises: 0025
Create Date: 2026-12-07 12:00:00

"""
from alembic import op
import sqlalchemy as sa
import runpy
from pathlib import Path


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0025'
branch_labels = None
depends_on = None

_immutable = runpy.run_path(str(Path(__file__).resolve().parents[1] / "immutable.py"))
_TRIGGERS = dict(function="ritbox_refuse_km_explanation_change", row_trigger_suffix="immutable")
KINDS_BEFORE = "kind IN ('chain_gap', 'chain_break')"
KINDS_AFTER = "kind IN ('chain_gap', 'chain_break', 'device_event')"


def _triggers() -> list[str]:
    rows = op.get_bind().exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'chain_events'").fetchall()
    return [row[0] for row in rows]


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    triggers = _triggers() if sqlite else []
    with op.batch_alter_table('chain_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_event_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('event_kind', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('event_body', sa.JSON(), nullable=True))
        batch_op.alter_column('seq_from', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('seq_to', existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint(batch_op.f('ck_chain_events_kind_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_chain_events_kind_known'), sa.text(KINDS_AFTER))
        batch_op.create_index('ix_chain_events_device_event', ['device_id', 'device_event_id'], unique=True)
    for sql in triggers:
        op.execute(sql)
    op.create_table(
        'km_explanations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vehicle_id', sa.Integer(), nullable=False),
        sa.Column('from_odometer_m', sa.Integer(), nullable=False),
        sa.Column('to_odometer_m', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('author_role', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("author_role IN ('driver', 'finance')", name=op.f('ck_km_explanations_author_role_known')),
        sa.CheckConstraint('to_odometer_m >= from_odometer_m', name=op.f('ck_km_explanations_stretch_forward')),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_km_explanations_author_id_users')),
        sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_km_explanations_vehicle_id_vehicles')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_km_explanations')),
    )
    with op.batch_alter_table('km_explanations', schema=None) as batch_op:
        batch_op.create_index('ix_km_explanations_stretch', ['vehicle_id', 'from_odometer_m', 'to_odometer_m'],
                              unique=False)
    _immutable["create_immutability_triggers"](("km_explanations",), message="km explanations are immutable",
                                               **_TRIGGERS)


def downgrade():
    _immutable["drop_immutability_triggers"](("km_explanations",), **_TRIGGERS)
    with op.batch_alter_table('km_explanations', schema=None) as batch_op:
        batch_op.drop_index('ix_km_explanations_stretch')
    op.drop_table('km_explanations')
    sqlite = op.get_bind().dialect.name == "sqlite"
    triggers = _triggers() if sqlite else []
    with op.batch_alter_table('chain_events', schema=None) as batch_op:
        batch_op.drop_index('ix_chain_events_device_event')
        batch_op.drop_constraint(batch_op.f('ck_chain_events_kind_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_chain_events_kind_known'), sa.text(KINDS_BEFORE))
        batch_op.alter_column('seq_to', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('seq_from', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('event_body')
        batch_op.drop_column('occurred_at')
        batch_op.drop_column('event_kind')
        batch_op.drop_column('device_event_id')
    for sql in triggers:
        op.execute(sql)
