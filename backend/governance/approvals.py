"""Deciding on requests: two approvals by two people in the clause's two roles, never the
requester, never the employee concerned, never one person twice. One denial ends a request.

A request is judged by the version it was filed under; when a newer version came in force
before the decision, an approval must also satisfy that one (the stricter wins)."""
from __future__ import annotations

from datetime import date, datetime

from backend import audit
from backend.governance import agreements, grants
from backend.access.purposes import categories_text
from backend.governance.requests import RequestInput, RequestRefused, check_against_agreement
from backend.db import db, utcnow
from backend.models.access import AccessRequest, Approval, Decision, Grant, RequestStatus
from backend.models.accounts import Role, User


def _refuse(request: AccessRequest, actor: User, reason: str) -> RequestRefused:
    audit.record(audit.DECISION_REFUSED, actor=actor, subject_user_id=request.subject_user_id,
                 subject_vehicle_id=request.subject_vehicle_id, purpose=request.purpose,
                 request_id=request.id, details={"reason": reason})
    return RequestRefused(reason)


def open_roles(request: AccessRequest) -> list[str]:
    """The clause's approver roles nobody has approved in yet (in the clause's order)."""
    clause = agreements.load(request.agreement_version).purposes[request.purpose]
    used = {approval.role for approval in request.approvals}
    return [role for role in clause.approver_roles if role not in used]


def can_decide(request: AccessRequest, user: User, now: datetime | None = None) -> str | None:
    """Why this user may not decide now (None: they may)."""
    now = now or utcnow()
    if request.status != RequestStatus.PENDING.value:
        return f"the request is already {request.status}"
    if now >= request.decide_by:
        return "the request expired before it was decided"
    if user.id == request.requester_id:
        return "the requester cannot decide on their own request"
    if user.id == request.subject_user_id:
        return "the employee concerned cannot decide on a request about their own data"
    if any(approval.approver_id == user.id for approval in request.approvals):
        return "you decided on this request already; the other approval must come from another person"
    roles = {role.value for role in user.roles}
    if not roles & set(open_roles(request)):
        clause = agreements.load(request.agreement_version).purposes[request.purpose]
        return (f"purpose {clause.id}: approver_roles {list(clause.approver_roles)} - "
                "none of your roles is still open for this request")
    return None


def decide(request: AccessRequest, user: User, decision: Decision | str, reason: str, *,
           period_start: date | None = None, period_end: date | None = None,
           categories: list[str] | None = None, grant_days: int | None = None,
           now: datetime | None = None) -> Grant | None:
    """Record an approval or denial. The second approval issues the grant (returned).

    An approver may narrow the scope (period, categories, duration); never widen it."""
    now = now or utcnow()
    decision = Decision(decision)
    refusal = can_decide(request, user, now)
    if refusal is None and not reason.strip():
        refusal = "a decision needs a reason"
    scope = None
    if refusal is None and decision is Decision.APPROVE:
        scope = (period_start or request.period_start, period_end or request.period_end,
                 sorted(set(categories)) if categories is not None else request.category_list,
                 grant_days or request.grant_days)
        if not (request.period_start <= scope[0] <= scope[1] <= request.period_end):
            refusal = "an approval can narrow the requested period, never widen it"
        elif not scope[2] or not set(scope[2]) <= set(request.category_list):
            refusal = "an approval can narrow the requested data categories, never widen them"
        elif not 1 <= scope[3] <= request.grant_days:
            refusal = "an approval can shorten the requested duration, never lengthen it"
    role = None
    if refusal is None:
        role = next(r for r in open_roles(request) if user.has_role(Role(r)))
    if refusal is None and decision is Decision.APPROVE:
        refusal = _refusal_by_version_in_force(request, role, scope, now)
    if refusal is not None:
        raise _refuse(request, user, refusal)

    approval = Approval(request_id=request.id, approver_id=user.id, role=role, decision=decision.value,
                        reason=reason.strip(), at=now)
    if scope is not None:
        approval.period_start, approval.period_end = scope[0], scope[1]
        approval.categories, approval.grant_days = categories_text(scope[2]), scope[3]
    db.session.add(approval)
    db.session.flush()
    db.session.refresh(request, ["approvals"])
    event = audit.REQUEST_APPROVED if decision is Decision.APPROVE else audit.REQUEST_DENIED
    audit.record(event, actor=user, subject_user_id=request.subject_user_id,
                 subject_vehicle_id=request.subject_vehicle_id, purpose=request.purpose,
                 request_id=request.id, details={"role": role, "reason": reason.strip()}, commit=False)
    grant = None
    if decision is Decision.DENY:
        request.status = RequestStatus.DENIED.value
        request.decided_at = now
    elif not open_roles(request):
        grant = grants.issue(request, now)
    db.session.commit()
    return grant


def _refusal_by_version_in_force(request: AccessRequest, role: str, scope: tuple, now: datetime) -> str | None:
    """Why the version in force now forbids this approval, when it is not the request's own.

    The approved scope is checked as if filed again under it (on the original filing day, so the
    period's reach is measured as before), and the approver's role must be one it names too."""
    current = agreements.in_force(now)
    if current is None or current.id == request.agreement_version_id:
        return None
    agreement = agreements.load(current)
    scoped = RequestInput(
        purpose=request.purpose, subject_user_id=request.subject_user_id,
        subject_vehicle_id=request.subject_vehicle_id, period_start=scope[0], period_end=scope[1],
        categories=tuple(scope[2]), grant_days=scope[3], grounds_category=request.grounds_category,
        motivation=request.motivation)
    reason = check_against_agreement(request.requester, scoped, agreement, current.label, request.filed_at)
    if reason is None and role not in agreement.purposes[request.purpose].approver_roles:
        reason = (f"purpose {request.purpose}: approver_roles "
                  f"{list(agreement.purposes[request.purpose].approver_roles)} do not include {role}")
    if reason is None:
        return None
    return (f"agreement version {current.label} in force now: {reason} (a request is judged by the "
            "version it was filed under and by the one in force at the decision; the stricter wins)")
