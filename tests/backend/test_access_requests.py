"""Requests, approvals, grants, revocation, expiry and notifications (no trip data involved)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend import audit, jobs
from backend.governance import agreements, approvals, grants, requests
from backend.governance.requests import RequestRefused
from backend.db import db, utcnow
from backend.models.access import AccessRequest, Approval, Grant, Notification
from backend.models.audit import AuditEvent
from tests.backend.access_support import (granted, make_people, make_vehicle, people_under_agreement,
                                          request_input, user)


def _events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)
                                   .order_by(AuditEvent.seq)))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def people(app, make_user):
    return people_under_agreement(app, make_user)


@pytest.mark.parametrize("kwargs, message", [
    (dict(days_back=200), "purpose misuse_investigation: max_period_days 90 exceeded (requested 200)"),
    (dict(grant_days=30), "purpose misuse_investigation: max_grant_days 14 exceeded (requested 30)"),
    (dict(purpose="hours_verification", categories=("trip_summaries", "business_tracks"),
          grounds="hours_declaration_mismatch"),
     "purpose hours_verification: max_scope.data_categories does not include business_tracks"),
    (dict(purpose="covert_tracking"), "purpose covert_tracking: not a purpose of agreement version 2026-1"),
    (dict(grounds="gut_feeling"), "purpose misuse_investigation: grounds category 'gut_feeling' is not one of"),
    (dict(motivation="vermoeden"), "the written motivation needs at least 40 characters (given 9)"),
    (dict(purpose="hours_verification", grounds="hours_declaration_mismatch", subject=None, vehicle=True),
     "purpose hours_verification: max_scope.subjects allows only employee"),
])
def test_a_request_outside_the_agreement_is_refused_naming_the_clause(app, people, kwargs, message) -> None:
    kwargs = dict(kwargs)  # the parameter dict is shared by the sqlite and postgresql runs
    with app.app_context():
        vehicle = make_vehicle() if kwargs.pop("vehicle", False) else None
        subject = kwargs.pop("subject", people.driver)
        data = request_input(subject, vehicle_id=vehicle, **kwargs)
        with pytest.raises(RequestRefused) as caught:
            requests.file_request(user(people.manager), data)
        assert message in str(caught.value)
        assert _count(AccessRequest) == 0  # nothing stored
        refused = _events(audit.REQUEST_REFUSED)
        assert len(refused) == 1 and message in json.loads(refused[0].details)["reason"]
        assert refused[0].actor_id == people.manager


def test_only_the_clause_requester_roles_may_file(app, people) -> None:
    with app.app_context():
        with pytest.raises(RequestRefused, match="requester_roles \\['manager'\\] do not include your roles"):
            requests.file_request(user(people.finance), request_input(people.driver))


def test_a_request_without_consented_agreement_is_refused(app, make_user) -> None:
    people = make_people(make_user)
    with app.app_context():
        agreements.upload((__import__("tests.backend.access_support", fromlist=["x"]).example_text()),
                          user(people.privacy))  # uploaded, never consented
        with pytest.raises(RequestRefused, match="no agreement is in force"):
            requests.file_request(user(people.manager), request_input(people.driver))
        assert _count(AccessRequest) == 0


def test_the_future_and_own_data_are_refused(app, people) -> None:
    with app.app_context():
        data = request_input(people.driver)
        future = data.__class__(**{**data.__dict__, "period_end": requests.local_today() + timedelta(days=3)})
        with pytest.raises(RequestRefused, match="ends in the future"):
            requests.file_request(user(people.manager), future)
        with pytest.raises(RequestRefused, match="their own data"):
            requests.file_request(user(people.manager), request_input(people.manager))


def test_two_approvals_by_the_two_roles_issue_a_grant_with_the_requested_scope(app, people) -> None:
    with app.app_context():
        data = request_input(people.driver, categories=("trip_summaries", "private_trip_details"), grant_days=5)
        request = requests.file_request(user(people.manager), data)
        assert request.agreement_version_id == agreements.in_force().id
        assert approvals.decide(request, user(people.or_delegate), "approve", "Voldoende onderbouwd.") is None
        assert request.status == "pending"
        grant = approvals.decide(request, user(people.privacy), "approve", "Akkoord.")
        assert request.status == "approved"
        assert (grant.subject_user_id, grant.period_start, grant.period_end) == \
            (people.driver, data.period_start, data.period_end)
        assert grant.category_list == ["private_trip_details", "trip_summaries"]
        assert grant.holder_id == people.manager
        assert grant.expires_at - grant.issued_at == timedelta(days=5)
        types = [e.event_type for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        assert types[-4:] == [audit.REQUEST_FILED, audit.REQUEST_APPROVED, audit.REQUEST_APPROVED,
                              audit.GRANT_ISSUED]
        assert audit.verify().ok


def test_an_approver_may_narrow_but_never_widen(app, people) -> None:
    with app.app_context():
        data = request_input(people.driver, categories=("trip_summaries", "business_tracks"), grant_days=10)
        request = requests.file_request(user(people.manager), data)
        with pytest.raises(RequestRefused, match="never widen"):
            approvals.decide(request, user(people.or_delegate), "approve", "ok",
                             categories=["trip_summaries", "private_trip_details"])
        with pytest.raises(RequestRefused, match="never lengthen"):
            approvals.decide(request, user(people.or_delegate), "approve", "ok", grant_days=11)
        approvals.decide(request, user(people.or_delegate), "approve", "Alleen ritoverzichten.",
                         categories=["trip_summaries"])
        narrower_start = data.period_start + timedelta(days=10)
        grant = approvals.decide(request, user(people.privacy), "approve", "Kortere periode.",
                                 period_start=narrower_start, grant_days=3)
        assert grant.category_list == ["trip_summaries"]
        assert grant.period_start == narrower_start
        assert grant.expires_at - grant.issued_at == timedelta(days=3)


@pytest.mark.parametrize("who, message", [
    ("manager", "the requester cannot decide on their own request"),
    ("driver", "the employee concerned cannot decide"),
    ("other_manager", "none of your roles is still open"),
    ("finance", "none of your roles is still open"),
])
def test_wrong_deciders_are_refused_and_audited(app, people, who, message) -> None:
    with app.app_context():
        request = requests.file_request(user(people.manager), request_input(people.driver))
        with pytest.raises(RequestRefused, match=message):
            approvals.decide(request, user(getattr(people, who)), "approve", "ja")
        assert _count(Approval) == 0
        assert message in json.loads(_events(audit.DECISION_REFUSED)[-1].details)["reason"]


def test_one_person_never_counts_twice_even_with_both_roles(app, people) -> None:
    with app.app_context():
        request = requests.file_request(user(people.manager), request_input(people.driver))
        approvals.decide(request, user(people.both), "approve", "Als OR-lid akkoord.")
        with pytest.raises(RequestRefused, match="decided on this request already"):
            approvals.decide(request, user(people.both), "approve", "En als privacy officer.")
        assert request.status == "pending"
        assert [a.role for a in request.approvals] == ["or_delegate"]
        # The remaining role is privacy_officer: another OR delegate cannot fill it.
        with pytest.raises(RequestRefused, match="none of your roles is still open"):
            approvals.decide(request, user(people.or_delegate), "approve", "ook akkoord")
        grant = approvals.decide(request, user(people.privacy), "approve", "akkoord")
        assert grant is not None


def test_a_denial_ends_the_request_and_later_decisions_are_refused(app, people) -> None:
    with app.app_context():
        request = requests.file_request(user(people.manager), request_input(people.driver))
        approvals.decide(request, user(people.privacy), "deny", "Geen concrete aanwijzing.")
        assert request.status == "denied"
        with pytest.raises(RequestRefused, match="already denied"):
            approvals.decide(request, user(people.or_delegate), "approve", "toch wel")
        assert _count(Grant) == 0


def test_a_decision_needs_a_reason(app, people) -> None:
    with app.app_context():
        request = requests.file_request(user(people.manager), request_input(people.driver))
        with pytest.raises(RequestRefused, match="needs a reason"):
            approvals.decide(request, user(people.privacy), "approve", "   ")


def test_an_expired_request_cannot_be_approved_and_the_job_marks_it(app, people) -> None:
    with app.app_context():
        request = requests.file_request(user(people.manager), request_input(people.driver))
        later = request.decide_by + timedelta(minutes=1)
        with pytest.raises(RequestRefused, match="expired before it was decided"):
            approvals.decide(request, user(people.privacy), "approve", "akkoord", now=later)
        assert grants.expire_requests(now=later) == 1
        assert db.session.get(AccessRequest, request.id).status == "expired"
        with pytest.raises(RequestRefused, match="already expired"):
            approvals.decide(request, user(people.privacy), "approve", "akkoord")


def _stricter_version_in_force(people, *replacements) -> None:
    from tests.backend.access_support import consent_day, example_text, shown
    text = example_text().replace('version: "2026-1"', 'version: "2026-2"')
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    version = agreements.upload(text, user(people.privacy))
    agreements.record_consent(version, user(people.or_delegate), consent_day(), "OR-2026-030", text_sha256=shown(version))


def test_a_request_is_judged_by_its_version_and_the_stricter_one_in_force_at_decision(app, people) -> None:
    """Filed under 2026-1 (90 days back, 14-day grants); 2026-2 (30 days back) came in force
    before the decision: the stricter wins, so the request can no longer be approved, only
    denied. The grant stays bound to the version it was filed under."""
    with app.app_context():
        request = requests.file_request(user(people.manager), request_input(people.driver, days_back=80))
        first_version = request.agreement_version_id
        _stricter_version_in_force(people, ("max_period_days: 90", "max_period_days: 30"))
        with pytest.raises(RequestRefused, match="max_period_days 30 exceeded \\(requested 80\\)"):
            requests.file_request(user(people.manager), request_input(people.driver, days_back=80))
        with pytest.raises(RequestRefused, match="agreement version 2026-2 in force now: purpose "
                                                 "misuse_investigation: max_period_days 30 exceeded"):
            approvals.decide(request, user(people.or_delegate), "approve", "akkoord")
        assert request.approvals == [] and request.status == "pending"
        # Narrowed to what both versions allow, it can be approved; it stays under 2026-1.
        narrowed = dict(period_start=requests.local_today() - timedelta(days=20))
        approvals.decide(request, user(people.or_delegate), "approve", "akkoord", **narrowed)
        grant = approvals.decide(request, user(people.privacy), "approve", "akkoord", **narrowed)
        assert grant.agreement_version_id == first_version
        assert grant.period_start == narrowed["period_start"]


def test_a_purpose_the_new_version_dropped_can_only_be_denied(app, people) -> None:
    with app.app_context():
        request = requests.file_request(user(people.manager), request_input(
            people.driver, purpose="hours_verification", grounds="hours_declaration_mismatch", days_back=20))
        _stricter_version_in_force(people, ("id: hours_verification", "id: hours_check"))
        with pytest.raises(RequestRefused, match="not a purpose of agreement version 2026-2"):
            approvals.decide(request, user(people.or_delegate), "approve", "akkoord")
        approvals.decide(request, user(people.or_delegate), "deny", "De regeling staat dit niet meer toe.")
        assert request.status == "denied"


def test_approver_roles_of_a_newer_version_bind_too(app, people) -> None:
    """2026-2 asks for a manager instead of the privacy officer: an approval in a role the version
    in force no longer names is refused."""
    with app.app_context():
        request = requests.file_request(user(people.manager), request_input(people.driver, days_back=20))
        _stricter_version_in_force(people, ("approver_roles: [or_delegate, privacy_officer]\n    max_scope:\n"
                                            "      data_categories: [trip_summaries, business_tracks, private",
                                            "approver_roles: [or_delegate, finance]\n    max_scope:\n"
                                            "      data_categories: [trip_summaries, business_tracks, private"))
        approvals.decide(request, user(people.or_delegate), "approve", "akkoord")
        with pytest.raises(RequestRefused, match="approver_roles"):
            approvals.decide(request, user(people.privacy), "approve", "akkoord")
        assert request.grant is None


def test_revocation_by_holder_or_officers_only(app, people) -> None:
    with app.app_context():
        grant = granted(people)
        with pytest.raises(grants.GrantError, match="only the grant's holder"):
            grants.revoke(grant, user(people.other_manager), "weg ermee")
        assert grant.revoked_at is None
        grants.revoke(grant, user(people.privacy), "Onderzoek afgerond.")
        assert grant.revoked_at is not None
        with pytest.raises(grants.GrantError, match="revoked already"):
            grants.revoke(grant, user(people.manager), "nogmaals")
        assert [e.grant_id for e in _events(audit.GRANT_REVOKED)] == [grant.id]


def test_at_close_notification_is_sent_after_revocation_by_the_job(app, people) -> None:
    with app.app_context():
        grant = granted(people)  # misuse_investigation: at_close_within_days 14
        note = db.session.scalars(select(Notification)).one()
        assert (note.user_id, note.kind, note.due_at, note.sent_at) == (people.driver, "grant_closed", None, None)
        assert jobs.send_notifications() == 0  # not due while the grant is open
        grants.revoke(grant, user(people.manager), "Klaar.")
        assert jobs.send_notifications() == 1
        assert db.session.get(Notification, note.id).sent_at is not None
        assert [n.id for n in grants.notifications_for(people.driver)] == [note.id]
        sent = _events(audit.NOTIFICATION_SENT)
        assert [(e.subject_user_id, e.grant_id) for e in sent] == [(people.driver, grant.id)]


def test_at_grant_notification_is_sent_at_once(app, people) -> None:
    with app.app_context():
        grant = granted(people, purpose="hours_verification", grounds="hours_declaration_mismatch")
        note = db.session.scalars(select(Notification)).one()
        assert (note.kind, note.sent_at is not None) == ("grant_issued", True)
        assert grants.notifications_for(people.driver)[0].grant_id == grant.id


def test_the_expiry_job_marks_and_notifies(app, people) -> None:
    with app.app_context():
        grant = granted(people)
        assert grants.mark_expired() == 0
        later = grant.expires_at + timedelta(seconds=1)
        assert grants.mark_expired(now=later) == 1
        assert grants.mark_expired(now=later) == 0  # marked once
        assert grants.send_due_notifications(now=later) == 1
        assert [e.grant_id for e in _events(audit.GRANT_EXPIRED)] == [grant.id]


def test_a_vehicle_grant_notifies_the_drivers_assigned_in_the_period(app, people) -> None:
    from backend.models.fleet import Assignment
    with app.app_context():
        vehicle = make_vehicle()
        data = request_input(None, vehicle_id=vehicle)
        db.session.add(Assignment(driver_id=people.driver, vehicle_id=vehicle,
                                  available_from=data.period_start - timedelta(days=100),
                                  available_until=data.period_start + timedelta(days=3)))
        db.session.add(Assignment(driver_id=people.other_driver, vehicle_id=vehicle,
                                  available_from=data.period_start + timedelta(days=4), available_until=None))
        db.session.commit()
        request = requests.file_request(user(people.manager), data)
        approvals.decide(request, user(people.or_delegate), "approve", "akkoord")
        grant = approvals.decide(request, user(people.privacy), "approve", "akkoord")
        assert grant.subject_vehicle_id == vehicle and grant.subject_user_id is None
        assert {n.user_id for n in db.session.scalars(select(Notification))} == {people.driver, people.other_driver}


def test_jobs_run_once_across_workers(app, people) -> None:
    """Two schedulers firing at the same moment: only one takes the lock row."""
    with app.app_context():
        now = utcnow()
        assert jobs.acquire("grant_expiry", holder="worker-a", ttl=timedelta(minutes=5), now=now)
        assert not jobs.acquire("grant_expiry", holder="worker-b", ttl=timedelta(minutes=5), now=now)
        assert jobs.acquire("grant_expiry", holder="worker-b", ttl=timedelta(minutes=5),
                            now=now + timedelta(minutes=6))
