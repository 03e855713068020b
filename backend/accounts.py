"""Creating accounts and setting passwords: the one place the CLI and the admin pages use."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from backend.auth.passwords import hash_password
from backend.db import db
from backend.models import Role, User, UserRole

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(email: str, name: str, roles: Iterable[Role | str], password: str | None) -> User:
    email = normalise_email(email)
    role_set = {Role(role) for role in roles}
    if not role_set:
        raise AccountError("a user needs at least one role")
    if find_user(email) is not None:
        raise AccountError(f"a user with e-mail {email} exists already")
    user = User(email=email, name=name or email.split("@")[0],
                password_hash=hash_password(password) if password else None)
    user.role_rows = [UserRole(role=role.value) for role in sorted(role_set, key=lambda r: r.value)]
    db.session.add(user)
    db.session.commit()
    return user


def set_password(email: str, password: str) -> User:
    user = find_user(email)
    if user is None:
        raise AccountError(f"no user with e-mail {normalise_email(email)}")
    user.password_hash = hash_password(password)
    db.session.commit()
    return user


# Audit kinds of account and role changes (labels: backend/access/web.py).
USER_CREATED = "user_created"
USER_DEACTIVATED = "user_deactivated"


def deactivate(actor: User | None, user: User) -> None:
    """Deactivate an account at once: it cannot log in and its open sessions end."""
    from backend import audit

    if actor is not None and actor.id == user.id:
        raise AccountError("you cannot deactivate your own account")
    user.active = False
    user.end_sessions()
    audit.record(USER_DEACTIVATED, actor=actor, subject_user_id=user.id, commit=False)
    db.session.commit()
