"""Validation of request bodies, by hand: every refusal names the field path and the reason.

The trip record is the one of docs/device-store.md. Validation is strict (no unknown members,
exact types) because the record is hashed as sent: anything the backend would silently repair
would break the device's hash chain.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import datetime, timezone
from typing import Any

from backend.api.bounds import MAX_ODOMETER_KM, MAX_TRIP_KM, TimeBounds

RECORD_VERSION = 1
ENVELOPE_ALG = "X25519-HKDF-SHA256-ChaCha20Poly1305"
MAX_SEQ = 2**31 - 1  # fits an INTEGER column on every database
MAX_FLAGS = 32
MAX_GAPS = 10_000
MAX_TRACK_POINTS = 200_000
MAX_EVENTS = 1_000
MAX_PAUSE_S = 10_000_000.0

_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3})?Z$")
_FLAG = re.compile(r"^[a-z0-9_]{1,64}$")
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")  # ISO 3779: no I, O or Q

RECORD_MEMBERS = frozenset({
    "v", "trip_id", "seq", "prev_hash", "started_at", "ended_at", "mode", "start", "end",
    "start_sealed", "end_sealed", "distance_km", "odometer_start_km", "odometer_end_km", "flags",
    "gaps", "track"})
# odometer_source "obd": the odometer figures are the car's own (device/car.py); absent: GPS.
OPTIONAL_RECORD_MEMBERS = frozenset({"hash", "odometer_source", "signature"})
ODOMETER_SOURCES = ("obd",)
GAP_MEMBERS = frozenset({"started_at", "ended_at", "distance_km", "bridged"})
ENVELOPE_MEMBERS = frozenset({"v", "alg", "kid", "epk", "nonce", "ct"})


class SchemaError(ValueError):
    """A body that does not fit the schema: `field` is its path (e.g. trips[2].started_at)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _reject_constant(name: str) -> Any:
    raise SchemaError("$", f"{name} is not allowed in JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # Two parsers could keep different duplicates and so hash different bodies.
            raise SchemaError("$", f"member {key!r} appears twice in one object")
        result[key] = value
    return result


def parse_json(data: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate members."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SchemaError("$", "the body is not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise SchemaError("$", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise SchemaError("$", "nested too deeply") from None
    except ValueError:
        # An integer beyond Python's conversion limit (4300 digits) is a ValueError of its own.
        raise SchemaError("$", "not valid JSON: a number is too long") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)  # an int is finite (math.isfinite cannot take one beyond a float's range)


def _object(value: Any, path: str, members: frozenset[str], optional: frozenset[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise SchemaError(path, "expected an object")
    missing = sorted(members - value.keys())
    if missing:
        raise SchemaError(f"{path}.{missing[0]}", "required member is missing")
    unknown = sorted(value.keys() - members - optional)
    if unknown:
        raise SchemaError(f"{path}.{unknown[0]}", "unknown member")
    return value


def _time(value: Any, path: str, bounds: TimeBounds) -> datetime:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise SchemaError(path, "expected a UTC time YYYY-MM-DDTHH:MM:SS[.mmm]Z")
    try:
        when = datetime.fromisoformat(value[:-1]).replace(tzinfo=timezone.utc)
    except ValueError:
        raise SchemaError(path, "not a real date and time") from None
    if when < bounds.earliest:
        raise SchemaError(path, f"is before {bounds.earliest:%Y-%m-%dT%H:%M:%SZ}, the device's enrollment "
                          "minus the margin for trips recorded before it (docs/api.md, Bounds)")
    if when > bounds.latest:
        raise SchemaError(path, f"is in the future (after {bounds.latest:%Y-%m-%dT%H:%M:%SZ}, the server's "
                          "clock plus the allowed clock skew)")
    return when


def _km(value: Any, path: str, maximum: float = MAX_TRIP_KM) -> float:
    # Compared before float(): an integer of some hundred digits does not fit a float.
    if not _is_number(value) or not 0 <= value <= maximum:
        raise SchemaError(path, f"expected a number of km from 0 to {maximum:.0f}")
    return float(value)


def _position(value: Any, path: str, first: int = 0) -> None:
    """null or [lat, lon]; `first` is the index of lat in `path`'s list (1 in a track point)."""
    if value is None:
        return
    if not isinstance(value, list) or len(value) != 2:
        raise SchemaError(path, "expected null or [lat, lon]")
    lat, lon = value
    if not _is_number(lat) or not -90 <= lat <= 90:
        raise SchemaError(f"{path}[{first}]", "expected a latitude between -90 and 90")
    if not _is_number(lon) or not -180 <= lon <= 180:
        raise SchemaError(f"{path}[{first + 1}]", "expected a longitude between -180 and 180")


def _b64(value: Any, path: str, length: int | None = None, min_length: int = 0) -> None:
    if not isinstance(value, str):
        raise SchemaError(path, "expected base64 text")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SchemaError(path, "not valid base64") from None
    if length is not None and len(raw) != length:
        raise SchemaError(path, f"expected {length} bytes")
    if len(raw) < min_length:
        raise SchemaError(path, f"expected at least {min_length} bytes")


def _envelope(value: Any, path: str) -> None:
    if value is None:
        return
    _object(value, path, ENVELOPE_MEMBERS)
    if value["v"] != 1 or not _is_int(value["v"]):
        raise SchemaError(f"{path}.v", "expected 1")
    if value["alg"] != ENVELOPE_ALG:
        raise SchemaError(f"{path}.alg", f"expected {ENVELOPE_ALG!r}")
    if not isinstance(value["kid"], str) or not _HEX16.fullmatch(value["kid"]):
        raise SchemaError(f"{path}.kid", "expected 16 lowercase hex digits")
    _b64(value["epk"], f"{path}.epk", length=32)
    _b64(value["nonce"], f"{path}.nonce", length=12)
    _b64(value["ct"], f"{path}.ct", min_length=16)


def validate_record(record: Any, path: str, bounds: TimeBounds) -> dict[str, Any]:
    """Check one trip record (with optional `hash` and `signature` members); returns it unchanged. Its times
    must lie within `bounds` (backend.api.bounds)."""
    _object(record, path, RECORD_MEMBERS, optional=OPTIONAL_RECORD_MEMBERS)
    if not _is_int(record["v"]) or record["v"] != RECORD_VERSION:
        raise SchemaError(f"{path}.v", f"expected {RECORD_VERSION}")
    if not isinstance(record["trip_id"], str) or not _UUID4.fullmatch(record["trip_id"]):
        raise SchemaError(f"{path}.trip_id", "expected a lowercase UUID version 4")
    if not _is_int(record["seq"]) or not 1 <= record["seq"] <= MAX_SEQ:
        raise SchemaError(f"{path}.seq", f"expected a whole number from 1 to {MAX_SEQ}")
    if not isinstance(record["prev_hash"], str) or not _HEX64.fullmatch(record["prev_hash"]):
        raise SchemaError(f"{path}.prev_hash", "expected 64 lowercase hex digits")
    if "hash" in record and (not isinstance(record["hash"], str) or not _HEX64.fullmatch(record["hash"])):
        raise SchemaError(f"{path}.hash", "expected 64 lowercase hex digits")
    if "odometer_source" in record and record["odometer_source"] not in ODOMETER_SOURCES:
        raise SchemaError(f"{path}.odometer_source", "expected 'obd' (absent: the GPS odometer)")
    if "signature" in record:  # checked against the device's key by the upload view
        _b64(record["signature"], f"{path}.signature", length=64)
    started = _time(record["started_at"], f"{path}.started_at", bounds)
    ended = _time(record["ended_at"], f"{path}.ended_at", bounds)
    if ended < started:
        raise SchemaError(f"{path}.ended_at", "is before started_at")
    mode = record["mode"]
    if mode not in ("business", "private"):
        raise SchemaError(f"{path}.mode", "expected 'business' or 'private'")
    _position(record["start"], f"{path}.start")
    _position(record["end"], f"{path}.end")
    _envelope(record["start_sealed"], f"{path}.start_sealed")
    _envelope(record["end_sealed"], f"{path}.end_sealed")
    _km(record["distance_km"], f"{path}.distance_km")
    start_km = _km(record["odometer_start_km"], f"{path}.odometer_start_km", MAX_ODOMETER_KM)
    end_km = _km(record["odometer_end_km"], f"{path}.odometer_end_km", MAX_ODOMETER_KM)
    if end_km < start_km:
        raise SchemaError(f"{path}.odometer_end_km", "is below odometer_start_km")
    if end_km - start_km > MAX_TRIP_KM:
        raise SchemaError(f"{path}.odometer_end_km", f"is more than {MAX_TRIP_KM:.0f} km above odometer_start_km")
    flags = record["flags"]
    if not isinstance(flags, list) or len(flags) > MAX_FLAGS:
        raise SchemaError(f"{path}.flags", f"expected a list of at most {MAX_FLAGS} flags")
    for i, flag in enumerate(flags):
        if not isinstance(flag, str) or not _FLAG.fullmatch(flag):
            raise SchemaError(f"{path}.flags[{i}]", "expected a flag name (a-z, 0-9, _)")
    if len(set(flags)) != len(flags):
        raise SchemaError(f"{path}.flags", "contains a flag twice")
    gaps = record["gaps"]
    if not isinstance(gaps, list) or len(gaps) > MAX_GAPS:
        raise SchemaError(f"{path}.gaps", f"expected a list of at most {MAX_GAPS} gaps")
    for i, gap in enumerate(gaps):
        gap_path = f"{path}.gaps[{i}]"
        _object(gap, gap_path, GAP_MEMBERS)
        gap_started = _time(gap["started_at"], f"{gap_path}.started_at", bounds)
        if _time(gap["ended_at"], f"{gap_path}.ended_at", bounds) < gap_started:
            raise SchemaError(f"{gap_path}.ended_at", "is before started_at")
        _km(gap["distance_km"], f"{gap_path}.distance_km")
        if not isinstance(gap["bridged"], bool):
            raise SchemaError(f"{gap_path}.bridged", "expected true or false")
    track = record["track"]
    if not isinstance(track, list) or len(track) > MAX_TRACK_POINTS:
        raise SchemaError(f"{path}.track", f"expected a list of at most {MAX_TRACK_POINTS} points")
    for i, point in enumerate(track):
        point_path = f"{path}.track[{i}]"
        if not isinstance(point, list) or len(point) != 3:
            raise SchemaError(point_path, "expected [time, lat, lon]")
        _time(point[0], f"{point_path}[0]", bounds)
        _position(point[1:], point_path, first=1)
    if mode == "private":
        # The device never sends a plaintext private position; if one came, storing it would
        # break the promise to the driver, so the whole batch is refused.
        for member in ("start", "end"):
            if record[member] is not None:
                raise SchemaError(f"{path}.{member}", "must be null for a private trip (positions are sealed)")
        if track:
            raise SchemaError(f"{path}.track", "must be empty for a private trip")
    else:
        for member in ("start_sealed", "end_sealed"):
            if record[member] is not None:
                raise SchemaError(f"{path}.{member}", "must be null for a business trip")
    return record


EVENT_MEMBERS = frozenset({"id", "kind", "at", "body"})
# The members a device event's body may have (device/store.py writes no others, and never a
# position): checked one by one, so that nothing else is ever stored.
EVENT_BODY_TIMES = frozenset({"started_at", "ended_at"})


def validate_event(event: Any, path: str, bounds: TimeBounds) -> dict[str, Any]:
    """One device event `{"id", "kind", "at", "body"}` (docs/api.md); returns it unchanged."""
    _object(event, path, EVENT_MEMBERS)
    if not _is_int(event["id"]) or not 1 <= event["id"] <= MAX_SEQ:
        raise SchemaError(f"{path}.id", f"expected a whole number from 1 to {MAX_SEQ}")
    if not isinstance(event["kind"], str) or not _FLAG.fullmatch(event["kind"]):
        raise SchemaError(f"{path}.kind", "expected an event kind (a-z, 0-9, _)")
    if event["at"] is not None:
        _time(event["at"], f"{path}.at", bounds)
    body = event["body"]
    if not isinstance(body, dict):
        raise SchemaError(f"{path}.body", "expected an object")
    for member, value in body.items():
        member_path = f"{path}.body.{member}"
        if member in EVENT_BODY_TIMES:
            _time(value, member_path, bounds)
        elif member == "distance_km":
            _km(value, member_path)
        elif member in ("bridged", "trip_open"):
            if not isinstance(value, bool):
                raise SchemaError(member_path, "expected true or false")
        elif member in ("vin", "vin_was"):
            if not isinstance(value, str) or not _VIN.fullmatch(value):
                raise SchemaError(member_path, "expected a vehicle identification number (17 letters and digits)")
        elif member == "mode":
            if value not in ("business", "private"):
                raise SchemaError(member_path, "expected 'business' or 'private'")
        elif member == "pause_s":
            if not _is_number(value) or not 0 <= value <= MAX_PAUSE_S:
                raise SchemaError(member_path, f"expected a number of seconds from 0 to {MAX_PAUSE_S:.0f}")
        else:
            raise SchemaError(member_path, "unknown member")
    return event


def validate_events(events: Any, bounds: TimeBounds) -> list[dict[str, Any]]:
    """The optional `events` list of an upload: each id once."""
    if not isinstance(events, list) or len(events) > MAX_EVENTS:
        raise SchemaError("events", f"expected a list of at most {MAX_EVENTS} device events")
    seen: set[int] = set()
    for i, event in enumerate(events):
        validate_event(event, f"events[{i}]", bounds)
        if event["id"] in seen:
            raise SchemaError(f"events[{i}].id", "appears twice in one upload")
        seen.add(event["id"])
    return events


def validate_batch(body: Any, max_trips: int, bounds: TimeBounds) -> list[dict[str, Any]]:
    """`{"trips": [record, ...]}` with 1 to max_trips records, their times within `bounds`, and
    optionally `"events": [...]` (validate_events). Raises SchemaError, or BatchTooLarge for too
    many records."""
    _object(body, "$", frozenset({"trips"}), optional=frozenset({"events"}))
    trips = body["trips"]
    if not isinstance(trips, list):
        raise SchemaError("trips", "expected a list of trip records")
    if not trips:
        raise SchemaError("trips", "expected at least one trip record")
    if len(trips) > max_trips:
        raise BatchTooLarge(len(trips), max_trips)
    return [validate_record(record, f"trips[{i}]", bounds) for i, record in enumerate(trips)]


class BatchTooLarge(Exception):
    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} trips in one upload; at most {limit} are accepted")


def validate_enroll(body: Any) -> dict[str, str]:
    _object(body, "$", frozenset({"token", "public_key", "proof"}))
    for member in ("token", "public_key", "proof"):
        if not isinstance(body[member], str) or not body[member] or len(body[member]) > 200:
            raise SchemaError(member, "expected non-empty text")
    _b64(body["public_key"], "public_key", length=32)
    _b64(body["proof"], "proof", length=64)
    return body
