"""The audit log: append-only, hash-chained events (see backend.audit).

Personal data in these rows is deliberate: the log exists to show who touched whose data.
The database refuses UPDATE and DELETE on audit_events (triggers in the migrations), and
derives every column but seq, prev_hash and hash from the hashed body (migration 0010).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Computed, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db

GENESIS_HASH = "0" * 64


# Each column of an event is derived by the database from its canonical JSON `body`, the exact
# text the hash covers, so a column can never say something else than what is hashed, and
# `audit verify` reads only body, prev_hash and hash. The expressions here are SQLite's
# (virtual columns); migration 0010 writes PostgreSQL's (stored columns, the same values).
def _from_body(expression: str) -> Computed:
    return Computed(expression, persisted=False)


class AuditEvent(db.Model):
    """One event. seq is the position in the chain (1, 2, 3 ... without gaps)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject_user_id_seq", "subject_user_id", "seq"),
        Index("ix_audit_events_event_type_seq", "event_type", "seq"),
        Index("ix_audit_events_grant_id", "grant_id"),
    )

    # Assigned under the chain-head lock, never by a sequence: a sequence can skip numbers.
    # Stored besides its copy in body (the key cannot be computed); verify checks that seq runs
    # 1, 2, 3 ... and that each prev_hash is the hash before, which pins it to the body's seq.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=False)
    # The canonical JSON (sorted keys, no spaces) of the event: with prev_hash in front, exactly
    # the text that is hashed. See backend.audit.canonical_json.
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    at: Mapped[datetime] = mapped_column(
        UTCDateTime(), _from_body("replace(substr(json_extract(body, '$.at'), 1, 26), 'T', ' ')"))
    event_type: Mapped[str] = mapped_column(String(40), _from_body("json_extract(body, '$.event_type')"))
    actor_id: Mapped[int | None] = mapped_column(  # no FK: events outlive accounts
        Integer, _from_body("json_extract(body, '$.actor_id')"))
    subject_user_id: Mapped[int | None] = mapped_column(Integer, _from_body("json_extract(body, '$.subject_user_id')"))
    subject_vehicle_id: Mapped[int | None] = mapped_column(
        Integer, _from_body("json_extract(body, '$.subject_vehicle_id')"))
    purpose: Mapped[str | None] = mapped_column(String(64), _from_body("json_extract(body, '$.purpose')"))
    grant_id: Mapped[int | None] = mapped_column(Integer, _from_body("json_extract(body, '$.grant_id')"))
    request_id: Mapped[int | None] = mapped_column(Integer, _from_body("json_extract(body, '$.request_id')"))
    # The event's details object as canonical JSON text.
    details: Mapped[str] = mapped_column(Text, _from_body("json_extract(body, '$.details')"))


class AuditChainHead(db.Model):
    """One row (id 1): the last seq and hash. Writers lock it, so concurrent writers queue
    instead of forking the chain; verify compares it with the last event (truncation)."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
