"""The audit log: append-only, hash-chained events, and the check that the chain is whole.

Public API (stable, used by other features):

    from backend import audit
    KM_EXPLAINED = audit.kind("km_explained", _l("Unexplained km explained with a reason"))
    audit.record(KM_EXPLAINED, actor=user, details={...})   # record() refuses an undeclared kind
    audit.record(audit.LOGIN_FAILED, details={"reason": "password"})        # commits
    audit.record(audit.FINANCE_EXPORT, actor=user, subject_user_id=7,
                 purpose="tax", details={"format": "csv", "year": 2026})
    result = audit.verify()        # VerifyResult(ok, events, broken_seq, reason)
    audit.KINDS, audit.LABELS      # the registry: name -> Kind(name, label, module); name -> label

Each event's hash is sha256 over (previous hash in hex + the event's canonical JSON), both
as UTF-8. The canonical JSON is the event's object with sorted keys and no spaces (see
canonical_json); it is stored as the column `body`, and the database derives the other columns
(at, event_type, actor_id, ...) from it. The database refuses UPDATE and DELETE on audit_events.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, text

from backend.db import db, utcnow
from backend.models.audit import GENESIS_HASH, AuditChainHead, AuditEvent

log = logging.getLogger(__name__)

# Event types and purposes are names, so the canonical JSON needs no escaping for them.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Kind:
    """One kind of audit event: the name stored as event_type and its label for people."""

    name: str
    label: Any  # a lazy_gettext text: translated where it is shown (the audit log, "who saw my data")
    module: str  # where it is declared
    detail_labels: Mapping[str, Any] = field(default_factory=dict)  # labels of its own detail keys


KINDS: dict[str, Kind] = {}  # every kind, declared once with kind(), beside the code that records it


def kind(name: str, label: Any, detail_labels: Mapping[str, Any] | None = None) -> str:
    """Declare an audit kind with its label: `KM_EXPLAINED = audit.kind("km_explained", _l("..."))`
    in the module that records it. Returns the name to pass to record(), which refuses any other.
    detail_labels: labels for detail keys the audit log page does not know yet (key -> _l(...))."""
    if not _NAME.match(name) or len(name) > 40:
        raise ValueError(f"bad audit event type {name!r}")
    module = sys._getframe(1).f_globals.get("__name__", "?")  # the declaring module, named in errors
    known = KINDS.get(name)
    if known is not None and known.module != module:  # the same module may run twice (a reload)
        raise ValueError(f"audit kind {name!r} is declared twice: in {known.module} and in {module}")
    KINDS[name] = Kind(name, label, module, dict(detail_labels or {}))
    return name


class _Labels(Mapping[str, Any]):
    """The registry seen as name -> label: the audit log's filter and event column."""

    def __getitem__(self, name: str) -> Any:
        return KINDS[name].label

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)


LABELS: Mapping[str, Any] = _Labels()

# The kinds the access layer and its colleagues write; other features declare their own.
LOGIN = kind("login", _l("Logged in"))
LOGIN_FAILED = kind("login_failed", _l("Failed login"))
AGREEMENT_UPLOADED = kind("agreement_uploaded", _l("Agreement uploaded"))
AGREEMENT_REFUSED = kind("agreement_refused", _l("Agreement refused"))  # an upload that failed validation
AGREEMENT_CONSENTED = kind("agreement_consented", _l("Works council consent recorded"))
NOTICE_ACKNOWLEDGED = kind("privacy_notice_acknowledged", _l("Privacy notice acknowledged"))
REQUEST_FILED = kind("request_filed", _l("Access requested"))
REQUEST_REFUSED = kind("request_refused", _l("Request refused"))  # outside the agreement: not stored, only logged
REQUEST_APPROVED = kind("request_approved", _l("Request approved"))  # one approver's approval
REQUEST_DENIED = kind("request_denied", _l("Request denied"))
REQUEST_EXPIRED = kind("request_expired", _l("Request expired"))
DECISION_REFUSED = kind("decision_refused", _l("Decision refused"))  # e.g. the requester trying to approve
GRANT_ISSUED = kind("grant_issued", _l("Access granted"))
GRANT_REVOKED = kind("grant_revoked", _l("Access revoked"))
GRANT_EXPIRED = kind("grant_expired", _l("Access expired"))
# a grant row that differs from its grant_issued event
GRANT_TAMPERED = kind("grant_tampered", _l("Access refused: the grant was changed after it was issued"))
READ = kind("read", _l("Data read"))  # a read through the door (not a driver's own)
READ_DENIED = kind("read_denied", _l("Read refused"))
SEAL_OPENED = kind("seal_opened", _l("Private positions opened"))
NOTIFICATION_SENT = kind("notification_sent", _l("Employee informed"))
FINANCE_EXPORT = kind("finance_export", _l("Tax report exported"))
RETENTION_DELETED = kind("retention_deleted", _l("Deleted after retention period"), detail_labels={
    "category": _l("Data category"), "rows": _l("Rows deleted"), "before": _l("Before"), "rule": _l("Rule")})
