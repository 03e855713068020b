"""the counted batches of a fleet export: a batch task the queue runs again after its worker died
counts once

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 18:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'report_export_batches',
        sa.Column('export_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['export_id'], ['report_exports.id'],
                                name=op.f('fk_report_export_batches_export_id_report_exports'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('export_id', 'number', name=op.f('pk_report_export_batches')),
    )


def downgrade():
    op.drop_table('report_export_batches')
