"""the car's own odometer over OBD: trips.odometer_source and odometer_calibrations.source

Revision ID: 0025
Revises: 0027
Create Date: 2026-12-07 12:00:00

"""
import runpy
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0027'
branch_labels = None
depends_on = None

# 0019's SQLite rule for the one UPDATE a trip allows (a driver attributed, nothing else
# changed) names every column of trips: rebuilt after the column changes.
_attribution = runpy.run_path(str(Path(__file__).resolve().with_name("0019_calibration_reason_trip_attribution.py")))


def upgrade():
    # Plain ADD COLUMN (no batch copy): a table copy would drop the immutability triggers.
    op.add_column('trips', sa.Column('odometer_source', sa.String(length=8), server_default='gps', nullable=False))
    op.add_column('odometer_calibrations',
                  sa.Column('source', sa.String(length=16), server_default='dashboard', nullable=False))
    _attribution["trips_column_added"]()


def downgrade():
    op.drop_column('odometer_calibrations', 'source')
    _attribution["drop_trips_column"]("odometer_source")
