"""Canonical JSON and the per-device hash chain of trip records, as docs/device-store.md says.

Written from that page alone (the backend never imports device code); tests check it against
the page's test vector.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(body: dict[str, Any]) -> str:
    """Sorted keys at every level, no whitespace, ASCII only, no NaN: one text per body."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def record_hash(prev_hash: str, canonical: str) -> str:
    """Lowercase hex SHA-256 of the ASCII bytes of prev_hash + canonical."""
    return hashlib.sha256((prev_hash + canonical).encode("ascii")).hexdigest()


UNHASHED = ("hash", "signature")  # members about the body, not in it


def body_of(record: dict[str, Any]) -> dict[str, Any]:
    """The hashed body: the record without its `hash` and `signature` members."""
    return {key: value for key, value in record.items() if key not in UNHASHED}


@dataclass
class Link:
    """What the chain check found for one record."""

    canonical: str
    hash: str
    flags: list[str] = field(default_factory=list)  # IngestFlag values
    events: list[tuple[str, int, int, str]] = field(default_factory=list)  # (kind, seq_from, seq_to, detail)


@dataclass
class ChainHead:
    seq: int = 0
    hash: str = GENESIS_HASH


def link_next(head: ChainHead, record: dict[str, Any]) -> Link:
    """Check a record that extends the chain (seq > head.seq) and move the head to it.

    A hole before it is a chain_gap (the missing seqs); a prev_hash that is not the head's hash,
    or a hash sent that is not the body's, is a chain_break. Either way the record is kept.
    """
    canonical = canonical_json(body_of(record))
    digest = record_hash(record["prev_hash"], canonical)
    link = Link(canonical, digest)
    seq = record["seq"]
    if record.get("hash") is not None and record["hash"] != digest:
        link.flags.append("hash_mismatch")
        link.flags.append("chain_break")
        link.events.append(("chain_break", seq, seq, "the hash sent does not match the record's body"))
    if seq > head.seq + 1:
        link.flags.append("chain_gap")
        link.events.append(("chain_gap", head.seq + 1, seq - 1,
                            f"records {head.seq + 1} to {seq - 1} never arrived"))
    elif record["prev_hash"] != head.hash:
        if "chain_break" not in link.flags:
            link.flags.append("chain_break")
        link.events.append(("chain_break", seq, seq,
                            f"prev_hash does not match the hash of record {head.seq}"))
    head.seq, head.hash = seq, digest
    return link


def link_late(record: dict[str, Any], before: str | None, after_prev: str | None,
              seq_taken: bool) -> Link:
    """Check a record at or below the head (it fills a recorded gap, or conflicts).

    `before`: stored hash of seq - 1 (None if that record is missing too); `after_prev`: stored
    prev_hash of seq + 1; `seq_taken`: another trip with this seq is stored already.
    """
    canonical = canonical_json(body_of(record))
    digest = record_hash(record["prev_hash"], canonical)
    link = Link(canonical, digest)
    seq = record["seq"]
    problems = []
    if record.get("hash") is not None and record["hash"] != digest:
        link.flags.append("hash_mismatch")
        problems.append("the hash sent does not match the record's body")
    if seq_taken:
        problems.append(f"another trip with seq {seq} is stored already")
    if before is not None and record["prev_hash"] != before:
        problems.append(f"prev_hash does not match the hash of record {seq - 1}")
    if seq == 1 and record["prev_hash"] != GENESIS_HASH:
        problems.append("the first record must have prev_hash 0...0")
    if after_prev is not None and after_prev != digest:
        problems.append(f"record {seq + 1} does not link to this record")
    if problems:
        link.flags.append("chain_break")
        link.events.append(("chain_break", seq, seq, "; ".join(problems)))
    return link
