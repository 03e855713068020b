"""Filing a purpose-change request: judged at once by the agreement version in force.

Whatever the agreement does not allow is refused with the clause that forbids it; a refused
request is not stored, only audited.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from backend import audit
from backend.governance import agreements
from backend.access.purposes import CATEGORIES, SUBJECT_EMPLOYEE, SUBJECT_VEHICLE, categories_text
from backend.db import db, utcnow
from backend.local_time import LOCAL
from backend.models.access import AccessRequest, RequestStatus
from backend.models.accounts import User
from backend.models.fleet import Vehicle



class RequestRefused(ValueError):
    """A request (or a decision on it) the agreement or the rules do not allow."""


@dataclass(frozen=True)
class RequestInput:
    purpose: str
    subject_user_id: int | None
    subject_vehicle_id: int | None
    period_start: date
    period_end: date
    categories: tuple[str, ...]
    grant_days: int
    grounds_category: str
    motivation: str


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(LOCAL).date()


def _refuse(requester: User, data: RequestInput, version_id: int | None, reason: str) -> RequestRefused:
    audit.record(audit.REQUEST_REFUSED, actor=requester, subject_user_id=data.subject_user_id,
                 subject_vehicle_id=data.subject_vehicle_id, purpose=data.purpose,
                 details={"agreement_version_id": version_id, "reason": reason})
    return RequestRefused(reason)


def file_request(requester: User, data: RequestInput, now: datetime | None = None) -> AccessRequest:
    """Store a pending request, or raise RequestRefused naming the clause (audited either way)."""
    now = now or utcnow()
    version = agreements.in_force(now)
    if version is None:
        raise _refuse(requester, data, None, "no agreement is in force: the works council's consent "
                                             "to an agreement version has not been recorded")
    reason = check_against_agreement(requester, data, agreements.load(version), version.label, now)
    if reason:
        raise _refuse(requester, data, version.id, reason)
    agreement = agreements.load(version)
    request = AccessRequest(
        agreement_version_id=version.id, purpose=data.purpose, requester_id=requester.id,
        subject_user_id=data.subject_user_id, subject_vehicle_id=data.subject_vehicle_id,
        period_start=data.period_start, period_end=data.period_end,
        categories=categories_text(data.categories), grant_days=data.grant_days,
        grounds_category=data.grounds_category, motivation=data.motivation.strip(),
        status=RequestStatus.PENDING.value, filed_at=now,
        decide_by=now + timedelta(days=agreement.rule("request_decision_days")))
    db.session.add(request)
    db.session.flush()
    audit.record(audit.REQUEST_FILED, actor=requester, subject_user_id=data.subject_user_id,
                 subject_vehicle_id=data.subject_vehicle_id, purpose=data.purpose, request_id=request.id,
                 details={"agreement_version_id": version.id, "categories": request.category_list,
                          "period": [data.period_start.isoformat(), data.period_end.isoformat()],
                          "grounds_category": data.grounds_category}, commit=False)
    db.session.commit()
    return request


def check_against_agreement(requester: User, data: RequestInput, agreement: agreements.Agreement,
                            label: str, now: datetime) -> str | None:
    """The first rule the request breaks, as a sentence naming the clause; None if allowed."""
    clause = agreement.purposes.get(data.purpose)
    if clause is None:
        return (f"purpose {data.purpose}: not a purpose of agreement version {label} "
                f"(its purposes: {', '.join(sorted(agreement.purposes)) or 'none'})")
    name = f"purpose {clause.id}"
    roles = {role.value for role in requester.roles}
    if not roles & clause.requester_roles:
        return f"{name}: requester_roles {sorted(clause.requester_roles)} do not include your roles"
    if data.subject_user_id is None and data.subject_vehicle_id is None:
        return f"{name}: a request names one employee or one vehicle"
    if not ((data.subject_user_id is not None and SUBJECT_EMPLOYEE in clause.subjects)
            or (data.subject_vehicle_id is not None and SUBJECT_VEHICLE in clause.subjects)):
        return f"{name}: max_scope.subjects allows only {', '.join(sorted(clause.subjects))}"
    if data.subject_user_id is not None:
        if data.subject_user_id == requester.id:
            return f"{name}: a requester cannot request access to their own data"
        if db.session.get(User, data.subject_user_id) is None:
            return f"{name}: employee {data.subject_user_id} does not exist"
    if data.subject_vehicle_id is not None and db.session.get(Vehicle, data.subject_vehicle_id) is None:
        return f"{name}: vehicle {data.subject_vehicle_id} does not exist"
    unknown = [c for c in data.categories if c not in CATEGORIES]
    if unknown or not data.categories:
        return f"{name}: data categories must be among {', '.join(CATEGORIES)}"
    extra = sorted(set(data.categories) - clause.max_categories)
    if extra:
        return (f"{name}: max_scope.data_categories does not include {', '.join(extra)} "
                f"(allowed: {', '.join(sorted(clause.max_categories))})")
    today = local_today(now)
    if data.period_end < data.period_start:
        return f"{name}: the period ends before it starts"
    if data.period_end > today:
        return f"{name}: the period ends in the future; a grant covers only trips already made"
    back = (today - data.period_start).days
    if back > clause.max_period_days:
        return f"{name}: max_period_days {clause.max_period_days} exceeded (requested {back})"
    if not 1 <= data.grant_days <= clause.max_grant_days:
        return f"{name}: max_grant_days {clause.max_grant_days} exceeded (requested {data.grant_days})"
    if data.grounds_category not in clause.grounds_categories:
        return (f"{name}: grounds category {data.grounds_category!r} is not one of "
                f"{', '.join(clause.grounds_categories)}")
    if len(data.motivation.strip()) < clause.motivation_min_chars:
        return (f"{name}: the written motivation needs at least {clause.motivation_min_chars} characters "
                f"(given {len(data.motivation.strip())})")
    return None


def get(request_id: int) -> AccessRequest | None:
    return db.session.get(AccessRequest, request_id)


def list_requests(status: str | None = None) -> list[AccessRequest]:
    statement = select(AccessRequest).order_by(AccessRequest.filed_at.desc(), AccessRequest.id.desc())
    if status:
        statement = statement.where(AccessRequest.status == status)
    return list(db.session.scalars(statement))
