"""index on trip_tracks.at of each track's first point: retention's search for due tracks

Revision ID: 0038
Revises: 0036
Create Date: 2026-12-07 22:00:00

Retention (backend.access.retention.due_vehicles) asks which cars hold tracks of trips that ended
before the cutoff. Without an index that is a walk of every track point still held (the tracks'
whole retention period, fleet-wide) every day; with this partial index (one entry a trip, its
first point) it reads the entries that are due, and nothing on a day with nothing due.
And chain_events (trip_id): retention deletes and counts a trip's chain events, a sequential
scan of the fleet's events per trip chunk without it.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0038'
down_revision = '0036'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_trip_tracks_first_at', 'trip_tracks', ['at'], unique=False,
                    sqlite_where=sa.text('idx = 0'), postgresql_where=sa.text('idx = 0'))
    op.create_index('ix_chain_events_trip', 'chain_events', ['trip_id'], unique=False)


def downgrade():
    op.drop_index('ix_chain_events_trip', table_name='chain_events')
    op.drop_index('ix_trip_tracks_first_at', table_name='trip_tracks')
