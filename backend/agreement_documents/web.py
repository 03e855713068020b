"""Pages of the generated documents: each document of a version as HTML, PDF (and the DPIA
draft as DOCX); the driver's privacy notice with its acknowledgement; and the gate that shows a
driver the notice before they use their pages."""
from __future__ import annotations


from flask import Blueprint, Flask, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField
from backend.web.validators import DataRequired  # messages that say what to type

from backend import agreement_documents as documents
from backend.governance import agreements
from backend.agreement_documents import docx_render, pdf
from backend.db import db
from backend.local_time import LOCAL
from backend.models.access import AgreementVersion
from backend.models.accounts import Role

bp = Blueprint("agreement_documents", __name__)

KIND_LABELS = {"regeling": _l("Regulation (regeling)"), "notice": _l("Privacy notice for employees"),
               "dpia": _l("DPIA draft"), "register": _l("Processing register entry")}
# The regeling and the notice are for everyone (employees are told in advance); the DPIA draft
# and the register entry are the privacy officer's working documents, shown to the OR too.
RESTRICTED = {"dpia", "register"}
FILE_NAMES = {"regeling": "regeling", "notice": "privacyverklaring", "dpia": "dpia-concept",
              "register": "verwerkingsregister"}
# Driver pages behind the notice: their own trips, reports and exports.
GATED_PREFIXES = ("/me/", "/my/")


class AcknowledgeForm(FlaskForm):
    notice_sha256 = HiddenField(validators=[DataRequired()])


def _version_and_kind(version_id: int, kind: str) -> AgreementVersion:
    if kind not in documents.KINDS:
        abort(404)
    if kind in RESTRICTED and not current_user.has_role(Role.PRIVACY_OFFICER, Role.OR_DELEGATE):
        abort(403)
    return db.session.get(AgreementVersion, version_id) or abort(404)


def _language() -> str:
    language = request.args.get("lang", "nl")
    if language not in ("nl", "en"):
        abort(400)
    return language


@bp.route("/agreements/<int:version_id>/documents/<kind>")
@login_required
def show(version_id: int, kind: str):
    version = _version_and_kind(version_id, kind)
    document = documents.render(kind, version, _language())
    return render_template("agreement_documents/page.html", version=version, document=document, kind=kind,
                           kind_labels=KIND_LABELS, restricted=RESTRICTED)


@bp.route("/agreements/<int:version_id>/documents/<kind>.pdf")
@login_required
def as_pdf(version_id: int, kind: str):
    version = _version_and_kind(version_id, kind)
    language = _language()
    body = pdf.render(documents.render(kind, version, language))
    return _download(body, "application/pdf", f"{FILE_NAMES[kind]}-{version.label}-{language}.pdf")


@bp.route("/agreements/<int:version_id>/documents/<kind>.docx")
@login_required
def as_docx(version_id: int, kind: str):
    version = _version_and_kind(version_id, kind)
    language = _language()
    body = docx_render.render(documents.render(kind, version, language))
    return _download(body, docx_render.CONTENT_TYPE, f"{FILE_NAMES[kind]}-{version.label}-{language}.docx")


def _download(body: bytes, content_type: str, name: str) -> Response:
    return Response(body, content_type=content_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# --- the driver's privacy notice ------------------------------------------------------------

@bp.route("/privacy-notice", methods=["GET", "POST"])
@login_required
def notice():
    version = agreements.in_force()
    form = AcknowledgeForm()
    if request.method == "POST":
        if version is None or not form.validate_on_submit():
            abort(400)
        try:
            documents.acknowledge(current_user, version, form.notice_sha256.data)
        except agreements.AgreementError:
            flash(_("The privacy notice changed since it was shown to you; please read it again."), "error")
            return redirect(url_for("agreement_documents.notice"), 303)
        flash(_("Thank you: your acknowledgement of the privacy notice is recorded."), "success")
        return redirect(request.args.get("next") if _local_path(request.args.get("next")) else url_for("web.home"), 303)
    document = documents.render("notice", version, _ui_language()) if version else None
    key = documents.notice_key(version) if version else None
    form.notice_sha256.data = key
    acknowledged = documents.acknowledgement_of(current_user, key) if key else None
    return render_template("agreement_documents/notice.html", version=version, document=document, form=form,
                           local_zone=LOCAL,
                           acknowledged=acknowledged, history=documents.acknowledgements(current_user),
                           versions={v.id: v for v in agreements.all_versions()})


def _ui_language() -> str:
    from flask_babel import get_locale
    return "en" if str(get_locale()) == "en" else "nl"


def _local_path(target: str | None) -> bool:
    return bool(target) and target.startswith("/") and not target.startswith("//")


def _gate():
    """A driver sees the privacy notice of the version in force before their first use of it."""
    if not request.path.startswith(GATED_PREFIXES) or not current_user.is_authenticated:
        return None
    if not current_user.has_role(Role.DRIVER):
        return None
    version = agreements.in_force()
    if version is None or documents.acknowledgement_of(current_user, documents.notice_key(version)) is not None:
        return None
    return redirect(url_for("agreement_documents.notice", next=request.full_path.rstrip("?")), 303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(_gate)
