"""Grants: issued after the second approval, revoked by hand, expired by time; and the
notifications that tell the employee."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from backend import audit
from backend.governance import agreements, notice_mail
from backend.access.purposes import categories_text
from backend.db import db, utcnow
from backend.models.access import AccessRequest, Grant, Notification, RequestStatus
from backend.models.accounts import Role, User
from backend.models.audit import AuditEvent
from backend.models.fleet import Assignment


class GrantError(ValueError):
    """A grant action that is not allowed; the message says why."""


def issue(request: AccessRequest, now: datetime) -> Grant:
    """Issue the grant for a request with both approvals: the intersection of the approved
    scopes, expiring after the shortest approved duration. The caller commits."""
    approvals = [a for a in request.approvals if a.decision == "approve"]
    start = max(a.period_start or request.period_start for a in approvals)
    end = min(a.period_end or request.period_end for a in approvals)
    categories = set(request.category_list)
    for approval in approvals:
        if approval.categories:
            categories &= set(approval.categories.split(","))
    days = min(a.grant_days or request.grant_days for a in approvals)
    if start > end or not categories:
        # Two narrowings that do not overlap leave nothing to grant: a denial in effect.
        request.status = RequestStatus.DENIED.value
        request.decided_at = now
        audit.record(audit.REQUEST_DENIED, subject_user_id=request.subject_user_id,
                     subject_vehicle_id=request.subject_vehicle_id, purpose=request.purpose,
                     request_id=request.id, details={"reason": "the approved scopes do not overlap"},
                     commit=False)
        return None  # type: ignore[return-value]
    grant = Grant(request_id=request.id, agreement_version_id=request.agreement_version_id,
                  purpose=request.purpose, holder_id=request.requester_id,
                  subject_user_id=request.subject_user_id, subject_vehicle_id=request.subject_vehicle_id,
                  period_start=start, period_end=end, categories=categories_text(categories),
                  issued_at=now, expires_at=now + timedelta(days=days))
    db.session.add(grant)
    request.status = RequestStatus.APPROVED.value
    request.decided_at = now
    db.session.flush()
    audit.record(audit.GRANT_ISSUED, subject_user_id=request.subject_user_id,
                 subject_vehicle_id=request.subject_vehicle_id, purpose=request.purpose,
                 grant_id=grant.id, request_id=request.id,
                 details={"categories": grant.category_list,
                          "period": [start.isoformat(), end.isoformat()],
                          "expires_at": grant.expires_at.isoformat()}, commit=False)
    clause = agreements.load(request.agreement_version).purposes[request.purpose]
    for user_id in _employees_concerned(grant):
        if clause.notify == "at_grant":
            _send(Notification(grant_id=grant.id, user_id=user_id, kind="grant_issued", due_at=now), now)
        else:
            # Told at the close (revocation or expiry); the due time is set then.
            db.session.add(Notification(grant_id=grant.id, user_id=user_id, kind="grant_closed", due_at=None))
    return grant


def differs_from_issue(grant: Grant) -> list[str]:
    """The parts of the grant's row that differ from its grant_issued audit event (empty: none).
    The database refuses such changes (migration 0017); this catches one made with the triggers
    switched off, at every read through the grant."""
    issued = db.session.execute(select(AuditEvent).where(
        AuditEvent.grant_id == grant.id, AuditEvent.event_type == audit.GRANT_ISSUED)
        .order_by(AuditEvent.seq).limit(1)).scalar_one_or_none()
    if issued is None:
        return ["grant_issued"]
    details = json.loads(issued.details)
    filed_by = db.session.scalar(select(AuditEvent.actor_id).where(
        AuditEvent.request_id == grant.request_id, AuditEvent.event_type == audit.REQUEST_FILED)
        .order_by(AuditEvent.seq).limit(1))
    differs = {
        "categories": sorted(details.get("categories", [])) != sorted(grant.category_list),
        "period": details.get("period") != [grant.period_start.isoformat(), grant.period_end.isoformat()],
        "expires_at": datetime.fromisoformat(details["expires_at"]) != grant.expires_at,
        "purpose": issued.purpose != grant.purpose,
        "subject": (issued.subject_user_id, issued.subject_vehicle_id)
                   != (grant.subject_user_id, grant.subject_vehicle_id),
        "request": issued.request_id != grant.request_id,
        "holder": filed_by is not None and filed_by != grant.holder_id,
    }
    return sorted(name for name, differ in differs.items() if differ)


def report_tampered(grant: Grant, fields: list[str]) -> None:
    """A grant that differs from its issue: an audit event (committed), so it is noticed."""
    audit.record(audit.GRANT_TAMPERED, subject_user_id=grant.subject_user_id,
                 subject_vehicle_id=grant.subject_vehicle_id, purpose=grant.purpose if _is_name(grant.purpose) else None,
                 grant_id=grant.id, details={"fields": fields})


def _is_name(value: str | None) -> bool:
    """A purpose written by hand into the row may be no valid name; the event then omits it."""
    return bool(value) and audit._NAME.match(value) is not None


def _employees_concerned(grant: Grant) -> set[int]:
    """The named employee, or the drivers assigned to the named vehicle during the period."""
    if grant.subject_user_id is not None:
        return {grant.subject_user_id}
    rows = db.session.scalars(
        select(Assignment.driver_id).where(
            Assignment.vehicle_id == grant.subject_vehicle_id,
            Assignment.available_from <= grant.period_end,
            or_(Assignment.available_until.is_(None), Assignment.available_until >= grant.period_start)))
    return set(rows)


def _send(notification: Notification, now: datetime) -> None:
    """In-app delivery: the notification shows on the employee's "who saw my data" page; the
    e-mail is queued in the same transaction and sent by the "mail" job."""
    notification.sent_at = now
    db.session.add(notification)
    db.session.flush()
    audit.record(audit.NOTIFICATION_SENT, subject_user_id=notification.user_id,
                 grant_id=notification.grant_id, purpose=notification.grant.purpose if notification.grant else None,
                 details={"kind": notification.kind}, commit=False)
    notice_mail.queue_for(notification)  # and by e-mail, when a mail server is configured


def may_revoke(grant: Grant, user: User) -> bool:
    """The holder ends their own grant; a privacy officer or OR delegate ends any grant."""
    return user.id == grant.holder_id or user.has_role(Role.PRIVACY_OFFICER, Role.OR_DELEGATE)


def revoke(grant: Grant, user: User, reason: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    refusal = None
    if not may_revoke(grant, user):
        refusal = "only the grant's holder, a privacy officer or a works council delegate revokes a grant"
    elif grant.revoked_at is not None:
        refusal = "the grant was revoked already"
    elif now >= grant.expires_at:
        refusal = "the grant has expired already"
    elif not reason.strip():
        refusal = "a revocation needs a reason"
    if refusal:
        audit.record(audit.DECISION_REFUSED, actor=user, subject_user_id=grant.subject_user_id,
                     subject_vehicle_id=grant.subject_vehicle_id, purpose=grant.purpose, grant_id=grant.id,
                     details={"reason": refusal})
        raise GrantError(refusal)
    # The event first: the database lets a grant change only right after the event naming it.
    audit.record(audit.GRANT_REVOKED, actor=user, subject_user_id=grant.subject_user_id,
                 subject_vehicle_id=grant.subject_vehicle_id, purpose=grant.purpose, grant_id=grant.id,
                 request_id=grant.request_id, details={"reason": reason.strip()}, commit=False)
    grant.revoked_at = now
    grant.revoked_by_id = user.id
    grant.revoke_reason = reason.strip()
    db.session.flush()
    _close(grant, now)
    db.session.commit()


def _close(grant: Grant, closed_at: datetime) -> None:
    """Make the at-close notifications due, adding every employee whose data was read."""
    readers_subjects = set(db.session.scalars(
        select(audit.AuditEvent.subject_user_id).where(
            audit.AuditEvent.grant_id == grant.id, audit.AuditEvent.event_type == audit.READ,
            audit.AuditEvent.subject_user_id.is_not(None)).distinct()))
    existing = {n.user_id: n for n in db.session.scalars(
        select(Notification).where(Notification.grant_id == grant.id))}
    for user_id in readers_subjects - set(existing):
        db.session.add(Notification(grant_id=grant.id, user_id=user_id, kind="grant_closed",
                                    due_at=closed_at))
    for notification in existing.values():
        if notification.kind == "grant_closed" and notification.due_at is None:
            notification.due_at = closed_at


def mark_expired(now: datetime | None = None) -> int:
    """Job: close grants past their expiry (reads are refused at expiry anyway). Returns the count."""
    now = now or utcnow()
    due = list(db.session.scalars(select(Grant).where(
        Grant.expires_at <= now, Grant.revoked_at.is_(None), Grant.expired_marked_at.is_(None))))
    for grant in due:
        audit.record(audit.GRANT_EXPIRED, subject_user_id=grant.subject_user_id,
                     subject_vehicle_id=grant.subject_vehicle_id, purpose=grant.purpose,
                     grant_id=grant.id, request_id=grant.request_id, commit=False)
        grant.expired_marked_at = now  # right after its event (the database checks that)
        db.session.flush()
        _close(grant, grant.expires_at)
    db.session.commit()
    return len(due)


def expire_requests(now: datetime | None = None) -> int:
    """Job: pending requests past their decision deadline become expired."""
    now = now or utcnow()
    due = list(db.session.scalars(select(AccessRequest).where(
        AccessRequest.status == RequestStatus.PENDING.value, AccessRequest.decide_by <= now)))
    for request in due:
        request.status = RequestStatus.EXPIRED.value
        request.decided_at = now
        audit.record(audit.REQUEST_EXPIRED, subject_user_id=request.subject_user_id,
                     subject_vehicle_id=request.subject_vehicle_id, purpose=request.purpose,
                     request_id=request.id, commit=False)
    db.session.commit()
    return len(due)


def send_due_notifications(now: datetime | None = None) -> int:
    """Job: deliver every notification whose time has come. Returns the count."""
    now = now or utcnow()
    due = list(db.session.scalars(select(Notification).where(
        Notification.sent_at.is_(None), Notification.due_at.is_not(None), Notification.due_at <= now)))
    for notification in due:
        _send(notification, now)
    db.session.commit()
    return len(due)


def grants_held_by(user: User, purpose: str | None = None) -> list[Grant]:
    statement = select(Grant).where(Grant.holder_id == user.id).order_by(Grant.issued_at.desc())
    if purpose:
        statement = statement.where(Grant.purpose == purpose)
    return list(db.session.scalars(statement))


def notifications_for(user_id: int) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user_id, Notification.sent_at.is_not(None)).order_by(Notification.sent_at.desc())))
