"""The audit log: append-only, hash-chained events (see backend.audit).

Personal data in these rows is deliberate: the log exists to show who touched whose data.
The database refuses UPDATE and DELETE on audit_events (triggers in the migration).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db

GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):
    """One event. seq is the position in the chain (1, 2, 3 ... without gaps)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject_user_id_seq", "subject_user_id", "seq"),
        Index("ix_audit_events_event_type_seq", "event_type", "seq"),
        Index("ix_audit_events_grant_id", "grant_id"),
    )

    # Assigned under the chain-head lock, never by a sequence: a sequence can skip numbers.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(Integer)  # no FK: events outlive accounts
    subject_user_id: Mapped[int | None] = mapped_column(Integer)
    subject_vehicle_id: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str | None] = mapped_column(String(64))
    grant_id: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[int | None] = mapped_column(Integer)
    # Canonical JSON text (sorted keys, no spaces): exactly the bytes that are hashed.
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(db.Model):
    """One row (id 1): the last seq and hash. Writers lock it, so concurrent writers queue
    instead of forking the chain; verify compares it with the last event (truncation)."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
