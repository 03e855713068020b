"""The access pages over HTTP: an authorization matrix (every page x every role x grant state),
the forms' refusals, and what the driver's "who saw my data" shows when."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend import audit
from backend.governance import approvals, grants, requests
from backend.db import db
from backend.models.access import AgreementVersion, Grant
from backend.models.audit import AuditEvent
from tests.backend.access_support import (MOTIVATION, Fleet, agreement_in_force, consent_day, example_text, granted,
                                          make_people, request_input, user)

ROLES = ["driver", "other_driver", "finance", "manager", "other_manager", "or_delegate", "privacy", "admin"]
EMAILS = {"driver": "daan@example.nl", "other_driver": "eva@example.nl", "finance": "fatima@example.nl",
          "manager": "mark@example.nl", "other_manager": "mila@example.nl", "or_delegate": "olga@example.nl",
          "privacy": "pieter@example.nl", "admin": "anna@example.nl"}
STATES = ["none", "active", "expired", "revoked"]
APPROVERS = {"or_delegate", "privacy"}
REQUEST_ROLES = {"manager", "other_manager", "or_delegate", "privacy"}


def expected(role: str, state: str) -> dict[str, int]:
    """The one status each page must answer for this role and grant state."""
    can_enter = role in REQUEST_ROLES
    if not can_enter:
        grant_page = 403  # the role check comes first
    elif state == "none":
        grant_page = 404
    elif role == "manager" and state == "active":
        grant_page = 200
    else:
        grant_page = 403  # the door refuses: not the holder, expired or revoked
    return {
        "agreements": 200,
        "agreement": 200,
        "requests": 200 if can_enter else 403,
        "new_request": 200 if role in {"manager", "other_manager"} else 403,
        "request": 200 if role in {"manager"} | APPROVERS else 403,
        "grant_trips": grant_page,
        "grant_track": 403 if grant_page == 200 else grant_page,  # routes were never granted
        "grant_track_other": 403 if grant_page == 200 else grant_page,
        "audit_log": 200 if role in APPROVERS else 403,
        "access_log": 200,
    }


@pytest.fixture
def setting(app, make_user, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    people = make_people(make_user)
    with app.app_context():
        version_id = agreement_in_force(people).id
        fleet = Fleet(people.driver, people.other_driver)
    return people, fleet, version_id


def _make_state(app, people, state: str) -> tuple[int, int]:
    """(request id, grant id) for a grant in the given state (grant id 1 when there is none)."""
    with app.app_context():
        if state == "none":
            request = requests.file_request(user(people.manager), request_input(people.driver))
            return request.id, 1
        if state == "expired":
            # Decided a month ago: the grant (and its grant_issued event) expired since. A grant's
            # dates cannot be moved afterwards (the database refuses, migration 0017).
            from backend.db import utcnow
            request = requests.file_request(user(people.manager), request_input(people.driver))
            past = utcnow() - timedelta(days=30)
            approvals.decide(request, user(people.or_delegate), "approve", "Concrete aanwijzing, beperkt.", now=past)
            grant = approvals.decide(request, user(people.privacy), "approve", "Akkoord binnen de regeling.", now=past)
        else:
            grant = granted(people)
        if state == "revoked":
            grants.revoke(grant, user(people.privacy), "Klaar.")
        return grant.request_id, grant.id


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(app, client, login, setting, role: str, state: str) -> None:
    people, fleet, version_id = setting
    request_id, grant_id = _make_state(app, people, state)
    urls = {
        "agreements": "/agreements/",
        "agreement": f"/agreements/{version_id}",
        "requests": "/access/requests",
        "new_request": "/access/requests/new",
        "request": f"/access/requests/{request_id}",
        "grant_trips": f"/access/grants/{grant_id}/trips",
        "grant_track": f"/access/grants/{grant_id}/trips/{fleet.trips['business']}/track",
        "grant_track_other": f"/access/grants/{grant_id}/trips/{fleet.trips['other']}/track",
        "audit_log": "/audit/log",
        "access_log": "/me/access-log",
    }
    assert login(EMAILS[role]).status_code == 302
    answered = {name: client.get(url).status_code for name, url in urls.items()}
    assert answered == expected(role, state)
    if expected(role, state)["grant_trips"] == 403 and role in REQUEST_ROLES:
        with app.app_context():  # the refusal itself was audited
            denied = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == audit.READ_DENIED,
                                                                 AuditEvent.actor_id == getattr(people, role)))
            assert len(list(denied)) >= 1


def test_logged_out_visitors_are_sent_to_the_login(client, setting) -> None:
    for url in ("/agreements/", "/access/requests", "/audit/log", "/me/access-log"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_refused_read_answers_json_to_an_api_client(app, client, login, setting) -> None:
    people, fleet, _ = setting
    _, grant_id = _make_state(app, people, "revoked")
    login(EMAILS["manager"])
    response = client.get(f"/access/grants/{grant_id}/trips", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.json == {"error": "access_denied", "message": f"grant {grant_id}: revoked"}


def test_filing_through_the_form_refuses_naming_the_clause(app, client, login, setting) -> None:
    people, fleet, _ = setting
    login(EMAILS["manager"])
    data = request_input(people.driver, days_back=200)
    form = {"purpose": "misuse_investigation", "subject_user_id": str(people.driver), "subject_vehicle_id": "",
            "period_start": data.period_start.isoformat(), "period_end": data.period_end.isoformat(),
            "categories": ["trip_summaries"], "grant_days": "7", "grounds_category": "undeclared_private_use",
            "motivation": MOTIVATION}
    response = client.post("/access/requests/new", data=form)
    assert response.status_code == 422
    assert "max_period_days 90 exceeded (requested 200)" in response.get_data(as_text=True)
    form["period_start"] = (data.period_start + timedelta(days=150)).isoformat()
    response = client.post("/access/requests/new", data=form)
    assert response.status_code == 303
    with app.app_context():
        assert [r.purpose for r in requests.list_requests()] == ["misuse_investigation"]


def test_an_approver_cannot_approve_twice_over_http(app, client, login, setting) -> None:
    people, fleet, _ = setting
    with app.app_context():
        request_id = requests.file_request(user(people.manager), request_input(people.driver)).id
    login("bram@example.nl")  # OR delegate and privacy officer in one person
    for _ in range(2):
        response = client.post(f"/access/requests/{request_id}/decide",
                               data={"decision": "approve", "reason": "akkoord"}, follow_redirects=True)
        assert response.status_code == 200
    assert "you decided on this request already" in response.get_data(as_text=True)
    with app.app_context():
        assert len(requests.get(request_id).approvals) == 1


def test_upload_and_consent_pages(app, client, login, setting) -> None:
    people, _, first_id = setting
    login(EMAILS["privacy"])
    bad = example_text().replace("private_positions: sealed", "private_positions: open")
    response = client.post("/agreements/upload", data={"document": (io.BytesIO(bad.encode()), "r.yaml")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "private_positions: &#39;open&#39; is not one of" in response.get_data(as_text=True)
    good = example_text().replace('version: "2026-1"', 'version: "2026-2"')
    response = client.post("/agreements/upload", data={"text": good})
    assert response.status_code == 303
    with app.app_context():
        second = db.session.scalar(select(AgreementVersion).where(AgreementVersion.label == "2026-2"))
    assert client.post(f"/agreements/{second.id}/consent",
                       data={"consent_date": consent_day().isoformat(), "reference": "OR-9"}).status_code == 403
    client.post("/logout")
    login(EMAILS["or_delegate"])
    page = client.get(f"/agreements/{second.id}").get_data(as_text=True)
    shown_sha256 = re.search(r'data-testid="regeling-sha256">([0-9a-f]{64})<', page).group(1)
    response = client.post(f"/agreements/{second.id}/consent", data={"consent_date": consent_day().isoformat(),
                                                                      "reference": "OR-2026-021",
                                                                      "regeling_sha256": shown_sha256})
    assert response.status_code == 303
    page = client.get("/agreements/").get_data(as_text=True)
    assert "Van kracht: versie 2026-2" in page


def _visible_types(app, driver_id: int) -> list[str]:
    from backend.governance.web import visible_events_for
    with app.app_context():
        return [e.event_type for e in visible_events_for(driver_id)]


def test_the_driver_is_told_at_close_not_before(app, setting) -> None:
    """misuse_investigation tells at close: nothing about the request, grant or reads shows while
    the grant is open; everything shows once the job has sent the notification."""
    from backend.access import door
    people, fleet, _ = setting
    with app.app_context():
        grant_id = granted(people).id
        door.trips_for_driver(user(people.manager), people.driver, purpose="misuse_investigation")
    assert _visible_types(app, people.driver) == []
    with app.app_context():
        grants.revoke(db.session.get(Grant, grant_id), user(people.manager), "Klaar.")
    assert _visible_types(app, people.driver) == []  # closed, but not told yet
    with app.app_context():
        grants.send_due_notifications()
    shown = _visible_types(app, people.driver)
    assert {audit.REQUEST_FILED, audit.REQUEST_APPROVED, audit.GRANT_ISSUED, audit.READ,
            audit.GRANT_REVOKED, audit.NOTIFICATION_SENT} <= set(shown)
    assert _visible_types(app, people.other_driver) == []


def test_the_driver_is_told_at_the_grant_when_the_clause_says_so(app, setting) -> None:
    from backend.access import door
    people, fleet, _ = setting
    with app.app_context():
        granted(people, purpose="hours_verification", grounds="hours_declaration_mismatch")
        door.trips_for_driver(user(people.manager), people.driver, purpose="hours_verification")
    assert audit.READ in _visible_types(app, people.driver)


def test_finance_reads_show_at_once_and_own_reads_never(app, setting) -> None:
    from backend.access import door
    people, fleet, _ = setting
    with app.app_context():
        door.trips_for_driver(user(people.finance), people.driver)
        door.trips_for_driver(user(people.driver), people.driver)  # own read, own seal opening
    assert _visible_types(app, people.driver) == [audit.READ]


def test_a_denied_request_shows_once_denied(app, setting) -> None:
    people, fleet, _ = setting
    with app.app_context():
        request_id = requests.file_request(user(people.manager), request_input(people.driver)).id
    assert _visible_types(app, people.driver) == []
    with app.app_context():
        approvals.decide(requests.get(request_id), user(people.privacy), "deny", "Onvoldoende grond.")
    assert _visible_types(app, people.driver) == [audit.REQUEST_DENIED, audit.REQUEST_FILED]


def test_statistics_per_purpose_count_without_names(app, client, login, setting) -> None:
    from backend.access import door
    people, fleet, _ = setting
    with app.app_context():
        grant_id = granted(people).id  # approved
        door.trips_for_driver(user(people.manager), people.driver, purpose="misuse_investigation")
        grants.revoke(db.session.get(Grant, grant_id), user(people.manager), "Klaar.")
        with pytest.raises(door.AccessDenied):
            door.trips_for_driver(user(people.manager), people.driver, purpose="misuse_investigation")
        with pytest.raises(requests.RequestRefused):
            requests.file_request(user(people.manager), request_input(people.driver, days_back=200))
        denied = requests.file_request(user(people.manager), request_input(people.driver))
        approvals.decide(denied, user(people.privacy), "deny", "Nee.")
    login(EMAILS["or_delegate"])
    page = client.get("/access/statistics").get_data(as_text=True)
    row = page[page.index('data-purpose="misuse_investigation"'):]
    row = row[:row.index("</tr>")]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
    # purpose, refused at filing, requests, pending, approved, denied, expired, revoked early,
    # mean grant days (revoked at once: 0.0), reads, refused reads
    assert cells == ["Onderzoek naar misbruik van de auto van de zaak", "1", "2", "0", "1", "1", "0", "1", "0,0", "1", "1"]
    for name in ("Daan", "Mark", "daan@example.nl", "mark@example.nl"):
        assert name not in page.split("<main", 1)[1].split("</main>")[0]
    client.post("/logout")
    login(EMAILS["manager"])
    assert client.get("/access/statistics").status_code == 403


def test_revoking_a_grant_asks_for_confirmation(app, client, login, setting) -> None:
    """Revocation cannot be undone: without the ticked confirmation the grant stays active."""
    people, _fleet, _version = setting
    request_id, grant_id = _make_state(app, people, "active")
    login(EMAILS["manager"])
    page = client.get(f"/access/requests/{request_id}").get_data(as_text=True)
    assert 'name="confirm"' in page
    unconfirmed = client.post(f"/access/grants/{grant_id}/revoke", data={"reason": "Onderzoek afgerond."},
                              follow_redirects=True)
    assert "bevestig" in unconfirmed.get_data(as_text=True).lower()
    with app.app_context():
        assert db.session.get(Grant, grant_id).revoked_at is None
    confirmed = client.post(f"/access/grants/{grant_id}/revoke",
                            data={"reason": "Onderzoek afgerond.", "confirm": "y"})
    assert confirmed.status_code == 303
    with app.app_context():
        assert db.session.get(Grant, grant_id).revoked_at is not None
