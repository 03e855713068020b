"""Logging in: argon2 hashes, one generic message, rate limits, CSRF and cookie policy."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.db import db
from backend.models import LoginCounter, User
from tests.conftest import TEST_PASSWORD

GENERIC = "E-mailadres of wachtwoord is onjuist."


def test_password_is_stored_as_argon2id(app, make_user) -> None:
    make_user("d@example.nl", "driver")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "d@example.nl"))
        assert user.password_hash.startswith("$argon2id$")
        assert TEST_PASSWORD not in user.password_hash


def test_login_and_logout(client, make_user, login) -> None:
    make_user("d@example.nl", "driver", name="Daan")
    assert client.get("/").status_code == 302  # not logged in: to the login page
    response = login("D@Example.nl ", follow_redirects=True)
    assert response.status_code == 200
    assert "Daan" in response.get_data(as_text=True)
    assert client.get("/logout").status_code == 405  # logging out is a POST (CSRF-protected)
    client.post("/logout")
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("email, password", [
    ("d@example.nl", "wrong password!"),
    ("nobody@example.nl", TEST_PASSWORD),
])
def test_failed_login_is_401_with_one_generic_message(client, make_user, login, email, password) -> None:
    make_user("d@example.nl", "driver")
    response = login(email, password)
    assert response.status_code == 401
    assert GENERIC in response.get_data(as_text=True)


def test_inactive_user_cannot_log_in(app, client, make_user, login) -> None:
    make_user("d@example.nl", "driver")
    with app.app_context():
        db.session.scalar(select(User)).active = False
        db.session.commit()
    assert login("d@example.nl").status_code == 401


def test_failures_are_rate_limited_per_account(app, client, make_user, login) -> None:
    make_user("d@example.nl", "driver")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert login("d@example.nl", "wrong password!").status_code == 401
    # Even the right password is refused while the account is limited.
    response = login("d@example.nl")
    assert response.status_code == 429
    # Another account from the same address is not affected yet.
    make_user("e@example.nl", "driver")
    assert login("e@example.nl", follow_redirects=False).status_code == 302


def test_failures_are_slowed_down_per_address(app, client, make_user, login, monkeypatch) -> None:
    """Past the per-address threshold the address waits (429 with Retry-After), it is not locked;
    another address is not affected."""
    from backend.auth import ratelimit
    from backend.db import utcnow

    frozen = utcnow()
    monkeypatch.setattr(ratelimit, "utcnow", lambda: frozen)  # no real time passes between attempts
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    make_user("d@example.nl", "driver")
    for n in range(4):
        assert login(f"guess{n}@example.nl", "x" * 12).status_code == 401
    response = login("d@example.nl")
    assert response.status_code == 429 and response.headers["Retry-After"]
    # From another address the account works.
    other = app.test_client()
    response = other.post("/login", data={"email": "d@example.nl", "password": TEST_PASSWORD},
                          environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert response.status_code == 302


def test_failure_log_holds_no_clear_email_or_address(app, client, login) -> None:
    login("secret.person@example.nl", "x" * 12)
    with app.app_context():
        keys = db.session.scalars(select(LoginCounter.key)).all()
        assert len(keys) == 2  # the account's and the address's counter
        assert not any("secret.person" in key or "127.0.0.1" in key for key in keys)


def test_successful_login_clears_account_failures(app, client, make_user, login) -> None:
    make_user("d@example.nl", "driver")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit - 1):
        login("d@example.nl", "wrong password!")
    assert login("d@example.nl").status_code == 302
    client.post("/logout")
    for _ in range(limit - 1):
        assert login("d@example.nl", "wrong password!").status_code == 401


def test_csrf_is_required_on_forms(app, client, make_user) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    make_user("d@example.nl", "driver")
    response = client.post("/login", data={"email": "d@example.nl", "password": TEST_PASSWORD})
    assert response.status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/login", data={"email": "d@example.nl", "password": TEST_PASSWORD,
                                            "csrf_token": token})
    assert response.status_code == 302


def _session_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


def test_session_cookie_flags_on_localhost(client, make_user, login) -> None:
    make_user("d@example.nl", "driver")
    cookie = _session_cookie(login("d@example.nl"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the demo runs on plain HTTP on localhost


def test_session_cookie_is_secure_elsewhere(client, make_user) -> None:
    make_user("d@example.nl", "driver")
    response = client.post("/login", data={"email": "d@example.nl", "password": TEST_PASSWORD},
                           base_url="https://ritbox.example.nl")
    cookie = _session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_next_parameter_never_leaves_the_site(client, make_user) -> None:
    make_user("d@example.nl", "driver")
    response = client.post("/login?next=//evil.example/x",
                           data={"email": "d@example.nl", "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/"


def test_role_required_pages_refuse_other_roles(client, make_user, login) -> None:
    make_user("d@example.nl", "driver")
    login("d@example.nl")
    assert client.get("/admin/users").status_code == 403


def test_admin_creates_a_user_with_two_roles(app, client, make_user, login) -> None:
    make_user("a@example.nl", "admin")
    login("a@example.nl")
    response = client.post("/admin/users/new", data={
        "email": "New@Example.nl", "name": "Nieuw", "roles": ["driver", "finance"],
        "password": "a long enough password"})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "new@example.nl"))
        # Driver at once; finance unlocks personal data and waits for a second person.
        assert {r.value for r in user.roles} == {"driver"}
        assert {r.value for r in user.pending_roles} == {"finance"}
    duplicate = client.post("/admin/users/new", data={
        "email": "new@example.nl", "name": "Nog eens", "roles": ["driver"], "password": "a long enough password"})
    assert duplicate.status_code == 400
