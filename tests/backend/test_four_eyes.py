"""Four eyes on roles: one administrator alone reaches no grant on any path (new accounts, role
changes, both approver roles on one person, password resets, CLI and pages); a second person
confirms; removal and deactivation are immediate; every change is in the audit log."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from backend import accounts, audit
from backend.governance.requests import RequestRefused
from backend.db import db
from backend.models import User
from backend.models.access import Grant
from backend.models.audit import AuditEvent
from tests.backend.access_support import (PRIVATE_START, EXAMPLE, Fleet, acknowledge_notice, consent_day,
                                          request_input, shown)
from tests.conftest import TEST_PASSWORD

NEW_PASSWORD = "my own new password"


@pytest.fixture
def world(app, make_user, tmp_path):
    """Installed approvers Olga (OR) and Pieter (privacy), driver Daan with a private trip,
    administrator Anna, the example agreement in force."""
    from backend.governance import agreements

    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    ids = {
        "olga": make_user("olga@example.nl", "or_delegate", name="Olga Bakker"),
        "pieter": make_user("pieter@example.nl", "privacy_officer", name="Pieter Smit"),
        "daan": make_user("daan@example.nl", "driver", name="Daan de Vries"),
        "eva": make_user("eva@example.nl", "driver", name="Eva Mulder"),
        "anna": make_user("anna@example.nl", "admin", name="Anna Visser"),
    }
    with app.app_context():
        version = agreements.upload(EXAMPLE.read_text(encoding="utf-8"), _user(ids["pieter"]))
        agreements.record_consent(version, _user(ids["olga"]), consent_day(), "OR-2026-003",
                                  text_sha256=shown(version))
        acknowledge_notice(ids["daan"], ids["eva"])
        Fleet(ids["daan"], ids["eva"])
        db.session.remove()
    return ids


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _by_email(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _client(app, email: str, password: str = TEST_PASSWORD):
    """A logged-in browser; a forced password change is done on the way, as a person would."""
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, (email, response.status_code)
    if client.get("/").status_code == 302:  # must change the password first
        changed = client.post("/account", data={"current_password": password, "new_password": NEW_PASSWORD,
                                                "repeat_password": NEW_PASSWORD})
        assert changed.status_code == 302
    return client


def _events(kind: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq)))


def test_one_administrator_alone_reaches_no_grant(app, runner, world) -> None:
    bodies: list[str] = []
    admin = _client(app, "anna@example.nl")

    def post(client, url, data=None):
        response = client.post(url, data=data or {})
        bodies.append(response.get_data(as_text=True))
        return response

    # 1. New accounts with the roles of the whole path, passwords the administrator knows.
    for email, roles in [("m1@example.nl", ["manager"]), ("o1@example.nl", ["or_delegate"]),
                         ("p1@example.nl", ["privacy_officer"]), ("f1@example.nl", ["finance"])]:
        assert post(admin, "/admin/users/new", {"email": email, "name": email, "roles": roles,
                                                "password": TEST_PASSWORD}).status_code == 302
    # Both approver roles on one person, or an approver role next to administrator: refused.
    assert post(admin, "/admin/users/new", {"email": "both@example.nl", "name": "Both", "password": TEST_PASSWORD,
                                            "roles": ["or_delegate", "privacy_officer"]}).status_code == 400
    assert post(admin, "/admin/users/new", {"email": "ao@example.nl", "name": "AO", "password": TEST_PASSWORD,
                                            "roles": ["admin", "or_delegate"]}).status_code == 400
    with app.app_context():  # ids only: requests run outside this context (own session each)
        anna, o1, m1 = (_by_email(e).id for e in ("anna@example.nl", "o1@example.nl", "m1@example.nl"))
    # 2. Role changes on existing accounts, the administrator's own included.
    assert post(admin, f"/admin/users/{anna}/roles", {"role": "or_delegate"}).status_code == 400
    assert post(admin, f"/admin/users/{anna}/roles", {"role": "manager"}).status_code == 303
    assert post(admin, f"/admin/users/{o1}/roles", {"role": "privacy_officer"}).status_code == 400
    assert post(admin, f"/admin/users/{world['olga']}/roles", {"role": "privacy_officer"}).status_code == 400
    # A second administrator (immediate) only proposes too.
    assert post(admin, "/admin/users/new", {"email": "a2@example.nl", "name": "A2", "roles": ["admin"],
                                            "password": TEST_PASSWORD}).status_code == 302
    admin2 = _client(app, "a2@example.nl")
    assert post(admin2, f"/admin/users/{m1}/roles", {"role": "finance"}).status_code == 303

    # 3. The CLI: approvers exist, so it proposes; a password reset suspends the roles.
    assert runner.invoke(args=["users", "create", "--email", "o2@example.nl", "--role", "or_delegate",
                               "--password", TEST_PASSWORD]).exit_code == 0
    assert runner.invoke(args=["users", "grant", "--email", "a2@example.nl", "--role", "privacy_officer"]).exit_code != 0
    for approver in ("olga@example.nl", "pieter@example.nl"):
        result = runner.invoke(args=["users", "set-password", "--email", approver, "--password", TEST_PASSWORD])
        assert result.exit_code == 0, result.output
    # With no approver in force, the CLI still cannot install one again: installation is over.
    result = runner.invoke(args=["users", "grant", "--email", "eva@example.nl", "--role", "privacy_officer"])
    assert result.exit_code == 0 and "proposed" in result.output
    # ... and the web reset does the same to an account the administrator then logs into.
    reset = admin.post(f"/admin/users/{world['daan']}/reset-password", follow_redirects=True).get_data(as_text=True)
    daan_password = reset.split("Eenmalig wachtwoord voor daan@example.nl: ")[1].split(" - ")[0]

    # 4. Every account the administrator controls tries to confirm, file, approve and read.
    controlled = ["m1@example.nl", "o1@example.nl", "p1@example.nl", "f1@example.nl", "o2@example.nl",
                  "olga@example.nl", "pieter@example.nl", "anna@example.nl", "a2@example.nl"]
    clients = {email: _client(app, email) for email in controlled if email not in ("anna@example.nl", "a2@example.nl")}
    clients.update({"anna@example.nl": admin, "a2@example.nl": admin2})
    with app.app_context():
        pending = [(row.user_id, row.role) for row in accounts.pending_roles()]
    assert pending
    for email, client in clients.items():
        for user_id, role in pending:
            assert post(client, f"/roles/pending/{user_id}/{role}/confirm").status_code in (303, 403)
        for url in ("/access/requests", "/access/requests/new", "/roles/pending", "/me/trips"):
            bodies.append(client.get(url).get_data(as_text=True))
    with app.app_context():
        assert accounts.pending_roles(), "a role was confirmed by the administrator's own accounts"
        from backend.governance import approvals, requests
        for email in controlled:
            with pytest.raises(RequestRefused, match="requester_roles"):
                requests.file_request(_by_email(email), request_input(world["daan"]))
        assert db.session.scalar(select(func.count()).select_from(Grant)) == 0
        assert not _events(audit.SEAL_OPENED) and not _events(audit.READ)
        assert approvals  # the approval path needs a filed request, which none of them could file
    # Daan's account (password reset by the administrator): his driver role waits, his private trip stays shut.
    daan = _client(app, "daan@example.nl", daan_password)
    bodies.append(daan.get("/me/trips").get_data(as_text=True))
    digits = f"{PRIVATE_START[0]:.6f}"
    assert not any(digits in body for body in bodies), "a private position reached the administrator"


def test_a_second_person_confirms_and_the_role_then_works(app, world) -> None:
    admin = _client(app, "anna@example.nl")
    assert admin.post("/admin/users/new", data={"email": "mark@example.nl", "name": "Mark Jansen",
                                                "roles": ["manager"], "password": TEST_PASSWORD}).status_code == 302
    with app.app_context():
        mark = _by_email("mark@example.nl")
        assert mark.roles == frozenset() and {r.value for r in mark.pending_roles} == {"manager"}
        # Not before Mark chose his own password (the administrator knows the first one).
        with pytest.raises(accounts.AccountError, match="choose their own password"):
            accounts.confirm_role(_user(world["olga"]), mark, "manager")
    mark_client = _client(app, "mark@example.nl")
    assert mark_client.get("/access/requests/new").status_code == 403
    olga = _client(app, "olga@example.nl")
    page = olga.get("/roles/pending").get_data(as_text=True)
    assert "mark@example.nl" in page and "Bevestigen" in page
    with app.app_context():
        mark_id = _by_email("mark@example.nl").id
    assert olga.post(f"/roles/pending/{mark_id}/manager/confirm").status_code == 303
    assert mark_client.get("/access/requests/new").status_code == 200
    with app.app_context():
        row = next(r for r in _user(mark_id).role_rows if r.role == "manager")
        assert row.confirmed_by_id == world["olga"] and row.proposed_by_id == world["anna"]
        kinds = [(e.event_type, e.actor_id) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.subject_user_id == mark_id).order_by(AuditEvent.seq))]
        assert (accounts.USER_CREATED, world["anna"]) in kinds
        assert (accounts.ROLE_PROPOSED, world["anna"]) in kinds
        assert (accounts.ROLE_CONFIRMED, world["olga"]) in kinds


def test_the_proposer_never_confirms_and_nobody_confirms_for_themself(app, world) -> None:
    with app.app_context():
        olga, eva = _user(world["olga"]), _user(world["eva"])
        accounts.propose_role(olga, eva, "finance")  # an approver proposing (e.g. through the CLI)
        with pytest.raises(accounts.AccountError, match="proposed a role cannot also confirm"):
            accounts.confirm_role(olga, eva, "finance")
        with pytest.raises(accounts.AccountError, match="Only a current works council delegate"):
            accounts.confirm_role(_user(world["anna"]), eva, "finance")
        accounts.propose_role(None, eva, "or_delegate")
        with pytest.raises(accounts.AccountError, match="Only a current"):
            accounts.confirm_role(eva, eva, "or_delegate")
        accounts.confirm_role(_user(world["pieter"]), eva, "finance")
        assert "finance" in {r.value for r in _user(world["eva"]).roles}


def test_cli_installs_the_first_approvers_visibly_and_only_once(app, runner) -> None:
    both = runner.invoke(args=["users", "create", "--email", "both@x.nl", "--role", "or_delegate",
                               "--role", "privacy_officer", "--password", TEST_PASSWORD])
    assert both.exit_code != 0 and "both approver roles" in both.output
    for email, role in [("or1@x.nl", "or_delegate"), ("po1@x.nl", "privacy_officer")]:
        result = runner.invoke(args=["users", "create", "--email", email, "--role", role, "--password", TEST_PASSWORD])
        assert result.exit_code == 0, result.output
    result = runner.invoke(args=["users", "create", "--email", "or2@x.nl", "--role", "or_delegate",
                                 "--password", TEST_PASSWORD])
    assert "awaiting confirmation" in result.output
    with app.app_context():
        first = next(r for r in _by_email("or1@x.nl").role_rows)
        assert first.installation and first.confirmed_at is not None and first.confirmed_by_id is None
        assert _by_email("or2@x.nl").roles == frozenset()
        installed = _events(accounts.ROLE_INSTALLED)
        assert [json.loads(e.details)["role"] for e in installed] == ["or_delegate", "privacy_officer"]
    listing = runner.invoke(args=["users", "list"]).output
    assert "or2@x.nl\tor_delegate(awaiting confirmation)" in listing


def test_removal_and_deactivation_are_immediate_and_end_sessions(app, world) -> None:
    admin = _client(app, "anna@example.nl")
    olga = _client(app, "olga@example.nl")
    pieter = _client(app, "pieter@example.nl")
    assert olga.get("/audit/log").status_code == 200
    assert admin.post(f"/admin/users/{world['olga']}/roles/or_delegate/remove").status_code == 303
    assert olga.get("/audit/log").status_code == 302  # the session ended at once
    assert admin.post(f"/admin/users/{world['pieter']}/deactivate").status_code == 303
    assert pieter.get("/").status_code == 302
    assert app.test_client().post("/login", data={"email": "pieter@example.nl",
                                                  "password": TEST_PASSWORD}).status_code == 401
    with app.app_context():
        assert _user(world["olga"]).roles == frozenset()
        assert [e.subject_user_id for e in _events(accounts.ROLE_REMOVED)] == [world["olga"]]
        assert [e.subject_user_id for e in _events(accounts.USER_DEACTIVATED)] == [world["pieter"]]


def test_reset_password_and_rename_by_the_administrator(app, world) -> None:
    admin = _client(app, "anna@example.nl")
    response = admin.post(f"/admin/users/{world['eva']}/reset-password", follow_redirects=True)
    page = response.get_data(as_text=True)
    one_time = page.split("Eenmalig wachtwoord voor eva@example.nl: ")[1].split(" - ")[0]
    eva = app.test_client()
    assert eva.post("/login", data={"email": "eva@example.nl", "password": one_time}).status_code == 302
    assert eva.get("/me/trips").headers["Location"].endswith("/account")  # change first
    assert admin.post(f"/admin/users/{world['eva']}/name", data={"name": "Eva de Mulder"}).status_code == 303
    with app.app_context():
        user = _user(world["eva"])
        assert user.name == "Eva de Mulder" and user.must_change_password
        assert user.roles == frozenset() and {r.value for r in user.pending_roles} == {"driver"}
        assert _events(accounts.PASSWORD_RESET)[-1].actor_id == world["anna"]
        assert _events(accounts.USER_RENAMED)[-1].subject_user_id == world["eva"]


def test_account_events_are_in_the_audit_log_in_dutch(app, world) -> None:
    admin = _client(app, "anna@example.nl")
    admin.post(f"/admin/users/{world['eva']}/roles", data={"role": "finance"})
    page = _client(app, "pieter@example.nl").get("/audit/log").get_data(as_text=True)
    assert "Rol voorgesteld (wacht op bevestiging)" in page and "Salarisadministratie" in page
    with app.app_context():
        from backend import audit
        assert set(accounts.ACCOUNT_EVENTS) <= set(audit.KINDS)


def test_a_person_never_approves_one_request_in_both_approver_roles(app, world, make_user) -> None:
    """Olga approves as OR delegate, loses that role and becomes privacy officer (proposed and
    confirmed by two others): for the same request she still counts once."""
    from backend.governance import approvals, requests

    mark = make_user("mark@example.nl", "manager")
    make_user("otto@example.nl", "or_delegate")
    with app.app_context():
        request = requests.file_request(_user(mark), request_input(world["daan"]))
        approvals.decide(request, _user(world["olga"]), "approve", "Als OR-lid akkoord.")
        accounts.remove_role(None, _user(world["olga"]), "or_delegate", via="cli")
        accounts.propose_role(_user(world["anna"]), _user(world["olga"]), "privacy_officer")
        accounts.confirm_role(_user(world["pieter"]), _user(world["olga"]), "privacy_officer")
        assert _user(world["olga"]).roles == {accounts.Role.PRIVACY_OFFICER}
        with pytest.raises(RequestRefused, match="decided on this request already"):
            approvals.decide(request, _user(world["olga"]), "approve", "Nu als privacy officer.")
        assert db.session.scalar(select(func.count()).select_from(Grant)) == 0
