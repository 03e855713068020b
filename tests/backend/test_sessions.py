"""Login limits under parallel guessing, a shared office address, and sessions that end on the
server (logout, password change, deactivation) rather than only in the browser."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from backend.auth import views as auth_views
from backend.db import db, utcnow
from backend.models import User
from tests.conftest import TEST_PASSWORD

GUESSES = 30


def _guess_in_parallel(app, email: str, count: int) -> list[int]:
    """count wrong logins for one account at once, each from its own thread and client."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        client = app.test_client()
        barrier.wait()
        status = client.post("/login", data={"email": email, "password": f"wrong guess {n:04d}"}).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_parallel_guesses_beyond_the_limit_never_reach_the_password_check(app, make_user, monkeypatch) -> None:
    make_user("d@example.nl", "driver")
    make_user("colleague@example.nl", "driver")
    checks: list[int] = []
    real_verify = auth_views.verify_password

    def counting_verify(password_hash, password):
        checks.append(1)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth_views, "verify_password", counting_verify)
    statuses = _guess_in_parallel(app, "d@example.nl", GUESSES)
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    assert len(statuses) == GUESSES and set(statuses) <= {401, 429}
    assert len(checks) <= limit, f"{len(checks)} password checks for a limit of {limit}"
    assert statuses.count(401) == len(checks)
    # A colleague behind the same address (the test client's 127.0.0.1) still logs in.
    colleague = app.test_client()
    response = colleague.post("/login", data={"email": "colleague@example.nl", "password": TEST_PASSWORD})
    assert response.status_code == 302


def test_one_address_is_slowed_down_not_locked_out(app, make_user, monkeypatch) -> None:
    """Beyond the per-address threshold each attempt must wait a growing delay; after the wait,
    the right password works again for an account nobody guessed."""
    from backend.auth import ratelimit

    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    make_user("d@example.nl", "driver")
    client = app.test_client()
    now = utcnow()
    monkeypatch.setattr(ratelimit, "utcnow", lambda: now)
    for n in range(3):
        assert client.post("/login", data={"email": f"guess{n}@example.nl", "password": "x" * 12}).status_code == 401
    # The 4th failure from the address is still checked; then the address must wait.
    assert client.post("/login", data={"email": "guess3@example.nl", "password": "x" * 12}).status_code == 401
    refused = client.post("/login", data={"email": "d@example.nl", "password": TEST_PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    now += timedelta(seconds=int(refused.headers["Retry-After"]))
    assert client.post("/login", data={"email": "d@example.nl", "password": TEST_PASSWORD}).status_code == 302


def _logged_in_client(app, email: str):
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": TEST_PASSWORD}).status_code == 302
    assert client.get("/").status_code == 200
    return client


def _replay(app, cookie_value: str):
    """A fresh browser that presents a copied session cookie."""
    client = app.test_client()
    client.set_cookie("session", cookie_value)
    return client


def test_logout_ends_the_session_on_the_server(app, make_user) -> None:
    make_user("d@example.nl", "driver")
    client = _logged_in_client(app, "d@example.nl")
    stolen = client.get_cookie("session").value
    assert _replay(app, stolen).get("/").status_code == 200  # the copy works while logged in
    client.post("/logout")
    assert _replay(app, stolen).get("/").status_code == 302  # ... and not after logout


def test_password_change_ends_other_sessions_but_keeps_this_one(app, make_user) -> None:
    make_user("d@example.nl", "driver")
    laptop = _logged_in_client(app, "d@example.nl")
    phone = _logged_in_client(app, "d@example.nl")
    response = laptop.post("/account", data={"current_password": TEST_PASSWORD, "new_password": "a new long password",
                                             "repeat_password": "a new long password"})
    assert response.status_code == 302
    assert laptop.get("/").status_code == 200
    assert phone.get("/").status_code == 302


def test_deactivation_ends_open_sessions(app, make_user) -> None:
    from backend.accounts import deactivate

    make_user("a@example.nl", "admin")
    make_user("d@example.nl", "driver")
    client = _logged_in_client(app, "d@example.nl")
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == "a@example.nl"))
        deactivate(admin, db.session.scalar(select(User).where(User.email == "d@example.nl")))
    assert client.get("/").status_code == 302


def test_pages_with_personal_data_are_not_stored(app, make_user) -> None:
    make_user("d@example.nl", "driver")
    client = _logged_in_client(app, "d@example.nl")
    for path in ("/", "/me/trips", "/account"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response.headers.get("Cache-Control", ""), path


def test_hsts_only_over_https(app, make_user) -> None:
    client = app.test_client()
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://ritbox.example.nl")
    assert "max-age=" in secure.headers["Strict-Transport-Security"]
