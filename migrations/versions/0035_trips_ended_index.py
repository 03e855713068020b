"""index on trips (ended_at, id): the classify reminders' query over the fleet

Revision ID: 0035
Revises: 0028
Create Date: 2026-12-07 18:10:00

The reminder job (backend.home.reminders via home_reads.open_to_classify) asks for every trip of
the fleet that ended within the correction window, ordered by (ended_at, id): without an index
on ended_at that is a sequential scan of the whole trips table at every run (benchmarks/scale.py
--explain shows the plan).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0035'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_trips_ended_id', 'trips', ['ended_at', 'id'])


def downgrade():
    op.drop_index('ix_trips_ended_id', table_name='trips')
