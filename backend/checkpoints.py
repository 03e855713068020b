"""Signed checkpoints: the audit log's and the device chains' state, signed with a key that is
never in the database, and kept outside it (docs/access.md, "Signed checkpoints").

Someone who can write the database can rewrite the audit log and recompute every hash, cut off
its end and move the head back, or delete a trip with its chain event; the log then still
verifies. A checkpoint taken earlier cannot be rewritten with it: `flask --app backend audit
verify --checkpoint FILE` proves that today's log and chains extend it and names the first event,
trip or row that does not.

A checkpoint (JSON, canonical: sorted keys, no spaces, UTF-8) holds
- audit: the last seq and its hash, the full hash of every 256th event, and the first two bytes
  of every event's hash (base64, in seq order), so that a rewrite is named to the event;
- devices: per device the stored trips' seq ranges, last seq and record hash, two bytes of each
  trip's record hash, and the seq through which retention had deleted;
- rows: a digest per row of what the verdict depends on (assignments, grants' scope, calibrations,
  period closings, agreement versions).
A tax report's checkpoint pins only the report's cars (their device chains and guarded rows,
with "scope": {"vehicles": [...]}) and the audit log's last seq and hash, so that its cost grows
with those cars and not with the database; it is stored as scoped-checkpoint-*.json.
It is signed with Ed25519; the signed file carries the public key and its id. The key pair lives in
checkpoint_signing_key.pem in the instance folder (mode 0600), like the sealing keys.

Checkpoints are written to checkpoints/ in the instance folder: daily (the "checkpoint" job),
at every tax report and export (embedded in the XML report and the fleet zip), on download by an
OR delegate or privacy officer, and by `flask --app backend audit checkpoint --out FILE`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import accumulate
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app
from sqlalchemy import select, text

from backend.db import db, utcnow
from backend.models.audit import AuditChainHead, AuditEvent

FORMAT = "ritbox-checkpoint-v1"
ANCHOR_EVERY = 256
PREFIX_BYTES = 2
HASH_DIGITS = 64  # a record or event hash: sha256 in hex
KEY_FILE = "checkpoint_signing_key.pem"
DIRECTORY = "checkpoints"

# table -> the columns whose values are pinned (grants: the scope only; revocation and expiry
# marking are changes the app makes).
GUARDED_ROWS: dict[str, tuple[str, ...]] = {
    "assignments": ("id", "driver_id", "vehicle_id", "available_from", "available_until"),
    "access_grants": ("id", "request_id", "agreement_version_id", "purpose", "holder_id", "subject_user_id",
                      "subject_vehicle_id", "period_start", "period_end", "categories", "issued_at", "expires_at"),
    "odometer_calibrations": ("id", "vehicle_id", "previous_id", "read_at", "dashboard_m", "gps_odometer_m",
                              "correction_m"),
    "period_closings": ("id", "month", "vehicle_id", "closed_at"),
    "agreement_versions": ("id", "label", "sha256", "consent_date", "consent_recorded_at"),
}


class CheckpointError(Exception):
    """A checkpoint file that cannot be read or whose signature does not hold."""


# --- the key -----------------------------------------------------------------------------

def key_path() -> Path:
    return Path(current_app.instance_path) / KEY_FILE


def signing_key() -> Ed25519PrivateKey:
    """The instance's signing key, created on first use (never in the database)."""
    from backend.sealing_keys import _write_new  # the same atomic, 0600, first-writer-wins write

    path = key_path()
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        _write_new(path, pem, replace=False)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path}: not an Ed25519 key")
    return key


def _public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- taking a checkpoint -----------------------------------------------------------------

