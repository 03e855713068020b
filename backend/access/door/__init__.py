"""THE door: every read of trip data passes here, told who asks (actor) and for which purpose.
This module is its one public API; callers import `backend.access.door` and nothing below it
(tests/backend/test_door_is_the_only_reader.py).

- decide.py: who may read which data categories of whose trips (AccessDenied, audited);
- query.py: the trip rows a decision allows;
- views.py: what a reader gets (TripView, TrackPoint, ChainEventView), every read and seal
  opening audited;
- envelopes.py: sealing and opening sealed-box envelopes (docs/sealed-box.md);
- character.py: a trip's effective character (business/private), which decides privacy;
- seals.py: sealing positions of trips classified private, and the driver's disclosure;
- reads/: every read any feature makes, one module per feature.
"""
from __future__ import annotations

from backend.access.door.decide import TRIP_REFUSED, AccessDenied, Period
from backend.access.door.envelopes import SealError
from backend.access.door.reads import *  # noqa: F403 - the reads' own __all__ is part of this API
from backend.access.door.reads import __all__ as _reads
from backend.access.door.seals import (SEAL_DISCLOSED, TRIP_SEALED, DisclosureRefused, disclose_for_tax,
                                       disclosed_for_tax, flush_log, seal_pending, seal_reclassified)
from backend.access.door.views import (DEVICE_EVENT, ChainEventView, Position, TrackPoint, TripView,
                                       open_position)

__all__ = [
    "AccessDenied", "TRIP_REFUSED", "Period", "SealError",
    "Position", "TripView", "TrackPoint", "ChainEventView", "DEVICE_EVENT", "open_position",
    "SEAL_DISCLOSED", "TRIP_SEALED", "DisclosureRefused", "disclose_for_tax", "disclosed_for_tax",
    "flush_log", "seal_pending", "seal_reclassified",
    *_reads,
]
