"""The e-mail outbox: messages to users, queued in the same transaction as what they announce
and sent by a scheduled job, so a mail server that is down delays a message but never loses it.

The recipient is a user, not an address: the address is read from the account when the message
is sent, so an outbox row holds no address, and a corrected address is used at the next attempt.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow

MAIL_KINDS = ("access_notice", "odometer_reminder", "checkpoint", "tax_notice", "classify_reminder",
              "finance_digest")


class OutgoingMail(db.Model):
    __tablename__ = "outgoing_mail"
    __table_args__ = (
        CheckConstraint("kind IN (" + ", ".join(f"'{kind}'" for kind in MAIL_KINDS) + ")", name="kind_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        UniqueConstraint("kind", "reference", name="uq_outgoing_mail_kind_reference"),
        # The job's query: unsent messages whose next attempt is due.
        Index("ix_outgoing_mail_due", "sent_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    # What the message announces (an access notification's id, a reminder's id), so that a
    # message is queued once per thing even when the queueing code runs twice.
    reference: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The last failure's kind and the server's reply code, never the address or the text.
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The run that reserved the message for sending, and until when by the database's clock:
    # runs that overlap (job workers, a manual `flask mail send`) never pick up the same message.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