def _prefix(hex_hash: str) -> bytes:
    return bytes.fromhex(hex_hash[:PREFIX_BYTES * 2])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ranges(seqs: list[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for seq in seqs:
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return ranges


def _expand(ranges: Iterable[list[int]]) -> list[int]:
    return [seq for first, last in ranges for seq in range(first, last + 1)]


def _row_digest(values: Iterable[Any]) -> str:
    text_ = "\x1f".join("" if v is None else str(v) for v in values)
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()[:32]


# How each guarded table's rows belong to vehicles, for a checkpoint of some cars only (None:
# the table is small and taken whole, e.g. agreement versions).
_ROWS_OF_VEHICLES: dict[str, str | None] = {
    "assignments": "vehicle_id IN :vehicles",
    "access_grants": "subject_vehicle_id IN :vehicles",
    "odometer_calibrations": "vehicle_id IN :vehicles",
    "period_closings": "(vehicle_id IN :vehicles OR vehicle_id IS NULL)",
    "agreement_versions": None,
}


def row_digests(vehicle_ids: list[int] | None = None) -> dict[str, dict[str, str]]:
    """A digest per guarded row; with `vehicle_ids`, of the rows that concern those cars."""
    from sqlalchemy import bindparam

    rows = {}
    for table, columns in GUARDED_ROWS.items():
        where = _ROWS_OF_VEHICLES[table] if vehicle_ids is not None else None
        statement = text(f"SELECT {', '.join(columns)} FROM {table}"
                         + (f" WHERE {where}" if where else "") + " ORDER BY id")
        if where:
            statement = statement.bindparams(bindparam("vehicles", value=list(vehicle_ids), expanding=True))
        rows[table] = {str(row[0]): _row_digest(row) for row in db.session.execute(statement)}
    return rows


def take(reason: str, now: datetime | None = None, vehicle_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """The state to sign, read in one transaction (PostgreSQL: REPEATABLE READ would be stricter;
    the audit head is read first, so anything later only extends it).

    With `vehicle_ids` (a tax report of some cars), the checkpoint pins those cars' device
    chains and rows and the audit log's head only (no per-event prefixes): what it costs grows
    with the cars, not with the database (issue 20); the daily checkpoint pins everything."""
    from backend.access.door import chain_heads, chain_links, devices_of_vehicles

    now = now or utcnow()
    head = db.session.get(AuditChainHead, 1)
    db.session.refresh(head)
    audit_seq = head.seq
    last_hash = head.hash
    scope = sorted(set(vehicle_ids)) if vehicle_ids is not None else None
    if scope is not None:
        device_ids = devices_of_vehicles(scope)
        return {"format": FORMAT, "at": now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reason": reason, "scope": {"vehicles": scope},
                "audit": {"seq": audit_seq, "hash": last_hash},
                "devices": _devices(chain_heads(device_ids), chain_links(device_ids)),
                "rows": row_digests(scope)}
    prefixes = bytearray()
    anchors: dict[str, str] = {}
    for seq, hash_ in db.session.execute(select(AuditEvent.seq, AuditEvent.hash)
                                         .where(AuditEvent.seq <= audit_seq).order_by(AuditEvent.seq)
                                         .execution_options(yield_per=10000)):
        prefixes += _prefix(hash_)
        if seq % ANCHOR_EVERY == 0:
            anchors[str(seq)] = hash_
    return {"format": FORMAT, "at": now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reason": reason,
            "audit": {"seq": audit_seq, "hash": last_hash, "anchors": anchors, "prefixes": _b64(bytes(prefixes))},
            "devices": _devices(chain_heads(), chain_links()), "rows": row_digests()}


def _devices(heads: dict[str, tuple[int, str, int]], links: Iterable[tuple[str, int, str]]) -> dict[str, dict[str, Any]]:
    """Per device: its stored trips' seq ranges, last seq and hash, and two bytes of each hash."""
    devices: dict[str, dict[str, Any]] = {}
    current: str | None = None
    seqs: list[int] = []
    trip_prefixes = bytearray()
    last = (0, "")

    def close() -> None:
        if current is not None:
            devices[current] = {"ranges": _ranges(seqs), "seq": last[0], "hash": last[1],
                                "prefixes": _b64(bytes(trip_prefixes)),
                                "deleted_through": heads.get(current, (0, "", 0))[2]}

    for device_id, seq, record_hash in links:
        if device_id != current:
            close()
            current, seqs, trip_prefixes = device_id, [], bytearray()
        seqs.append(seq)
        trip_prefixes += _prefix(record_hash)
        last = (seq, record_hash)
    close()
    for device_id, (_, _, deleted) in heads.items():  # a device whose trips retention removed
        devices.setdefault(device_id, {"ranges": [], "seq": 0, "hash": "", "prefixes": "",
                                       "deleted_through": deleted})
    return devices


def sign(checkpoint: dict[str, Any]) -> dict[str, Any]:
    key = signing_key()
    public = _public_raw(key)
    return {"checkpoint": checkpoint, "public_key": _b64(public), "key_id": key_id(public),
            "signature": _b64(key.sign(canonical(checkpoint)))}


def directory() -> Path:
    return Path(current_app.instance_path) / DIRECTORY


def issue(reason: str, now: datetime | None = None, vehicle_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Take, sign and store a checkpoint in the instance folder; return the signed document."""
    signed = sign(take(reason, now, vehicle_ids))  # only reads: the caller's transaction goes on untouched
    folder = directory()
    folder.mkdir(parents=True, exist_ok=True)
    body = signed["checkpoint"]
    # A checkpoint of some cars is kept apart: `audit verify` without a file takes the latest
    # checkpoint-*.json, which must pin everything.
    kind = "scoped-checkpoint" if "scope" in body else "checkpoint"
    name = f"{kind}-{body['at'].replace(':', '').replace('-', '')}-{body['audit']['seq']}-{reason}.json"
    path = folder / name
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    tmp.write_bytes(dumps(signed))
    os.replace(tmp, path)
    return signed


def dumps(signed: dict[str, Any]) -> bytes:
    return canonical(signed) + b"\n"


def latest_file() -> Path | None:
    folder = directory()
    files = sorted(folder.glob("checkpoint-*.json")) if folder.exists() else []
    return files[-1] if files else None


def load(data: bytes, *, expected_key: bytes | None = None) -> dict[str, Any]:
    """The checkpoint of a signed file, after checking its signature (and, when given, that it is
    signed by `expected_key`, the instance's own public key)."""
    try:
        signed = json.loads(data)
        checkpoint = signed["checkpoint"]
        public = base64.b64decode(signed["public_key"], validate=True)
        signature = base64.b64decode(signed["signature"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"not a signed Ritbox checkpoint: {exc}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError("not a signed Ritbox checkpoint (unknown format)")
    if expected_key is not None and public != expected_key:
        raise CheckpointError(f"signed by another key ({key_id(public)}), not this Ritbox's "
                              f"({key_id(expected_key)})")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, canonical(checkpoint))
    except (InvalidSignature, ValueError):
        raise CheckpointError("the signature does not match the checkpoint (the file was changed)") from None
    return checkpoint


# --- checking today's database against a checkpoint -------------------------------------------

@dataclass
class Comparison:
    checkpoint_at: str
    audit_seq: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _prefixes(encoded: str) -> list[bytes]:
    raw = base64.b64decode(encoded)
    return [raw[i:i + PREFIX_BYTES] for i in range(0, len(raw), PREFIX_BYTES)]


def _compare_audit_head(checkpoint: dict[str, Any], out: Comparison) -> None:
    """A report's checkpoint pins the audit log's head only: that event is there, unchanged."""
    pinned = checkpoint["audit"]
    hash_ = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == pinned["seq"]))
    if hash_ is None:
        out.problems.append(f"audit event {pinned['seq']} is missing (the checkpoint's head; cut off, head "
                            f"moved back)")
    elif hash_ != pinned["hash"]:
        out.problems.append(f"audit event {pinned['seq']} differs from the checkpoint (its hash is not the "
                            f"signed head)")


def _compare_audit_hashes(checkpoint: dict[str, Any], hashes: bytes | bytearray, out: Comparison) -> None:
    """The same comparison on the hashes a verified walk of the whole log collected (64 hex digits
    each, seq n's at 64 * (n - 1)). The walk found every event's hash over the one before it, so
    the signed head's event with the signed hash proves every event up to it unchanged; only when
    it is not do the prefixes and anchors name the first event that differs."""
    pinned = checkpoint["audit"]

    def hash_of(seq: int) -> bytes:
        return bytes(hashes[(seq - 1) * HASH_DIGITS:seq * HASH_DIGITS])

    count = min(len(hashes) // HASH_DIGITS, pinned["seq"])
    if count and count == pinned["seq"] and hash_of(count) == pinned["hash"].encode("ascii"):
        return
    width = PREFIX_BYTES * 2
    wanted = base64.b64decode(pinned["prefixes"]).hex().encode("ascii")[:count * width]
    # Digit i of every event's prefix is hashes[i::64]: compared digit by digit, without a step per event.
    end = count * HASH_DIGITS
    if any(hashes[digit:end:HASH_DIGITS] != wanted[digit::width] for digit in range(width)):
        for seq in range(1, count + 1):
            if hash_of(seq)[:width] != wanted[(seq - 1) * width:seq * width]:
                out.problems.append(f"audit event {seq} differs from the checkpoint (rewritten, hashes recomputed)")
                return
    for seq, anchor in sorted(pinned["anchors"].items(), key=lambda item: int(item[0])):
        if int(seq) <= count and hash_of(int(seq)) != anchor.encode("ascii"):
            out.problems.append(f"audit event {seq} differs from the checkpoint (rewritten, hashes recomputed)")
            return
    if count < pinned["seq"]:
        out.problems.append(f"audit event {count + 1} is missing: the log ends at event {count} but the "
                            f"checkpoint saw {pinned['seq']} events (cut off, head moved back)")
    elif count and hash_of(count) != pinned["hash"].encode("ascii"):
        out.problems.append(f"audit event {count} differs from the checkpoint (its hash is not the signed head)")


def _compare_audit(checkpoint: dict[str, Any], out: Comparison) -> None:
    from backend.audit import stored_rows

    pinned = checkpoint["audit"]
    # The prefixes as one hex text: event n's are the 4 hex digits at 4 * (n - 1), compared with
    # the first 4 of its hash without a per-row conversion (the walk reads every event).
    width = PREFIX_BYTES * 2
    prefixes = base64.b64decode(pinned["prefixes"]).hex()
    anchors = pinned["anchors"]
    expected = 1
    # Straight from the driver, as audit.verify reads: the ORM's per-row work cost more than the check.
    for seq, hash_ in stored_rows(f"SELECT seq, hash FROM audit_events WHERE seq <= {int(pinned['seq'])} ORDER BY seq"):
        if seq != expected:
            out.problems.append(f"audit event {expected} is missing (the checkpoint saw events up to "
                                f"{pinned['seq']})")
            return
        offset = (seq - 1) * width
        if hash_[:width] != prefixes[offset:offset + width] or anchors.get(str(seq), hash_) != hash_:
            out.problems.append(f"audit event {seq} differs from the checkpoint (rewritten, hashes recomputed)")
            return
        expected += 1
    if expected > 1 and expected - 1 == pinned["seq"]:
        head = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == pinned["seq"]))
        if head != pinned["hash"]:
            out.problems.append(f"audit event {pinned['seq']} differs from the checkpoint (its hash is not the "
                                "signed head)")
            return
    if expected <= pinned["seq"]:
        out.problems.append(f"audit event {expected} is missing: the log ends at event {expected - 1} but the "
                            f"checkpoint saw {pinned['seq']} events (cut off, head moved back)")


def _explained_deletions(after_seq: int) -> bool:
    """Did a retention run delete trips after the checkpoint? (It raises deleted_through.)"""
    return db.session.scalar(select(AuditEvent.seq).where(
        AuditEvent.seq > after_seq, AuditEvent.event_type == "retention_deleted").limit(1)) is not None


def _seq_texts(top: int) -> Callable[[int, int], str]:
    """first, last -> "first,first+1,...,last" (for 0 <= first <= last <= top): a slice of one text
    of the numbers up to top, so that a device's expected seqs cost a slice per run of seqs, not
    a number per trip."""
    numbers = ",".join(map(str, range(top + 1)))
    starts = list(accumulate((len(str(number)) + 1 for number in range(top + 1)), initial=0))
    return lambda first, last: numbers[starts[first]:starts[last + 1] - 1]


def _extends_in_one_piece(pinned: dict[str, Any], deleted_now: int, seqs: str, hashes: str,
                          seq_text: Callable[[int, int], str]) -> bool:
    """The common case, on the device's trips as chain_summaries concatenates them (no Python step
    per trip): every pinned trip that retention has not removed is stored, first and in seq order,
    with its prefix, and the last one with its full hash. False sends the device to the walk
    that names the trip (also for what may be fine, e.g. a late trip filling a gap)."""
    kept = [(max(first, deleted_now + 1), last) for first, last in pinned["ranges"] if last > deleted_now]
    count = sum(last - first + 1 for first, last in kept)
    if count == 0:
        return True
    expected = ",".join(seq_text(first, last) for first, last in kept)
    if seqs != expected and not seqs.startswith(expected + ","):
        return False
    # Each hash is 64 hex digits and a comma: the first `count` ones end at `end` with their commas
    # exactly in place and no others (else a hash one digit short and the next one long could
    # shift into place).
    step = HASH_DIGITS + 1
    end = count * step - 1
    if hashes[end:end + 1] not in ("", ",") or hashes.count(",", 0, end) != count - 1 \
            or hashes[HASH_DIGITS:end:step] != "," * (count - 1):
        return False
    width = PREFIX_BYTES * 2
    wanted = base64.b64decode(pinned["prefixes"]).hex()
    wanted = wanted[len(wanted) - count * width:]  # retention removes from the first seq on
    # The prefixes digit by digit: digit i of every hash is hashes[i::step], of every prefix wanted[i::width].
    return all(hashes[digit:end:step] == wanted[digit::width] for digit in range(width)) \
        and hashes[end - HASH_DIGITS:end] == pinned["hash"]


def _compare_devices(checkpoint: dict[str, Any], out: Comparison) -> None:
    from backend.access.door import chain_heads, chain_links, chain_summaries

    pinned_devices: dict[str, dict[str, Any]] = checkpoint["devices"]
    device_ids = sorted(pinned_devices)
    # A checkpoint of everything reads every device (no list of thousands of ids to bind).
    read_ids = device_ids if "scope" in checkpoint else None
    heads = chain_heads(read_ids)
    # One row a device; the trips one by one only for a device that does not extend in one piece.
    summaries = chain_summaries(read_ids)
    retention_ran = _explained_deletions(checkpoint["audit"]["seq"])
    seq_text = _seq_texts(max((pinned["seq"] for pinned in pinned_devices.values()), default=0))
    to_walk: dict[str, int] = {}  # device -> the seq through which retention removed its trips
    for device_id in device_ids:
        pinned = pinned_devices[device_id]
        deleted_now = heads.get(device_id, (0, "", 0))[2]
        if deleted_now > pinned["deleted_through"] and not retention_ran:
            out.problems.append(f"device {device_id}: deleted_through moved from {pinned['deleted_through']} to "
                                f"{deleted_now} without a retention run")
            deleted_now = pinned["deleted_through"]
        if not _extends_in_one_piece(pinned, deleted_now, *summaries.get(device_id, ("", "")), seq_text):
            to_walk[device_id] = deleted_now
    if not to_walk:
        return
    stored: dict[str, dict[int, str]] = {}
    for device_id, seq, record_hash in chain_links(sorted(to_walk)):
        stored.setdefault(device_id, {})[seq] = record_hash
    width = PREFIX_BYTES * 2
    for device_id, deleted_now in sorted(to_walk.items()):
        pinned = pinned_devices[device_id]
        trips = stored.get(device_id, {})
        for seq, prefix in zip(_expand(pinned["ranges"]), _prefixes(pinned["prefixes"])):
            if seq <= deleted_now:
                continue  # removed by retention, which logged it
            record_hash = trips.get(seq)
            if record_hash is None:
                out.problems.append(f"device {device_id}: trip seq {seq} is gone (deleted after the checkpoint)")
                break
            if record_hash[:width] != prefix.hex() or (seq == pinned["seq"] and record_hash != pinned["hash"]):
                out.problems.append(f"device {device_id}: trip seq {seq} differs from the checkpoint (rewritten)")
                break


def _later_events(after_seq: int, event_type: str) -> list[dict[str, Any]]:
    return [json.loads(d) for d in db.session.scalars(select(AuditEvent.details).where(
        AuditEvent.seq > after_seq, AuditEvent.event_type == event_type).order_by(AuditEvent.seq))]


def _compare_rows(checkpoint: dict[str, Any], out: Comparison) -> None:
    scope = checkpoint.get("scope")
    now_rows = row_digests(scope["vehicles"] if scope else None)
    after = checkpoint["audit"]["seq"]
    changed_assignments = {e["assignment_id"]: e for e in _later_events(after, "assignment_changed")}
    deleted_assignments = {e["assignment_id"] for e in _later_events(after, "assignment_deleted")}
    for table in GUARDED_ROWS:
        pinned = checkpoint["rows"].get(table, {})
        current = now_rows[table]
        for row_id in sorted(pinned, key=int):
            digest = current.get(row_id)
            explained = False
            if table == "assignments":
                # The app moves or deletes an assignment only with its audit event; a moved one
                # must hold the period its last event names.
                if digest is None:
                    explained = int(row_id) in deleted_assignments
                elif int(row_id) in changed_assignments:
                    new = changed_assignments[int(row_id)]["new"]
                    start, until = db.session.execute(text(
                        "SELECT available_from, available_until FROM assignments WHERE id = :id"),
                        {"id": int(row_id)}).one()
                    explained = (str(start), None if until is None else str(until)) == (new["from"], new["until"])
            if digest is None and not explained:
                out.problems.append(f"{table} row {row_id} is gone (deleted after the checkpoint)")
            elif digest is not None and digest != pinned[row_id] and not explained:
                out.problems.append(f"{table} row {row_id} differs from the checkpoint (changed without its audit event)")


def compare(checkpoint: dict[str, Any], audit_hashes: bytes | bytearray | None = None) -> Comparison:
    """Everything in today's database that does not extend the checkpoint, first problem first
    per part (audit log, device chains, guarded rows). `audit_hashes`: every event's hash in seq
    order, 64 hex digits each, as audit.verify(hashes=...) collects them when it finds the log
    whole (then the log is not read again)."""
    out = Comparison(checkpoint["at"], checkpoint["audit"]["seq"])
    if "prefixes" not in checkpoint["audit"]:
        _compare_audit_head(checkpoint, out)
    elif audit_hashes is not None:
        _compare_audit_hashes(checkpoint, audit_hashes, out)
    else:
        _compare_audit(checkpoint, out)
    _compare_devices(checkpoint, out)
    _compare_rows(checkpoint, out)
    db.session.rollback()
    return out


def send(signed: dict[str, Any]) -> int:
    """E-mail the signed checkpoint to every OR delegate and privacy officer (when e-mail is on),
    so that copies are kept where the database's administrators cannot reach. Commits."""
    from flask_babel import force_locale, gettext as _

    from backend import mail
    from backend.config import SUPPORTED_LOCALES
    from backend.models.accounts import Role, User, UserRole

    if not mail.enabled():
        return 0
    body = signed["checkpoint"]
    recipients = db.session.scalars(select(User).join(UserRole).where(
        UserRole.role.in_([Role.OR_DELEGATE.value, Role.PRIVACY_OFFICER.value])).distinct())
    sent = 0
    for user in recipients:
        locale = user.locale if user.locale in SUPPORTED_LOCALES else current_app.config["BABEL_DEFAULT_LOCALE"]
        with force_locale(locale):
            subject = _("Ritbox: signed checkpoint of %(at)s", at=body["at"])
            text_ = _("Keep this e-mail. It holds a signed checkpoint of Ritbox's audit log (%(events)s events) and "
                      "of the trip chains of %(devices)s devices. Saved as a file, it lets anyone prove later that "
                      "nothing before this moment was changed or deleted (the privacy officer's or the "
                      "administrator's check).", events=body["audit"]["seq"], devices=len(body["devices"]))
        mail.queue(user.id, "checkpoint", reference=f"checkpoint:{body['at']}:{body['audit']['seq']}:{user.id}",
                   subject=subject, body=text_ + "\n\n" + dumps(signed).decode("utf-8"))
        sent += 1
    db.session.commit()
    return sent


def instance_public_key() -> bytes:
    return _public_raw(signing_key())
