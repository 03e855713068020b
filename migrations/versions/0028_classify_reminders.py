"""reminders to classify trips before they lock, and the finance digest: the record of what was
reminded (one row per driver and lock day) and two more kinds of outgoing mail

Revision ID: 0028
Revises: 0031
Create Date: 2026-12-07 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0031'
branch_labels = None
depends_on = None

KINDS_BEFORE = ("access_notice", "odometer_reminder", "checkpoint", "tax_notice")
KINDS_AFTER = KINDS_BEFORE + ("classify_reminder", "finance_digest")


def upgrade():
    op.create_table(
        'classify_reminders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('driver_id', sa.Integer(), nullable=False),
        sa.Column('lock_day', sa.Date(), nullable=False),
        sa.Column('trips', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['driver_id'], ['users.id'], name=op.f('fk_classify_reminders_driver_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_classify_reminders')),
        sa.UniqueConstraint('driver_id', 'lock_day', name='uq_classify_reminders_driver_lock_day'),
    )
    _mail_kinds(KINDS_AFTER)


def _mail_kinds(kinds):
    with op.batch_alter_table('outgoing_mail', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_outgoing_mail_kind_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_outgoing_mail_kind_known'),
                                         sa.text("kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"))


def downgrade():
    op.execute("DELETE FROM outgoing_mail WHERE kind IN ('classify_reminder', 'finance_digest')")
    _mail_kinds(KINDS_BEFORE)
    op.drop_table('classify_reminders')
