"""Canonical JSON and the hash chain of closed trip records.

The backend re-implements these few rules from docs/device-store.md; keep the two in step.
"""
from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from typing import Any

GENESIS_HASH = "0" * 64
POSITION_DECIMALS = 6  # ~0.1 m; more would only be receiver noise
KM_DECIMALS = 3  # 1 m


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, ASCII only, no NaN/Infinity: one text per value."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def chain_hash(prev_hash: str, canonical: str) -> str:
    """sha256 hex over the previous hash's 64 hex digits followed by the canonical JSON (ASCII)."""
    return hashlib.sha256((prev_hash + canonical).encode("ascii")).hexdigest()


def body_hash(body: dict[str, Any]) -> str:
    """The hash of a record body (its `hash` field, if present, is not hashed)."""
    unhashed = {k: v for k, v in body.items() if k != "hash"}
    return chain_hash(str(body["prev_hash"]), canonical_json(unhashed))


def iso_utc(dt: datetime) -> str:
    """UTC ISO 8601 with 'Z'; milliseconds only when non-zero (truncated, never rounded up)."""
    if dt.tzinfo is None:
        raise ValueError("trip times must be timezone-aware UTC")
    dt = dt.astimezone(timezone.utc)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    ms = dt.microsecond // 1000
    return f"{text}.{ms:03d}Z" if ms else f"{text}Z"


def parse_iso_utc(text: str) -> datetime:
    """Inverse of iso_utc."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _rounded(value: float, decimals: int) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("non-finite number in a trip record")
    return round(number, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0


def coord(value: float) -> float:
    """A latitude or longitude as stored: 6 decimals."""
    return _rounded(value, POSITION_DECIMALS)


def km(value: float) -> float:
    """A distance or odometer reading as stored: 3 decimals."""
    return _rounded(value, KM_DECIMALS)
