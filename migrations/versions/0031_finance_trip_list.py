"""finance's trip list: an index on trips (started_at, id) for keyset paging of the whole fleet

Revision ID: 0031
Revises: 0029
Create Date: 2026-12-07 15:00:00

Finance's trip list (backend/finance/trip_list.py) shows the fleet's trips newest first, a page
at a time after the last (started_at, id) shown: without this index every page of a fleet of a
million trips sorted them all.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0031'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_trips_started_id', 'trips', ['started_at', 'id'])


def downgrade():
    op.drop_index('ix_trips_started_id', table_name='trips')
