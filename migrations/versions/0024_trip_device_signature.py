"""trips.device_signature: the device's own signature of each record's hash, kept with the record

A record's `signature` member (docs/device-store.md) is stored as sent, so that `flask --app
backend trips verify` and the inspector package can show that the stored body is what the device
signed. Added with a plain ADD COLUMN (no batch copy on SQLite: the trip guards' triggers stay);
the existing guards refuse any UPDATE of it like of every other trip column. An index on
(device_id, seq, record_hash) lets a checkpoint walk every chain without reading the trip rows.

Revision ID: 0024
Revises: 0020
Create Date: 2026-12-07 11:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('trips', sa.Column('device_signature', sa.String(length=88), nullable=True))
    # The checkpoints' walk of every chain (device, seq, record hash) from the index alone.
    op.create_index('ix_trips_device_seq_hash', 'trips', ['device_id', 'seq', 'record_hash'], unique=False)


def downgrade():
    op.drop_index('ix_trips_device_seq_hash', table_name='trips')
    # Plain DROP COLUMN on both databases (SQLite >= 3.35): a batch copy would lose the triggers.
    op.execute("ALTER TABLE trips DROP COLUMN device_signature")
