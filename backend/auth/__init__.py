"""Logging in and out, and who the current user is."""
from __future__ import annotations

from functools import wraps
from typing import Callable, TypeVar

from flask import Flask, abort, redirect, request, url_for
from flask_login import LoginManager, current_user

from backend.db import db
from backend.models import Role, User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"

F = TypeVar("F", bound=Callable)

# What a user who must change their password may still open.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"web.account", "auth.logout", "auth.login", "static", "web.set_language"})


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The session's id is "<user id>:<generation>" (User.get_id): a session from before the
    user's last logout, password change, deactivation or role removal loads nobody."""
    user_id, _sep, generation = session_id.partition(":")
    if not (user_id.isdigit() and generation.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_generation != int(generation):
        return None
    return user


def role_required(*roles: Role) -> Callable[[F], F]:
    """Allow the view only to logged-in users holding one of the roles (403 otherwise)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                _audit_role_refusal()
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def _audit_role_refusal() -> None:
    """A page or API route refused by the role check is a refused read in the audit log, like
    the door's refusals: the works council sees who tried which route."""
    from backend import audit

    audit.record(audit.READ_DENIED, actor=current_user, details={
        "reason": "the role does not allow this route",
        "route": request.url_rule.rule if request.url_rule else request.path,
        "path": request.path[:300], "method": request.method})


def init_app(app: Flask) -> None:
    from backend.auth.views import bp

    login_manager.init_app(app)
    login_manager.login_message = None  # the login page explains itself
    app.register_blueprint(bp)

    @app.before_request
    def _password_change_first():
        """After a password reset every page leads to the password change (the one-time
        password was known to whoever reset it)."""
        if (current_user.is_authenticated and current_user.must_change_password
                and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS):
            return redirect(url_for("web.account"))
        return None
