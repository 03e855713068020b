"""What people were shown of an agreement: the regeling text the works council consented to,
and each employee's acknowledgement of the privacy notice."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow


class ConsentedText(db.Model):
    """The rendered regeling (Dutch, the binding text) an OR delegate consented to, and its hash.
    A later rendering that differs (a setting changed what it says) no longer matches it."""

    __tablename__ = "agreement_consented_texts"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id"), unique=True)
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NoticeAcknowledgement(db.Model):
    """A driver read the privacy notice of this text (an agreement version under these settings)."""

    __tablename__ = "privacy_notice_acknowledgements"
    __table_args__ = (UniqueConstraint("user_id", "notice_sha256", name="uq_notice_ack_user_text"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    agreement_version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id"))
    notice_sha256: Mapped[str] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
