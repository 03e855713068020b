"""vehicle retired_on: the last day a car belonged to the fleet (sold, lease ended)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 01:00:25

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: every existing car is still in the fleet.
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_on', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.drop_column('retired_on')
