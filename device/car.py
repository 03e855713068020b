"""The car's own odometer (OBD) put into trip records: which reading is a trip's start and end.

device.obd_source polls the car on its own thread and keeps the latest CarState; the pipeline
shows each new state here once per chunk, stamped with the GPS time of the latest fix (the only
clock the device trusts). A trip then takes:

- as its start, the car's last reading at or before the trip's (back-dated) start: the car was
  parked then, so the odometer stood still;
- as its end, the first reading at or after the trip's end (the car stands), else one at most
  END_READING_MAX_AGE_S older (a split at the privacy switch), else none;
- both only when the adapter answered the odometer throughout: a trip during which the adapter
  was lost, reset, or never read keeps the GPS odometer (`odometer_source` "gps") - never a mix.

The GPS distance stays in `distance_km`; when the car's km and the GPS km differ by more than
the bound below, the trip is flagged ODOMETER_DISAGREES (the reports say so in Dutch).
"""
from __future__ import annotations

from collections import deque
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from device.model import TripRecord

FLAG_ODOMETER_DISAGREES = "odometer_gps_disagree"
ODOMETER_SOURCE_OBD = "obd"
# Car km and GPS km of one trip may differ this much before it is a flag: GPS cuts corners and
# loses tunnels (a few %), a dashboard shows whole km.
DISAGREE_MIN_KM = 1.0
DISAGREE_RATIO = 0.10
# A trip closed at its last fix (privacy switch) may take a reading this much older.
END_READING_MAX_AGE_S = 5.0
# Readings kept (one a poll): enough to reach back over a back-dated trip start (parked_buffer_s).
MAX_SAMPLES = 4000

_BEFORE_ANY_FIX = datetime(1, 1, 1, tzinfo=timezone.utc)


def disagrees(car_km: float, gps_km: float) -> bool:
    return abs(car_km - gps_km) > max(DISAGREE_MIN_KM, DISAGREE_RATIO * max(car_km, gps_km))


class CarOdometer:
    """Readings of the car's odometer on the GPS timeline, and the trips' figures from them."""

    def __init__(self) -> None:
        self._samples: deque[tuple[datetime, float]] = deque(maxlen=MAX_SAMPLES)
        self._seen_at: float | None = None  # the CarState.odometer_at of the last sample
        self._connected = False
        self._trip_start: float | None = None  # the car's reading at the open trip's start
        self._trip_whole = False  # the adapter answered throughout the open trip

    def observe(self, state: Any, at: datetime | None) -> None:
        """A CarState (device.obd_source) seen at GPS time `at` (None: before the first fix)."""
        if not state.connected:
            self.lost()
            return
        self._connected = True
        if state.odometer_km is not None and state.odometer_at != self._seen_at:
            self._seen_at = state.odometer_at
            self._samples.append((at or _BEFORE_ANY_FIX, float(state.odometer_km)))

    def lost(self) -> None:
        """The adapter is gone (unplugged, silent, reset): the open trip cannot have the car's end."""
        self._connected = False
        self._trip_whole = False
        self._samples.clear()
        self._seen_at = None

    def trip_opened(self, started_at: datetime) -> None:
        before = [km for t, km in self._samples if t <= started_at]
        self._trip_start = before[-1] if before else None
        self._trip_whole = self._connected and self._trip_start is not None

    def trip_closed(self, record: TripRecord) -> TripRecord:
        """The record with the car's odometer when the car gave it for the whole trip, else as is."""
        start, whole = self._trip_start, self._trip_whole
        self._trip_start, self._trip_whole = None, False
        if start is None or not whole or not self._connected or not self._samples:
            return record
        after = [km for t, km in self._samples if t >= record.ended_at]
        last_at, last_km = self._samples[-1]
        if after:
            end = after[0]
        elif (record.ended_at - last_at).total_seconds() <= END_READING_MAX_AGE_S:
            end = last_km  # a split at the privacy switch: the reading just before it
        else:
            return record  # no reading since the car stopped: a silent adapter, never a stale figure
        if end < start:
            return record  # cannot be (the source filters backwards readings); never a wrong figure
        flags = list(record.flags)
        if disagrees(end - start, record.distance_km) and FLAG_ODOMETER_DISAGREES not in flags:
            flags = sorted([*flags, FLAG_ODOMETER_DISAGREES])
        return replace(record, odometer_start_km=start, odometer_end_km=end, flags=flags,
                       odometer_source=ODOMETER_SOURCE_OBD)
