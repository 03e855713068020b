"""Aggregate figures per purpose for the works council: counts and durations, no people."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from backend import audit
from backend.db import db
from backend.models.access import AccessRequest, Grant
from backend.models.audit import AuditEvent


@dataclass
class PurposeFigures:
    purpose: str
    refused_at_filing: int = 0
    filed: int = 0
    pending: int = 0
    approved: int = 0
    denied: int = 0
    expired: int = 0
    revoked: int = 0
    reads: int = 0
    refused_reads: int = 0
    grant_days: list[float] = field(default_factory=list)

    @property
    def mean_grant_days(self) -> float | None:
        return sum(self.grant_days) / len(self.grant_days) if self.grant_days else None


def per_purpose() -> list[PurposeFigures]:
    """Every purpose that was ever requested or refused, with its counts; grant durations are
    the time each grant was usable (until revocation if it was revoked early)."""
    figures: dict[str, PurposeFigures] = {}

    def get(purpose: str) -> PurposeFigures:
        return figures.setdefault(purpose, PurposeFigures(purpose))

    for purpose, status, count in db.session.execute(
            select(AccessRequest.purpose, AccessRequest.status, func.count()).group_by(
                AccessRequest.purpose, AccessRequest.status)):
        item = get(purpose)
        item.filed += count
        setattr(item, status, getattr(item, status) + count)
    for purpose, event_type, count in db.session.execute(
            select(AuditEvent.purpose, AuditEvent.event_type, func.count())
            .where(AuditEvent.purpose.is_not(None), AuditEvent.purpose != "tax",
                   AuditEvent.event_type.in_((audit.REQUEST_REFUSED, audit.READ, audit.READ_DENIED)))
            .group_by(AuditEvent.purpose, AuditEvent.event_type)):
        item = get(purpose)
        if event_type == audit.REQUEST_REFUSED:
            item.refused_at_filing += count
        elif event_type == audit.READ:
            item.reads += count
        else:
            item.refused_reads += count
    for grant in db.session.scalars(select(Grant)):
        item = get(grant.purpose)
        end = min(grant.revoked_at, grant.expires_at) if grant.revoked_at else grant.expires_at
        item.grant_days.append((end - grant.issued_at).total_seconds() / 86400)
        item.revoked += grant.revoked_at is not None
    return sorted(figures.values(), key=lambda f: f.purpose)
