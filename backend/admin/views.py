from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from backend.accounts import AccountError, create_user
from backend.admin.forms import NewUserForm
from backend.auth import role_required
from backend.db import db
from backend.models import Role, User
from backend.web.roles import ROLE_LABELS

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users")
@role_required(Role.ADMIN)
def users():
    rows = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", users=rows, role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_user():
    form = NewUserForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                create_user(form.email.data, form.name.data, form.roles.data, form.password.data)
            except AccountError as exc:
                form.email.errors.append(str(exc))
            else:
                flash(_("User %(email)s created.", email=form.email.data.strip().lower()), "success")
                return redirect(url_for("admin.users"))
        return render_template("admin/new_user.html", form=form), 400
    return render_template("admin/new_user.html", form=form)
