"""Device request signatures (docs/api.md, "Authentication").

The device signs, with its Ed25519 key, the string

    METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" lowercase hex SHA-256 of the body

where TIMESTAMP is the exact text of the X-Ritbox-Timestamp header (RFC 3339 or Unix seconds).
The backend holds only the public key, so nothing on the server can forge an upload.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEADER_DEVICE = "X-Ritbox-Device"
HEADER_TIMESTAMP = "X-Ritbox-Timestamp"
HEADER_SIGNATURE = "X-Ritbox-Signature"
ENROLL_PROOF_PREFIX = "ritbox-enroll-v1\n"
RECORD_SIGNATURE_PREFIX = "ritbox-record-v1\n"  # a record's own signature covers this + its hash

# ASCII digits only: \d would take any script's digits, and float() and fromisoformat() read some.
_UNIX = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,6})?$")
_RFC3339 = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$")


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    return f"{method.upper()}\n{path}\n{timestamp}\n{body_digest(body)}".encode("utf-8")


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 with a zone, or Unix seconds; None if neither, or if it is no time in years
    1 to 9999 in UTC. Never raises: it runs on unauthenticated input."""
    text = (text or "").strip()
    try:
        if _UNIX.fullmatch(text):
            return datetime.fromtimestamp(float(text), tz=timezone.utc)
        if _RFC3339.fullmatch(text):
            normal = re.sub(r"[Zz]$", "+00:00", text)
            # Python's fromisoformat takes at most 6 fractional digits.
            normal = re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", normal)
            return datetime.fromisoformat(normal).astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError):
        # Out of the calendar (year 33658 as Unix seconds, 9999-12-31 at -23:59 is past 9999 in UTC).
        return None
    return None


def record_message(record_hash: str) -> bytes:
    """What the device signs for each record (its `signature` member, docs/device-store.md)."""
    return (RECORD_SIGNATURE_PREFIX + record_hash).encode("ascii")


def verify(public_key_b64: str, message: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(signature, message)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
