"""The closed trip record: its body, its version and its gaps, as specified in docs/device-store.md.

The store chains and keeps these bodies (device.store), device.chain makes them canonical and
hashes them; what a body holds, member by member, is decided here and nowhere else.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from device import chain
from device.model import Gap, TripMode, TripRecord

RECORD_VERSION = 1

# Flags the store adds to a record (the trip detector adds its own).
FLAG_POWER_LOSS = "power_loss"
FLAG_NO_KEY = "positions_dropped_no_key"
FLAG_STORE_FULL = "track_dropped_store_full"

#: position -> (sealed envelope or None, dropped for lack of a key): how a private trip's ends are sealed.
Sealer = Callable[[tuple[float, float] | None], tuple[dict[str, Any] | None, bool]]


def gap_json(gap: Gap) -> dict[str, Any]:
    """A gap as a record (and an event, and `replay --json`) writes it."""
    return {
        "started_at": chain.iso_utc(gap.started_at),
        "ended_at": chain.iso_utc(gap.ended_at),
        "distance_km": chain.km(gap.distance_km),
        "bridged": bool(gap.bridged),
    }


def gap_from_json(data: Mapping[str, Any]) -> Gap:
    return Gap(
        started_at=chain.parse_iso_utc(data["started_at"]),
        ended_at=chain.parse_iso_utc(data["ended_at"]),
        distance_km=float(data["distance_km"]),
        bridged=bool(data["bridged"]),
    )


def position(value: Any) -> tuple[float, float] | None:
    """(lat, lon) as floats, or None for none or a non-finite one."""
    if value is None:
        return None
    lat, lon = value
    lat, lon = float(lat), float(lon)
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    return (lat, lon)


def position_plaintext(value: tuple[float, float]) -> bytes:
    """What a private position's sealed envelope holds: the canonical JSON array [lat, lon]."""
    return chain.canonical_json([chain.coord(value[0]), chain.coord(value[1])]).encode("ascii")


def body(
    record: TripRecord,
    *,
    seq: int,
    trip_id: str,
    prev_hash: str,
    start_sealed: dict[str, Any] | None = None,
    end_sealed: dict[str, Any] | None = None,
    seal: Sealer | None = None,
    store_full: bool = False,
) -> dict[str, Any]:
    """The record body of a closed trip (not yet canonical, without its hash).

    A private trip keeps no plaintext position: its ends are `start_sealed`/`end_sealed` when
    given, else sealed now by `seal`; without `seal` (positions not recorded) it has none. A
    business trip keeps its positions and its track, unless `store_full` (the track is dropped,
    flagged). ValueError/TypeError for a record that cannot be written (a non-finite number).
    """
    mode = TripMode(record.mode)
    flags = set(record.flags)
    start = end = None
    track: list[list[Any]] = []
    start_pos, end_pos = position(record.start), position(record.end)
    if mode is TripMode.PRIVATE:
        if seal is not None:
            if start_sealed is None:
                start_sealed, dropped_start = seal(start_pos)
                flags.update([FLAG_NO_KEY] if dropped_start else [])
            if end_sealed is None:
                end_sealed, dropped_end = seal(end_pos)
                flags.update([FLAG_NO_KEY] if dropped_end else [])
        else:
            start_sealed = end_sealed = None
    else:
        start_sealed = end_sealed = None
        start = [chain.coord(start_pos[0]), chain.coord(start_pos[1])] if start_pos else None
        end = [chain.coord(end_pos[0]), chain.coord(end_pos[1])] if end_pos else None
        points = [p for p in record.track if position((p.lat, p.lon)) is not None]
        if points and store_full:
            flags.add(FLAG_STORE_FULL)
        else:
            track = [[chain.iso_utc(p.time), chain.coord(p.lat), chain.coord(p.lon)] for p in points]
    data = {
        "v": RECORD_VERSION,
        "trip_id": trip_id,
        "seq": seq,
        "prev_hash": prev_hash,
        "started_at": chain.iso_utc(record.started_at),
        "ended_at": chain.iso_utc(record.ended_at),
        "mode": mode.value,
        "start": start,
        "end": end,
        "start_sealed": start_sealed,
        "end_sealed": end_sealed,
        "distance_km": chain.km(record.distance_km),
        "odometer_start_km": chain.km(record.odometer_start_km),
        "odometer_end_km": chain.km(record.odometer_end_km),
        "flags": sorted(flags),
        "gaps": [gap_json(g) for g in record.gaps],
        "track": track,
    }
    if record.odometer_source == "obd":  # only then: a GPS-only record is hashed as before
        data["odometer_source"] = "obd"
    return data
