"""The device's durable store (see device.store.facade); the names its callers use."""
from device.record import FLAG_NO_KEY, FLAG_POWER_LOSS, FLAG_STORE_FULL, RECORD_VERSION
from device.store.facade import CHECKPOINT_PAGES, Store
from device.store.journal import EVENT_CLOSED_STANDING, FLUSH_INTERVAL_S, OpenTrip
from device.store.outbox import DEFAULT_MAX_PENDING, META_EVENTS_SENT, StoredTrip
from device.store.schema import CHUNK_POINT, SCHEMA_VERSION, StoreError

__all__ = [
    "CHECKPOINT_PAGES", "CHUNK_POINT", "DEFAULT_MAX_PENDING", "EVENT_CLOSED_STANDING", "FLAG_NO_KEY",
    "FLAG_POWER_LOSS", "FLAG_STORE_FULL", "FLUSH_INTERVAL_S", "META_EVENTS_SENT", "RECORD_VERSION",
    "SCHEMA_VERSION", "OpenTrip", "Store", "StoreError", "StoredTrip",
]