# a notification e-mail accepted by the mail server
MAIL_SENT = kind("mail_sent", _l("Employee informed by e-mail"))


def _at_text(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_value(value: int | str | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # bool is an int; never meant here
        raise TypeError("audit ids are integers, not booleans")
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def canonical_json(seq: int, at: datetime, event_type: str, actor_id: int | None,
                   subject_user_id: int | None, subject_vehicle_id: int | None,
                   purpose: str | None, grant_id: int | None, request_id: int | None,
                   details: str) -> str:
    """The event as JSON with sorted keys and no spaces. details is already canonical JSON
    text (as stored), so it is embedded as is; this equals json.dumps(..., sort_keys=True,
    separators=(",", ":"), ensure_ascii=False) of the event with details parsed. Written out
    by hand because verify runs it for every event."""
    return ('{"actor_id":' + _json_value(actor_id)
            + ',"at":"' + _at_text(at)
            + '","details":' + details
            + ',"event_type":' + _json_value(event_type)
            + ',"grant_id":' + _json_value(grant_id)
            + ',"purpose":' + _json_value(purpose)
            + ',"request_id":' + _json_value(request_id)
            + ',"seq":' + str(seq)
            + ',"subject_user_id":' + _json_value(subject_user_id)
            + ',"subject_vehicle_id":' + _json_value(subject_vehicle_id) + "}")


def event_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def canonical_details(details: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _actor_id(actor: Any) -> int | None:
    if actor is None:
        return None
    if isinstance(actor, int):
        return actor
    return int(actor.id)


def record(event_type: str, *, actor: Any = None, subject_user_id: int | None = None,
           subject_vehicle_id: int | None = None, purpose: str | None = None,
           grant_id: int | None = None, request_id: int | None = None,
           details: Mapping[str, Any] | None = None, at: datetime | None = None,
           commit: bool = True) -> AuditEvent:
    """Append one event to the chain. actor is a User or a user id (None: the system).

    commit=True (the default) commits the session, so the event survives a later error in
    the request. Pass commit=False to make the event part of a larger transaction (e.g. an
    approval and its event commit together); the caller must then commit.
    """
    if not _NAME.match(event_type) or len(event_type) > 40:
        raise ValueError(f"bad audit event type {event_type!r}")
    if event_type not in KINDS:
        raise ValueError(f"audit kind {event_type!r} is not registered: declare it with "
                         "audit.kind(name, _l(label)) in the module that records it")
    if purpose is not None and not _NAME.match(purpose):
        raise ValueError(f"bad audit purpose {purpose!r} (a purpose id: lower case, digits, underscores)")
    session = db.session
    # Take the chain lock before reading the head: the UPDATE makes SQLite take its write
    # lock and PostgreSQL lock the head row, so a second writer waits here and then reads
    # the head this writer leaves behind. Reading first would let both extend the same head.
    # One statement (RETURNING): a fleet export records three events a car.
    seq, prev_hash = session.execute(text(
        "UPDATE audit_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")).one()
    at = (at or utcnow()).astimezone(timezone.utc)
    details_text = canonical_details(details)
    values = dict(seq=seq, at=at, event_type=event_type, actor_id=_actor_id(actor),
                  subject_user_id=subject_user_id, subject_vehicle_id=subject_vehicle_id,
                  purpose=purpose, grant_id=grant_id, request_id=request_id, details=details_text)
    body = canonical_json(**values)
    digest = event_hash(prev_hash, body)
    # Only the body is written: the database derives the other columns from it (migration 0010).
    session.execute(insert(AuditEvent).values(seq=seq, body=body, prev_hash=prev_hash, hash=digest))
    session.execute(text("UPDATE audit_chain_head SET hash = :hash WHERE id = 1"), {"hash": digest})
    if commit:
        session.commit()
    log.info("audit event %s recorded (seq %d)", event_type, seq)
    return AuditEvent(**values, body=body, prev_hash=prev_hash, hash=digest)  # a detached copy


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int  # events checked
    broken_seq: int | None = None  # the first event that does not fit, if any
    reason: str = ""

    def message(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.events} events"
        return f"audit chain BROKEN at event {self.broken_seq}: {self.reason}"


def stored_rows(sql: str, chunk: int = 1_000) -> Iterator[tuple]:
    """The rows of a read-only sql, straight from the driver (the ORM's per-row work would cost
    more than the hashing), never all in memory. PostgreSQL streams them in chunks: the server
    sends rows on without waiting to be asked, so it produces the next ones on its own core
    while the caller checks these (a server-side cursor waited for every FETCH). Nothing else may
    use the session's connection until the rows are read or the iterator is closed."""
    connection = db.session.connection()
    raw = connection.connection.driver_connection
    if connection.dialect.name != "postgresql":
        cursor = raw.cursor()
        try:
            yield from cursor.execute(sql)
        finally:
            cursor.close()
        return
    cursor = raw.cursor(binary=True)  # bytea as bytes, not hex text
    # A stream closed early cancels its query, which fails the transaction: inside a savepoint,
    # rolling back to it leaves the session's transaction as it was (the stream only read).
    cursor.execute("SAVEPOINT ritbox_stored_rows")
    rows = cursor.stream(sql, size=chunk)
    try:
        yield from rows
    finally:
        rows.close()
        cursor.execute("ROLLBACK TO SAVEPOINT ritbox_stored_rows")
        cursor.execute("RELEASE SAVEPOINT ritbox_stored_rows")
        cursor.close()


def _payload_sql(with_seq: bool) -> str:
    """hash and prev_hash + body, both as UTF-8 bytes (the bytes the hash covers), in chain order.
    The body is the stored canonical JSON and the database derives every other column from it,
    so these are all there is to check."""
    if db.session.get_bind().dialect.name == "postgresql":
        columns = "convert_to(hash, 'UTF8'), convert_to(prev_hash || body, 'UTF8')"
    else:
        columns = "CAST(hash AS BLOB), CAST(prev_hash || body AS BLOB)"
    return f"SELECT {'seq, ' if with_seq else ''}{columns} FROM audit_events ORDER BY seq"


def _whole_chain_fast(hashes: bytearray | None = None) -> tuple[int, bytes] | None:
    """(events, last hash) when every event links to the one before and matches its hash, else
    None. The hot loop of verify: no seq per row (the numbering is checked once, after).
    `hashes`, if given, gets every stored hash appended in chain order, 64 hex digits each (event
    n's at 64 * (n - 1); for a checkpoint comparison): one buffer, not an object kept per event."""
    sha256 = hashlib.sha256
    prev = GENESIS_HASH.encode()
    count = 0
    keep = hashes.extend if hashes is not None else None
    for stored_hash, payload in stored_rows(_payload_sql(with_seq=False)):
        # payload starts with the stored prev_hash: it must be the previous event's hash.
        if not payload.startswith(prev) or sha256(payload).hexdigest().encode() != stored_hash:
            return None
        if keep is not None:
            keep(stored_hash)
        prev = stored_hash
        count += 1
    return count, prev


def _first_broken() -> VerifyResult:
    """The slow walk, with each event's number: names the first event that does not fit."""
    expected_seq = 1
    prev = GENESIS_HASH.encode()
    sha256 = hashlib.sha256
    count = 0
    for seq, stored_hash, payload in stored_rows(_payload_sql(with_seq=True)):
        if seq != expected_seq:
            return VerifyResult(False, count, expected_seq,
                                f"event {expected_seq} is missing (next stored event is {seq})")
        if payload[:64] != prev or payload[64:65] != b"{":
            return VerifyResult(False, count, seq, "prev_hash does not match the previous event's hash")
        if sha256(payload).hexdigest().encode() != stored_hash:
            return VerifyResult(False, count, seq, "hash does not match the event's contents")
        prev = stored_hash
        expected_seq += 1
        count += 1
    return _against_head(count, prev)


def _against_head(count: int, last_hash: bytes) -> VerifyResult:
    head = db.session.get(AuditChainHead, 1)
    if head is None:
        return VerifyResult(False, count, None, "the chain head row is missing")
    db.session.refresh(head)
    if head.seq != count or head.hash.encode() != last_hash:
        return VerifyResult(False, count, count + 1,
                            f"the chain head says {head.seq} events but {count} are stored "
                            "(events removed from the end, or the head was changed)")
    return VerifyResult(True, count)


def verify(hashes: bytearray | None = None) -> VerifyResult:
    """Walk the whole chain in order; report the first event whose number, link or hash is wrong,
    and a chain head that does not match the last event (events cut off the end).

    The walk hashes without looking at seq. Each link ties an event to the one before, so when
    every link and hash holds, the events are numbered right exactly when seq runs from 1 to the
    count without a gap: the lowest and highest seq (from the primary key) check that. Anything wrong is then named by the
    slow walk, which checks each event's number too. `hashes`: see _whole_chain_fast (complete
    and in seq order only when the result is OK).
    """
    fast = _whole_chain_fast(hashes)
    if fast is not None:
        count, last_hash = fast
        # The walk read every row once; seq is the primary key (unique), so `count` distinct
        # numbers from 1 to count are exactly 1..count. min and max come from the key's index, each
        # in its own subquery: SQLite looks up a lone min() or max() but scans the table for both.
        lowest, highest = db.session.execute(select(select(func.min(AuditEvent.seq)).scalar_subquery(),
                                                    select(func.max(AuditEvent.seq)).scalar_subquery())).one()
        if count == 0 or (lowest, highest) == (1, count):
            return _against_head(count, last_hash)
    return _first_broken()


audit_cli = AppGroup("audit", help="The audit log.")


@audit_cli.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False),
              help="A signed checkpoint file: prove that today's log, device chains and guarded rows "
                   "extend it. Default: the latest checkpoint in the instance folder.")
def verify_command(checkpoint_file: str | None) -> None:
    """Check the whole hash chain and compare it with a signed checkpoint; name the first event,
    trip or row that does not fit (exit status 1)."""
    from pathlib import Path

    from backend import checkpoints

    hashes = bytearray()  # the walk's hashes: the checkpoint comparison needs no second read
    result = verify(hashes=hashes)
    if not result.ok:
        raise click.ClickException(result.message())
    click.echo(result.message())
    path = Path(checkpoint_file) if checkpoint_file else checkpoints.latest_file()
    if path is None:
        click.echo(f"no checkpoint found in {checkpoints.directory()}: checked the chain only")
        return
    try:
        checkpoint = checkpoints.load(path.read_bytes(), expected_key=checkpoints.instance_public_key())
    except checkpoints.CheckpointError as exc:
        raise click.ClickException(f"checkpoint {path}: {exc}") from None
    comparison = checkpoints.compare(checkpoint, audit_hashes=hashes)
    which = f"checkpoint {path} (taken {comparison.checkpoint_at}, {comparison.audit_seq} events)"
    if not comparison.ok:
        raise click.ClickException(f"does NOT extend {which}:\n" + "\n".join(comparison.problems))
    click.echo(f"extends {which}: OK")


@audit_cli.command("checkpoint")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the signed checkpoint (JSON). A copy stays in the instance folder.")
def checkpoint_command(out_path: str) -> None:
    """Sign a checkpoint of the audit log and the device chains now and write it to a file."""
    from pathlib import Path

    from backend import checkpoints

    signed = checkpoints.issue("cli")
    Path(out_path).write_bytes(checkpoints.dumps(signed))
    click.echo(f"wrote {out_path}: audit event {signed['checkpoint']['audit']['seq']}, "
               f"{len(signed['checkpoint']['devices'])} device chain(s), key {signed['key_id']}")


def init_app(app: Flask) -> None:
    app.cli.add_command(audit_cli)
    _audit_logins(app)


def _audit_logins(app: Flask) -> None:
    """Logins and failed logins are audit events, taken from Flask-Login's signal and the login
    view's answer, so the auth module needs no audit code of its own."""
    from flask import request
    from flask_login import user_logged_in

    from backend.models.accounts import User

    @user_logged_in.connect_via(app)
    def _logged_in(sender, user, **extra) -> None:
        record(LOGIN, actor=user, subject_user_id=user.id)

    @app.after_request
    def _failed_login(response):
        if request.endpoint == "auth.login" and request.method == "POST" and response.status_code in (401, 429):
            email = (request.form.get("email") or "").strip().lower()
            account = db.session.scalar(select(User.id).where(User.email == email)) if email else None
            record(LOGIN_FAILED, subject_user_id=account,
                   details={"refused": "rate_limited" if response.status_code == 429 else "credentials"})
        return response
