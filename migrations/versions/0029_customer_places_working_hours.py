"""places of kind 'customer' and the drivers' working hours, for classification proposals

A driver saves a known place (a customer) from a trip's address: trips ending there are proposed
business. The working days and hours a driver sets make trips inside them proposed business
(backend/trips/proposals.py). The places check constraint is rebuilt with the new kind (a batch
copy on SQLite; the places table has no triggers).

Revision ID: 0029
Revises: 0024
Create Date: 2026-12-07 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0029'
down_revision = '0024'
branch_labels = None
depends_on = None

_OLD_KINDS = "kind IN ('home', 'work', 'other')"
_NEW_KINDS = "kind IN ('home', 'work', 'other', 'customer')"


def upgrade():
    with op.batch_alter_table('places', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_places_kind_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_places_kind_known'), _NEW_KINDS)
    op.create_table('driver_working_hours',
    sa.Column('driver_id', sa.Integer(), nullable=False),
    sa.Column('weekdays', sa.String(length=7), nullable=False),
    sa.Column('start_minute', sa.Integer(), nullable=False),
    sa.Column('end_minute', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440',
                       name=op.f('ck_driver_working_hours_hours_in_a_day')),
    sa.CheckConstraint('length(weekdays) BETWEEN 1 AND 7', name=op.f('ck_driver_working_hours_weekdays_given')),
    sa.ForeignKeyConstraint(['driver_id'], ['users.id'], name=op.f('fk_driver_working_hours_driver_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('driver_id', name=op.f('pk_driver_working_hours'))
    )


def downgrade():
    op.drop_table('driver_working_hours')
    op.execute("DELETE FROM places WHERE kind = 'customer'")
    with op.batch_alter_table('places', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_places_kind_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_places_kind_known'), _OLD_KINDS)
