"""`flask --app backend users ...` and `demo users`."""
from __future__ import annotations

from sqlalchemy import select

from backend.auth.passwords import verify_password
from backend.db import db
from backend.models import User


def _user(app, email: str) -> User | None:
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def test_create_with_several_roles_and_set_password(app, runner) -> None:
    result = runner.invoke(args=["users", "create", "--email", "F@X.nl", "--role", "finance",
                                 "--role", "driver", "--password", "first password"])
    assert result.exit_code == 0, result.output
    user = _user(app, "f@x.nl")
    assert {r.value for r in user.roles} == {"driver"}
    assert {r.value for r in user.pending_roles} == {"finance"}  # confirmed by an approver, on the web
    result = runner.invoke(args=["users", "set-password", "--email", "f@x.nl", "--password", "second password"])
    assert result.exit_code == 0, result.output
    assert verify_password(_user(app, "f@x.nl").password_hash, "second password")
    assert not verify_password(_user(app, "f@x.nl").password_hash, "first password")


def test_password_is_prompted_when_not_given(app, runner) -> None:
    result = runner.invoke(args=["users", "create", "--email", "p@x.nl", "--role", "driver"],
                           input="prompted password\nprompted password\n")
    assert result.exit_code == 0, result.output
    assert verify_password(_user(app, "p@x.nl").password_hash, "prompted password")


def test_refusals_are_one_clear_line(app, runner) -> None:
    runner.invoke(args=["users", "create", "--email", "d@x.nl", "--role", "driver", "--password", "long password"])
    for args, message in [
        (["users", "create", "--email", "d@x.nl", "--role", "driver", "--password", "long password"], "exists already"),
        (["users", "create", "--email", "e@x.nl", "--role", "boss", "--password", "long password"], "Invalid value"),
        (["users", "create", "--email", "e@x.nl", "--role", "driver", "--password", "short"], "at least 10"),
        (["users", "set-password", "--email", "nobody@x.nl", "--password", "long password"], "no user"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)


def test_demo_users_one_per_role(app, runner) -> None:
    result = runner.invoke(args=["demo", "users"])
    assert result.exit_code == 0, result.output
    for role in ("driver", "finance", "manager", "or_delegate", "privacy_officer", "admin"):
        line = next(line for line in result.output.splitlines() if line.split()[:1] == [role])
        _, email, password = line.split()
        assert verify_password(_user(app, email).password_hash, password)
