"""vans and verklaringen: each vehicle's kind and regime per period (history), the drivers'
verklaringen geen privégebruik / uitsluitend zakelijk gebruik

Both tables are history: the app role may only add regime rows and may change a verklaring only
by withdrawing it (backend/db_roles.py).

Revision ID: 0026
Revises: 0022
Create Date: 2026-12-07 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'vehicle_regimes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vehicle_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('regime', sa.String(length=24), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('working_hours', sa.String(length=11), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(kind = 'car' AND regime = 'car') OR (kind = 'van' AND regime IN "
                           "('van_full', 'van_simplified', 'van_business_only'))",
                           name=op.f('ck_vehicle_regimes_regime_fits_kind')),
        sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_vehicle_regimes_vehicle_id_vehicles')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_vehicle_regimes_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicle_regimes')),
    )
    op.create_index('ix_vehicle_regimes_vehicle_from', 'vehicle_regimes', ['vehicle_id', 'valid_from'], unique=False)
    op.create_table(
        'verklaringen',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('driver_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('number', sa.String(length=40), nullable=False),
        sa.Column('issued_on', sa.Date(), nullable=False),
        sa.Column('withdrawn_on', sa.Date(), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_by_id', sa.Integer(), nullable=True),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('no_private_use_car', 'business_only_van')", name=op.f('ck_verklaringen_kind_known')),
        sa.CheckConstraint('withdrawn_on IS NULL OR withdrawn_on >= issued_on',
                           name=op.f('ck_verklaringen_withdrawn_after_issue')),
        sa.ForeignKeyConstraint(['driver_id'], ['users.id'], name=op.f('fk_verklaringen_driver_id_users')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_verklaringen_recorded_by_id_users')),
        sa.ForeignKeyConstraint(['withdrawn_by_id'], ['users.id'], name=op.f('fk_verklaringen_withdrawn_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verklaringen')),
    )
    op.create_index(op.f('ix_verklaringen_driver_id'), 'verklaringen', ['driver_id'], unique=False)
    _create_withdrawal_guard()
    op.create_table(
        'tax_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('driver_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('business_only_private', 'warning_projected', 'warning_driven')",
                           name=op.f('ck_tax_notices_kind_known')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tax_notices_user_id_users')),
        sa.ForeignKeyConstraint(['driver_id'], ['users.id'], name=op.f('fk_tax_notices_driver_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tax_notices')),
        sa.UniqueConstraint('user_id', 'kind', 'reference', name='uq_tax_notices_user_kind_reference'),
    )
    op.create_index(op.f('ix_tax_notices_user_id'), 'tax_notices', ['user_id'], unique=False)
    op.create_table(
        'van_days',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vehicle_id', sa.Integer(), nullable=False),
        sa.Column('driver_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('working_hours', sa.String(length=11), nullable=True),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_van_days_vehicle_id_vehicles')),
        sa.ForeignKeyConstraint(['driver_id'], ['users.id'], name=op.f('fk_van_days_driver_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_van_days')),
        sa.UniqueConstraint('vehicle_id', 'day', name='uq_van_days_vehicle_day'),
    )
    op.create_index(op.f('ix_van_days_driver_id'), 'van_days', ['driver_id'], unique=False)
    # Tax notices are e-mailed too (backend/fleet/tax_notices.py).
    _mail_kinds(("access_notice", "odometer_reminder", "checkpoint", "tax_notice"))


def _mail_kinds(kinds):
    with op.batch_alter_table('outgoing_mail', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_outgoing_mail_kind_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_outgoing_mail_kind_known'),
                                         sa.text("kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"))


# A verklaring changes once: its withdrawal fills the withdrawn_* columns of a standing one and
# changes nothing else. History rows are never deleted (the app role holds no DELETE either).
_PG_GUARD = """
CREATE FUNCTION ritbox_verklaringen_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.withdrawn_on IS NULL AND NEW.withdrawn_on IS NOT NULL
       AND to_jsonb(NEW) - 'withdrawn_on' - 'withdrawn_by_id' - 'withdrawn_at'
         = to_jsonb(OLD) - 'withdrawn_on' - 'withdrawn_by_id' - 'withdrawn_at' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a verklaring changes only by its withdrawal, once';
END $$;
CREATE TRIGGER verklaringen_guard BEFORE UPDATE OR DELETE ON verklaringen
    FOR EACH ROW EXECUTE FUNCTION ritbox_verklaringen_guard();
"""
_SQLITE_GUARD = ["""
CREATE TRIGGER verklaringen_guard_update BEFORE UPDATE ON verklaringen
WHEN NOT (OLD.withdrawn_on IS NULL AND NEW.withdrawn_on IS NOT NULL
          AND NEW.id = OLD.id AND NEW.driver_id = OLD.driver_id AND NEW.kind = OLD.kind
          AND NEW.number = OLD.number AND NEW.issued_on = OLD.issued_on
          AND NEW.recorded_by_id IS OLD.recorded_by_id AND NEW.recorded_at = OLD.recorded_at)
BEGIN SELECT RAISE(ABORT, 'a verklaring changes only by its withdrawal, once'); END
""", """
CREATE TRIGGER verklaringen_guard_delete BEFORE DELETE ON verklaringen
BEGIN SELECT RAISE(ABORT, 'a verklaring changes only by its withdrawal, once'); END
"""]


def _create_withdrawal_guard():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_GUARD)
    else:
        for statement in _SQLITE_GUARD:
            op.execute(statement)


def downgrade():
    op.execute("DELETE FROM outgoing_mail WHERE kind = 'tax_notice'")
    _mail_kinds(("access_notice", "odometer_reminder", "checkpoint"))
    op.drop_index(op.f('ix_van_days_driver_id'), table_name='van_days')
    op.drop_table('van_days')
    op.drop_index(op.f('ix_tax_notices_user_id'), table_name='tax_notices')
    op.drop_table('tax_notices')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER verklaringen_guard ON verklaringen")
        op.execute("DROP FUNCTION ritbox_verklaringen_guard()")
    op.drop_index(op.f('ix_verklaringen_driver_id'), table_name='verklaringen')
    op.drop_table('verklaringen')
    op.drop_index('ix_vehicle_regimes_vehicle_from', table_name='vehicle_regimes')
    op.drop_table('vehicle_regimes')
