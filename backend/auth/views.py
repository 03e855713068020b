from __future__ import annotations

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from backend.auth import ratelimit
from backend.auth.forms import LoginForm
from backend.auth.passwords import hash_password, needs_rehash, verify_password
from backend.db import db
from backend.models import User

bp = Blueprint("auth", __name__)


def client_address() -> str:
    if current_app.config.get("TRUST_PROXY") and request.access_route:
        return request.access_route[0]
    return request.remote_addr or "unknown"


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect a fresh login to another host.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("web.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    if request.method == "GET":
        return render_template("auth/login.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400

    email = form.email.data.strip().lower()
    address = client_address()
    too_many = _("Too many failed attempts. Try again later.")
    wait = ratelimit.address_wait_seconds(address)
    if wait:
        response = make_response(render_template("auth/login.html", form=form, error=too_many), 429)
        response.headers["Retry-After"] = str(wait)
        return response
    # Counted before the check: a guess beyond the limit never reaches the password hash.
    if not ratelimit.reserve_account_attempt(email):
        return render_template("auth/login.html", form=form, error=too_many), 429

    user = db.session.scalar(select(User).where(User.email == email))
    password_ok = verify_password(user.password_hash if user else None, form.password.data)
    if not (user and password_ok and user.is_active):
        ratelimit.record_failure(address)
        # One message for every cause, so the page does not reveal which accounts exist.
        return render_template("auth/login.html", form=form,
                               error=_("Email address or password is incorrect.")), 401

    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(form.password.data)
        db.session.commit()
    ratelimit.clear_account(email)
    login_user(user)
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # Server-side: every copy of this user's session cookies stops working, not only this one.
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    return redirect(url_for("auth.login"))
