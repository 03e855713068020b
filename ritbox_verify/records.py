"""The device's word, checked: record hashes, record signatures and the hash chain.

Pure Python and `cryptography` only (no Flask, no SQLAlchemy, no database): the offline verifier
and the backend's `trips verify` use the same rules, those of docs/device-store.md.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_HASH = "0" * 64
RECORD_SIGNATURE_PREFIX = "ritbox-record-v1\n"


@dataclass(frozen=True)
class Problem:
    """One thing that does not hold, named in English and Dutch."""

    where: str
    en: str
    nl: str

    def __str__(self) -> str:
        return f"{self.where}: {self.en}"


@dataclass
class Record:
    """One trip record as kept: body None when it is withheld (only hash and signature shown)."""

    seq: int
    trip_id: str
    prev_hash: str
    hash: str
    signature: str | None
    body: str | None
    label: str  # how a problem names it, e.g. "trip 17 (seq 5)"
    parsed: dict[str, Any] | None = None  # the body parsed already by the caller (saves a second parse)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, ASCII only: the text the device hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def record_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode("ascii")).hexdigest()


def record_message(hash_: str) -> bytes:
    return (RECORD_SIGNATURE_PREFIX + hash_).encode("ascii")


def load_public_key(public_key_b64: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise ValueError("not a base64 Ed25519 public key") from None


def signature_holds(key: Ed25519PublicKey, message: bytes, signature_b64: str | None) -> bool:
    if not signature_b64:
        return False
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError, binascii.Error, TypeError):
        return False
    return True


def _covered(first: int, last: int, declared: list[tuple[int, int]]) -> bool:
    """Every seq from first to last lies in one of the declared (from, to) ranges."""
    seq = first
    for low, high in sorted(declared):
        if low <= seq <= high:
            seq = high + 1
        if seq > last:
            return True
    return seq > last


def check_record(record: Record, key: Ed25519PublicKey | None) -> Iterator[Problem]:
    """The record alone: its body hashes to its hash, and the device signed that hash."""
    if record.body is not None:
        if record_hash(record.prev_hash, record.body) != record.hash:
            yield Problem(record.label, "the body is not what the device hashed",
                          "de inhoud is niet wat het kastje hashte")
            return
        body = record.parsed
        if body is None:
            try:
                body = json.loads(record.body)
            except ValueError:
                body = None
        if not isinstance(body, dict) or body.get("seq") != record.seq or body.get("trip_id") != record.trip_id \
                or body.get("prev_hash") != record.prev_hash:
            yield Problem(record.label, "seq, trip id or prev_hash differ from the signed body",
                          "volgnummer, rit-id of prev_hash wijken af van de ondertekende inhoud")
            return
    if record.signature is None:
        yield Problem(record.label, "the device's signature is missing", "de handtekening van het kastje ontbreekt")
    elif key is None or not signature_holds(key, record_message(record.hash), record.signature):
        yield Problem(record.label, "the device's signature does not hold",
                      "de handtekening van het kastje klopt niet")


def check_chain(records: Iterable[Record], key: Ed25519PublicKey | None, *, declared: list[tuple[int, int]] = (),
                deleted_through: int = 0, from_start: bool = True) -> Iterator[Problem]:
    """Records of one device in seq order: each checked alone, and each linked to the one before.

    `declared`: seq ranges of declared gaps and breaks (chain events); `deleted_through`: the seq
    through which retention deleted; `from_start`: the chain must begin at seq 1 (or right after
    the deleted ones). A seq missing without a declaration, or a link that does not hold, is named."""
    declared = list(declared)
    previous: Record | None = None
    for record in records:
        yield from check_record(record, key)
        expected = previous.seq + 1 if previous is not None else (deleted_through + 1 if from_start else record.seq)
        if previous is not None and record.seq <= previous.seq:
            yield Problem(record.label, f"seq {record.seq} appears twice", f"volgnummer {record.seq} komt twee keer voor")
        elif record.seq > expected:
            first = max(expected, deleted_through + 1)
            if first < record.seq and not _covered(first, record.seq - 1, declared):
                missing = f"{first}" if first == record.seq - 1 else f"{first} to {record.seq - 1}"
                yield Problem(record.label, f"the trips before it (seq {missing}) are missing and no gap is declared",
                              f"de ritten ervoor (volgnummer {missing.replace('to', 't/m')}) ontbreken en er is "
                              "geen gat gemeld")
        elif previous is not None and record.prev_hash != previous.hash \
                and not _covered(record.seq, record.seq, declared):
            yield Problem(record.label, f"does not link to the trip before it ({previous.label})",
                          f"sluit niet aan op de rit ervoor ({previous.label})")
        elif previous is None and record.seq == 1 and record.prev_hash != GENESIS_HASH \
                and not _covered(1, 1, declared):
            yield Problem(record.label, "the first record does not start the chain",
                          "het eerste record begint de keten niet")
        previous = record
