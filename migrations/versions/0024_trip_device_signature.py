"""trips.device_signature: the device's own signature of each record's hash, kept with the record

A record's `signature` member (docs/device-store.md) is stored as sent, so that `flask --app
backend trips verify` and the inspector package can show that the stored body is what the device
signed. Added with a plain ADD COLUMN (no batch copy on SQLite: the trip guards' triggers stay);
the existing guards refuse any UPDATE of it like of every other trip column. An index on
(device_id, seq, record_hash) lets a checkpoint walk every chain without reading the trip rows.

Revision ID: 0024
Revises: 0026
Create Date: 2026-12-07 11:50:00

"""
import runpy
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0026'
branch_labels = None
depends_on = None


# 0019's SQLite rule for the one UPDATE a trip allows (a driver attributed, nothing else
# changed) names every column of trips: rebuilt after the column changes, or an attribution
# could change the kept signature with it.
_attribution = runpy.run_path(str(Path(__file__).resolve().with_name("0019_calibration_reason_trip_attribution.py")))


def upgrade():
    op.add_column('trips', sa.Column('device_signature', sa.String(length=88), nullable=True))
    # The checkpoints' walk of every chain (device, seq, record hash) from the index alone.
    op.create_index('ix_trips_device_seq_hash', 'trips', ['device_id', 'seq', 'record_hash'], unique=False)
    _attribution["trips_column_added"]()


def downgrade():
    op.drop_index('ix_trips_device_seq_hash', table_name='trips')
    _attribution["drop_trips_column"]("device_signature")
