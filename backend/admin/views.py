"""Administration of user accounts (the admin role), and the approvers' confirmation of roles.

Roles that unlock personal data are only proposed here; an OR delegate or privacy officer
confirms them on /roles/pending (backend.accounts holds the rules)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from backend import accounts
from backend.accounts import AccountError, create_account
from backend.admin.forms import ActionForm, DetailsForm, NameForm, NewUserForm, ProposeRoleForm
from backend.auth import role_required
from backend.db import db
from backend.models import Role, User
from backend.web.roles import ROLE_LABELS

bp = Blueprint("admin", __name__, url_prefix="/admin")
roles_bp = Blueprint("roles", __name__, url_prefix="/roles")


def _people(ids) -> dict[int, User]:
    ids = {i for i in ids if i is not None}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


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
                user = create_account(current_user, form.email.data, form.name.data, form.roles.data,
                                      form.password.data)
            except AccountError as exc:
                form.email.errors.append(exc.translated())
            else:
                flash(_("User %(email)s created.", email=user.email), "success")
                if user.pending_roles:
                    flash(_("Roles that unlock personal data wait for confirmation by a works council "
                            "delegate or privacy officer."), "warning")
                return redirect(url_for("admin.user", user_id=user.id))
        return render_template("admin/new_user.html", form=form), 400
    return render_template("admin/new_user.html", form=form)


def _user_page(user: User, status: int = 200, name_form: NameForm | None = None,
               details_form: DetailsForm | None = None):
    rows = sorted(user.role_rows, key=lambda r: r.role)
    people = _people([r.proposed_by_id for r in rows] + [r.confirmed_by_id for r in rows])
    return render_template("admin/user.html", user=user, rows=rows, people=people, role_labels=ROLE_LABELS,
                           name_form=name_form or NameForm(name=user.name), role_form=ProposeRoleForm(),
                           details_form=details_form or DetailsForm(email=user.email, locale=user.locale or ""),
                           action_form=ActionForm()), status


@bp.route("/users/<int:user_id>")
@role_required(Role.ADMIN)
def user(user_id: int):
    return _user_page(db.session.get(User, user_id) or abort(404))


def _act(user_id: int, change) -> object:
    """Run one change on a user from a posted form; a refusal shows the page again with a 400."""
    user = db.session.get(User, user_id) or abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        message = change(user)
    except AccountError as exc:
        db.session.rollback()
        flash(exc.translated(), "error")
        return _user_page(user, 400)
    if message:
        flash(message, "success")
    return redirect(url_for("admin.user", user_id=user.id), 303)


@bp.route("/users/<int:user_id>/name", methods=["POST"])
@role_required(Role.ADMIN)
def rename(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = NameForm()
    if not form.validate_on_submit():
        return _user_page(user, 400, name_form=form)
    return _act(user_id, lambda u: accounts.rename(current_user, u, form.name.data) or _("Name saved."))


def _awaiting_text(suspended: list[str]) -> str:
    return _("These roles wait for confirmation by a works council delegate or privacy officer again: "
             "%(roles)s.", roles=", ".join(str(ROLE_LABELS[role]) for role in suspended))


@bp.route("/users/<int:user_id>/details", methods=["POST"])
@role_required(Role.ADMIN)
def details(user_id: int):
    """E-mail address and language. A new address puts the four-eyes roles back to awaiting
    confirmation (backend.accounts.change_email)."""
    user = db.session.get(User, user_id) or abort(404)
    form = DetailsForm()
    if not form.validate_on_submit():
        return _user_page(user, 400, details_form=form)

    def change(u: User) -> str:
        suspended = accounts.change_email(current_user, u, form.email.data)
        accounts.set_locale(current_user, u, form.locale.data or None)
        return _("Details saved.") + (" " + _awaiting_text(suspended) if suspended else "")

    return _act(user_id, change)


@bp.route("/users/<int:user_id>/reactivate", methods=["POST"])
@role_required(Role.ADMIN)
def reactivate(user_id: int):
    def change(u: User) -> str:
        suspended = accounts.reactivate(current_user, u)
        return _("Account reactivated.") + (" " + _awaiting_text(suspended) if suspended else "")

    return _act(user_id, change)


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@role_required(Role.ADMIN)
def propose_role(user_id: int):
    form = ProposeRoleForm()
    if not form.validate_on_submit():
        abort(400)

    def propose(user: User) -> str:
        row = accounts.propose_role(current_user, user, form.role.data)
        if row.confirmed_at is None:
            return _("Role %(role)s proposed: it gives nothing until a works council delegate or privacy "
                     "officer confirms it.", role=ROLE_LABELS[row.role])
        return _("Role %(role)s given.", role=ROLE_LABELS[row.role])

    return _act(user_id, propose)


@bp.route("/users/<int:user_id>/roles/<role>/remove", methods=["POST"])
@role_required(Role.ADMIN)
def remove_role(user_id: int, role: str):
    if role not in ROLE_LABELS:
        abort(404)
    return _act(user_id, lambda u: accounts.remove_role(current_user, u, role)
                or _("Role %(role)s removed; the user's open sessions have ended.", role=ROLE_LABELS[role]))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@role_required(Role.ADMIN)
def deactivate(user_id: int):
    return _act(user_id, lambda u: accounts.deactivate(current_user, u)
                or _("Account deactivated; its open sessions have ended."))


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@role_required(Role.ADMIN)
def reset_password(user_id: int):
    def reset(user: User) -> str:
        password = accounts.reset_password(current_user, user)
        return _("One-time password for %(email)s: %(password)s - pass it on in person. The user must "
                 "choose a new password at the next login; their roles wait for confirmation again.",
                 email=user.email, password=password)

    return _act(user_id, reset)


# --- the approvers' side --------------------------------------------------------------------

@roles_bp.route("/pending")
@role_required(Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def pending():
    rows = accounts.pending_roles()
    people = _people([r.proposed_by_id for r in rows])
    return render_template("admin/pending_roles.html", rows=rows, people=people, role_labels=ROLE_LABELS,
                           refusal=lambda row: accounts.may_confirm(current_user, row),
                           action_form=ActionForm())


def _decide_pending(user_id: int, role: str, confirm: bool):
    if role not in ROLE_LABELS:
        abort(404)
    user = db.session.get(User, user_id) or abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if confirm:
            accounts.confirm_role(current_user, user, role)
            flash(_("Role %(role)s of %(email)s confirmed.", role=ROLE_LABELS[role], email=user.email), "success")
        else:
            row = next((r for r in user.role_rows if r.role == role and r.confirmed_at is None), None)
            if row is None:
                raise AccountError(accounts.N_("%(email)s has no proposal for this role."), email=user.email)
            accounts.remove_role(current_user, user, role)
            flash(_("Proposal of role %(role)s for %(email)s rejected.", role=ROLE_LABELS[role],
                    email=user.email), "success")
    except AccountError as exc:
        db.session.rollback()
        flash(exc.translated(), "error")
        return redirect(url_for("roles.pending"), 303)
    return redirect(url_for("roles.pending"), 303)


@roles_bp.route("/pending/<int:user_id>/<role>/confirm", methods=["POST"])
@role_required(Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def confirm(user_id: int, role: str):
    return _decide_pending(user_id, role, confirm=True)


@roles_bp.route("/pending/<int:user_id>/<role>/reject", methods=["POST"])
@role_required(Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def reject(user_id: int, role: str):
    return _decide_pending(user_id, role, confirm=False)
