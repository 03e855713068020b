"""indexes for national scale: a vehicle's chain events and closings without scanning the fleet's

Revision ID: 0027
Revises: 0020
Create Date: 2026-12-07 12:00:00

The report reads a vehicle's chain events (a sequential scan of every car's events before) and
the driver's pages read the closings of one car's months (an index on the month alone returned
every car's closing of those months). benchmarks/scale.py shows the plans (--explain).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_chain_events_vehicle_detected', 'chain_events', ['vehicle_id', 'detected_at'])
    op.create_index('ix_period_closings_vehicle_month', 'period_closings', ['vehicle_id', 'month'])


def downgrade():
    op.drop_index('ix_period_closings_vehicle_month', table_name='period_closings')
    op.drop_index('ix_chain_events_vehicle_detected', table_name='chain_events')
