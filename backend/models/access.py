"""Purpose-change access: agreement versions, requests, approvals, grants, notifications,
and the lock row that makes a scheduled job run once across workers."""
from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from sqlalchemy import (CheckConstraint, Date, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import UTCDateTime, db, utcnow
from backend.models.accounts import User


class RequestStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"  # a grant was issued
    DENIED = "denied"
    EXPIRED = "expired"  # not decided in time


class Decision(str, Enum):
    APPROVE = "approve"
    DENY = "deny"


class AgreementVersion(db.Model):
    """One uploaded agreement document. In force once consent is recorded; never edited."""

    __tablename__ = "agreement_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40))  # the document's own `version`
    title: Mapped[str] = mapped_column(String(200))
    document_text: Mapped[str] = mapped_column(Text)  # exactly as uploaded
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    consent_date: Mapped[date | None] = mapped_column(Date)  # the date of the OR's decision
    consent_reference: Mapped[str | None] = mapped_column(String(200))
    consent_recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    consent_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    uploaded_by: Mapped[User] = relationship(foreign_keys=[uploaded_by_id], lazy="joined")
    consent_recorded_by: Mapped[User | None] = relationship(foreign_keys=[consent_recorded_by_id],
                                                            lazy="joined")


class AccessRequest(db.Model):
    __tablename__ = "access_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'denied', 'expired')", name="status_known"),
        CheckConstraint("subject_user_id IS NOT NULL OR subject_vehicle_id IS NOT NULL", name="has_subject"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        Index("ix_access_requests_status_filed", "status", "filed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The version in force when the request was filed judges it, for its whole life.
    agreement_version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id"))
    purpose: Mapped[str] = mapped_column(String(64))  # the clause id
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    subject_vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    categories: Mapped[str] = mapped_column(String(200))  # comma-separated, sorted
    grant_days: Mapped[int] = mapped_column(Integer)
    grounds_category: Mapped[str] = mapped_column(String(64))
    motivation: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING.value)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decide_by: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    agreement_version: Mapped[AgreementVersion] = relationship(lazy="joined")
    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="joined")
    subject_user: Mapped[User | None] = relationship(foreign_keys=[subject_user_id], lazy="joined")
    approvals: Mapped[list[Approval]] = relationship(back_populates="request", lazy="selectin",
                                                     order_by="Approval.id")
    grant: Mapped[Grant | None] = relationship(back_populates="request", lazy="selectin")

    @property
    def category_list(self) -> list[str]:
        return [c for c in self.categories.split(",") if c]


class Approval(db.Model):
    """One approver's decision. One person decides at most once per request."""

    __tablename__ = "access_approvals"
    __table_args__ = (
        UniqueConstraint("request_id", "approver_id", name="uq_access_approvals_request_approver"),
        UniqueConstraint("request_id", "role", name="uq_access_approvals_request_role"),
        CheckConstraint("decision IN ('approve', 'deny')", name="decision_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"))
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(32))  # the agreement role this person acted in
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The scope this approver agreed to (approvals only; never wider than the request). The
    # grant gets the intersection of both approvers' scopes.
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    categories: Mapped[str | None] = mapped_column(String(200))
    grant_days: Mapped[int | None] = mapped_column(Integer)

    request: Mapped[AccessRequest] = relationship(back_populates="approvals")
    approver: Mapped[User] = relationship(lazy="joined")


class Grant(db.Model):
    """A scoped, expiring permission to read for a further purpose. Expiry is checked at every
    read; expired_marked_at is only the job's bookkeeping."""

    __tablename__ = "access_grants"
    __table_args__ = (
        CheckConstraint("subject_user_id IS NOT NULL OR subject_vehicle_id IS NOT NULL", name="has_subject"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("expires_at > issued_at", name="expiry_after_issue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    agreement_version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id"))
    purpose: Mapped[str] = mapped_column(String(64))
    holder_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # the requester
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    subject_vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    categories: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    expired_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    request: Mapped[AccessRequest] = relationship(back_populates="grant")
    holder: Mapped[User] = relationship(foreign_keys=[holder_id], lazy="joined")

    @property
    def category_list(self) -> list[str]:
        return [c for c in self.categories.split(",") if c]

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def closed_at(self) -> datetime | None:
        if self.revoked_at is not None:
            return min(self.revoked_at, self.expires_at)
        return self.expires_at


class Notification(db.Model):
    """Telling an employee that their data was (or may be) read under a grant. Shown in the app
    on the driver's "who saw my data" page once sent_at is set (the job sends what is due)."""

    __tablename__ = "access_notifications"
    __table_args__ = (
        UniqueConstraint("grant_id", "user_id", "kind", name="uq_access_notifications_grant_user_kind"),
        CheckConstraint("kind IN ('grant_issued', 'grant_closed')", name="kind_known"),
        Index("ix_access_notifications_due", "sent_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("access_grants.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: at close, not known yet
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    grant: Mapped[Grant] = relationship(lazy="joined")


class JobLock(db.Model):
    """One row per scheduled job: a worker runs the job only if it moves locked_until forward,
    so several web workers with a scheduler each still run every job once per interval."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime())
    holder: Mapped[str] = mapped_column(String(100))
