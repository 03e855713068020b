"""The administrator edits a user in the web app (e-mail address, language), deactivates and
reactivates them: each change audited; a deactivated user cannot log in; an administrator cannot
deactivate themself; and neither a new address nor a reactivation gives back a role that unlocks
personal data without an approver's confirmation."""
from __future__ import annotations

import json

from sqlalchemy import select

from backend import accounts, audit
from backend.db import db
from backend.models.accounts import Role
from backend.models.audit import AuditEvent
from tests.backend.access_support import make_people, user


def _events(app, kind: str) -> list[dict]:
    with app.app_context():
        return [{"actor": e.actor_id, "subject": e.subject_user_id, **json.loads(e.details)}
                for e in db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == kind))]


def test_the_admin_changes_address_and_language_and_the_roles_wait_again(app, client, make_user, login) -> None:
    people = make_people(make_user)
    login("anna@example.nl")
    page = client.get(f"/admin/users/{people.finance}")
    assert "E-mailadres en taal" in page.get_data(as_text=True)
    response = client.post(f"/admin/users/{people.finance}/details",
                           data={"email": "Fatima.New@Example.nl ", "locale": "en"})
    assert response.status_code == 303
    followed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Gegevens opgeslagen." in followed and "Salarisadministratie" in followed
    with app.app_context():
        fatima = user(people.finance)
        assert (fatima.email, fatima.locale) == ("fatima.new@example.nl", "en")
        assert Role.FINANCE not in fatima.roles and Role.FINANCE in fatima.pending_roles  # four eyes again
        assert audit.verify().ok
    [changed] = _events(app, accounts.USER_EMAIL_CHANGED)
    assert (changed["actor"], changed["subject"], changed["roles_awaiting_confirmation"]) == (
        people.admin, people.finance, ["finance"])
    assert "fatima" not in json.dumps(changed).lower()  # the audit event names no address
    [language] = _events(app, accounts.USER_LOCALE_CHANGED)
    assert language["locale"] == "en"
    # the new address logs in, the old one no longer does
    client.post("/logout")
    assert login("fatima@example.nl").status_code == 401
    assert login("fatima.new@example.nl").status_code == 302


def test_an_address_in_use_or_malformed_is_refused(app, client, make_user, login) -> None:
    people = make_people(make_user)
    login("anna@example.nl")
    taken = client.post(f"/admin/users/{people.finance}/details", data={"email": "daan@example.nl", "locale": ""})
    assert taken.status_code == 400
    assert "Er bestaat al een gebruiker met e-mailadres daan@example.nl." in taken.get_data(as_text=True)
    malformed = client.post(f"/admin/users/{people.finance}/details", data={"email": "no-address", "locale": ""})
    assert malformed.status_code == 400
    with app.app_context():
        assert user(people.finance).email == "fatima@example.nl"
        assert Role.FINANCE in user(people.finance).roles
    assert _events(app, accounts.USER_EMAIL_CHANGED) == []


def test_deactivate_and_reactivate_a_user(app, client, make_user, login) -> None:
    people = make_people(make_user)
    login("anna@example.nl")
    # an administrator cannot deactivate themself
    own = client.post(f"/admin/users/{people.admin}/deactivate")
    assert own.status_code == 400 and "U kunt uw eigen account niet deactiveren." in own.get_data(as_text=True)
    with app.app_context():
        assert user(people.admin).active
    assert client.post(f"/admin/users/{people.finance}/deactivate").status_code == 303
    [deactivated] = _events(app, accounts.USER_DEACTIVATED)
    assert (deactivated["actor"], deactivated["subject"]) == (people.admin, people.finance)
    page = client.get(f"/admin/users/{people.finance}").get_data(as_text=True)
    assert "Dit account is gedeactiveerd" in page and "Account weer activeren" in page

    other = app.test_client()
    assert other.post("/login", data={"email": "fatima@example.nl", "password": _password()}).status_code == 401

    response = client.post(f"/admin/users/{people.finance}/reactivate")
    assert response.status_code == 303
    assert "Account weer geactiveerd." in client.get(response.headers["Location"]).get_data(as_text=True)
    [reactivated] = _events(app, accounts.USER_REACTIVATED)
    assert (reactivated["actor"], reactivated["roles_awaiting_confirmation"]) == (people.admin, ["finance"])
    with app.app_context():
        fatima = user(people.finance)
        assert fatima.active and Role.FINANCE not in fatima.roles and Role.FINANCE in fatima.pending_roles
        assert audit.verify().ok
    assert other.post("/login", data={"email": "fatima@example.nl", "password": _password()}).status_code == 302
    assert client.post(f"/admin/users/{people.finance}/reactivate").status_code == 400  # active already


def test_only_an_administrator_edits_users(app, client, make_user, login) -> None:
    people = make_people(make_user)
    login("fatima@example.nl")
    assert client.post(f"/admin/users/{people.driver}/details",
                       data={"email": "x@example.nl", "locale": ""}).status_code == 403
    assert client.post(f"/admin/users/{people.driver}/reactivate").status_code == 403


def _password() -> str:
    from tests.conftest import TEST_PASSWORD
    return TEST_PASSWORD
