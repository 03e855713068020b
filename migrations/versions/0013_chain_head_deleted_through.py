"""chain head: the seq up to which retention deleted a device's records, so a re-sent one stays deleted

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 02:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('device_chain_heads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_through_seq', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('device_chain_heads', schema=None) as batch_op:
        batch_op.drop_column('deleted_through_seq')
