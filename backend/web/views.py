from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from backend.auth.passwords import hash_password, verify_password
from backend.db import db, utcnow
from backend.i18n import LANGUAGE_COOKIE
from backend.web.forms import ChangePasswordForm, LanguageForm
from backend.models.accounts import Role
from backend.web.roles import ROLE_DESCRIPTIONS, ROLE_LABELS

bp = Blueprint("web", __name__)

LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


@bp.route("/")
@login_required
def home():
    from backend import agreement_documents
    mismatched = (agreement_documents.mismatched_consents()
                  if current_user.has_role(Role.OR_DELEGATE, Role.PRIVACY_OFFICER) else [])
    from backend.governance.web import STATUS_LABELS
    from backend.home import service as home
    me = current_user._get_current_object()
    now = utcnow()
    blocks = {
        "driver": home.driver_home(me, now) if me.has_role(Role.DRIVER) else None,
        "finance": home.finance_home(me, now) if me.has_role(Role.FINANCE) else None,
        "approver": home.approver_home(me, now) if me.has_role(Role.OR_DELEGATE, Role.PRIVACY_OFFICER) else None,
        "manager": home.manager_home(me, now) if me.has_role(Role.MANAGER) else None,
        "admin": home.admin_home(me, now) if me.has_role(Role.ADMIN) else None,
    }
    return render_template("web/home.html", roles=sorted(role.value for role in current_user.roles),
                           role_labels=ROLE_LABELS, role_descriptions=ROLE_DESCRIPTIONS, mismatched=mismatched,
                           today=home.local_day(now), reminder_days=home.reminder_days(), silent_days=home.silent_days(),
                           status_labels=STATUS_LABELS, **blocks)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = ChangePasswordForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit() and verify_password(current_user.password_hash,
                                                          form.current_password.data):
            current_user.password_hash = hash_password(form.new_password.data)
            current_user.must_change_password = False
            current_user.end_sessions()  # a stolen cookie stops working with the old password
            db.session.commit()
            # This browser stays in: its session takes the new generation (Flask-Login's key;
            # login_user would also record a new login in the audit log).
            session["_user_id"] = current_user.get_id()
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("web.account"))
        status = 400
        flash(_("The password was not changed: check the fields below."), "error")
    return render_template("web/account.html", form=form), status


@bp.route("/language", methods=["POST"])
def set_language():
    form = LanguageForm()
    if not form.validate_on_submit():
        return redirect(url_for("web.home")), 303
    response = redirect(request.referrer if _same_site(request.referrer) else url_for("web.home"), 303)
    response.set_cookie(LANGUAGE_COOKIE, form.language.data, max_age=LANGUAGE_COOKIE_SECONDS,
                        httponly=True, samesite="Lax")
    if current_user.is_authenticated:
        current_user.locale = form.language.data
        db.session.commit()
    return response


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)
