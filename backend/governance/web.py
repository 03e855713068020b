"""The access pages: agreements, requests and grants, the audit log, and the driver's
"who saw my data". Trip data shown here comes only through backend.access.door."""
from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta

from flask import Blueprint, Flask, abort, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import and_, exists, or_, select

from backend import accounts, agreement_documents, audit
from backend.access import door
from backend.governance import agreements, approvals, grants, requests
from backend.access.door import AccessDenied
from backend.governance.forms import (CATEGORY_LABELS, AuditFilterForm, ConsentForm, DecisionForm, RequestForm,
                                     RevokeForm, UploadForm)
from backend.access.purposes import BUSINESS_TRACKS
from backend.governance.requests import RequestInput, RequestRefused
from backend.auth import role_required
from backend.db import db, utcnow as _now
from backend.driver import svg
from backend.local_time import LOCAL
from backend.models.access import AccessRequest, Grant, Notification
from backend.models.accounts import Role, User, UserRole
from backend.models.audit import AuditEvent
from backend.models.fleet import Vehicle
from backend.governance.labels import ground_label, purpose_label
from backend.web.roles import ROLE_LABELS

APPROVER_ROLES = (Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
AUDIT_PAGE = 200

agreements_bp = Blueprint("agreements", __name__, url_prefix="/agreements")
access_bp = Blueprint("access", __name__, url_prefix="/access")
audit_bp = Blueprint("audit", __name__, url_prefix="/audit")

STATUS_LABELS = {
    "pending": _l("Awaiting decision"), "approved": _l("Approved"), "denied": _l("Denied"),
    "expired": _l("Expired"), "awaiting_consent": _l("Awaiting works council consent"),
    "in_force": _l("In force"), "superseded": _l("Superseded"),
}
EVENT_LABELS = audit.LABELS  # each kind's label, declared with the kind (audit.kind, the registry)
PURPOSE_TAX_LABEL = _l("Tax registration")
# approvals.can_decide's reasons (English, as the audit log keeps them) in the reader's language.
REFUSAL_TEXTS = {
    "the request expired before it was decided": _l("the request expired before it was decided"),
    "the requester cannot decide on their own request": _l("the requester cannot decide on their own request"),
    "the employee concerned cannot decide on a request about their own data":
        _l("the employee concerned cannot decide on a request about their own data"),
    "you decided on this request already; the other approval must come from another person":
        _l("you decided on this request already; the other approval must come from another person"),
}


def refusal_text(reason: str | None) -> str:
    if reason is None:
        return ""
    if reason in REFUSAL_TEXTS:
        return str(REFUSAL_TEXTS[reason])
    if reason.startswith("the request is already "):
        status = reason.removeprefix("the request is already ")
        return _("the request is already decided: %(status)s", status=STATUS_LABELS.get(status, status))
    return _("none of your roles is still open for this request")


def _local(moment: datetime | None) -> str:
    return moment.astimezone(LOCAL).strftime("%d-%m-%Y %H:%M") if moment else ""


def _names(ids) -> dict[int, User]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


PRIVATE_POSITIONS_LABELS = {
    "sealed": _l("sealed: only the driver, or a grant the agreement allows, can open them"),
    "none": _l("not recorded"),
}
TAX_ACCESS_LABELS = {
    "own_trip_summaries": _l("own trip summaries"),
    "own_business_tracks": _l("routes of own business trips"),
    "own_private_trip_details": _l("start and end positions of own private trips"),
    "trip_summaries": _l("trip summaries, without routes or private positions"),
}


def _common() -> dict:
    return {"private_positions_labels": PRIVATE_POSITIONS_LABELS, "tax_access_labels": TAX_ACCESS_LABELS,
            "status_labels": STATUS_LABELS, "event_labels": EVENT_LABELS, "category_labels": CATEGORY_LABELS,
            "role_labels": ROLE_LABELS, "local": _local, "tax_label": PURPOSE_TAX_LABEL}


# --- agreements -----------------------------------------------------------------------------

@agreements_bp.route("/")
@login_required
def index():
    """Every logged-in person may read the rules (employees are told in advance)."""
    current = agreements.in_force()
    versions = agreements.all_versions()
    return render_template("access/agreements.html", versions=versions, current=current,
                           status_of=lambda v: agreements.status_of(v, current),
                           upload_form=UploadForm(), consent_form=ConsentForm(),
                           mismatched=_mismatched_for_current_user(), **_common())


@agreements_bp.route("/schema.json")
@login_required
def schema():
    """The schema every uploaded document is checked against: the one file the code loads."""
    from flask import send_file

    return send_file(agreements.SCHEMA_PATH, mimetype="application/schema+json")


def _mismatched_for_current_user() -> list:
    """Consents whose text no longer matches what the system says: for the OR and the privacy officer."""
    if not current_user.has_role(*APPROVER_ROLES):
        return []
    return agreement_documents.mismatched_consents()


@agreements_bp.route("/<int:version_id>")
@login_required
def show(version_id: int):
    from backend.models.access import AgreementVersion
    version = db.session.get(AgreementVersion, version_id) or abort(404)
    current = agreements.in_force()
    regeling = agreement_documents.consent_text(version)
    consent_form = ConsentForm(regeling_sha256=regeling.sha256())
    return render_template("access/agreement.html", version=version, agreement=agreements.load(version),
                           status=agreements.status_of(version, current), consent_form=consent_form,
                           regeling=regeling, consent_check=agreement_documents.consent_check(version),
                           kept_text=agreement_documents.consented(version), **_common())


@agreements_bp.route("/<int:version_id>/document.yaml")
@login_required
def document(version_id: int):
    """The document as uploaded (YAML or JSON), for whoever wants the source of the readable page."""
    from backend.models.access import AgreementVersion
    version = db.session.get(AgreementVersion, version_id) or abort(404)
    response = make_response(version.document_text)
    response.mimetype = "text/plain"
    response.headers["Content-Disposition"] = f'inline; filename="regeling-{version.id}.yaml"'
    return response


@agreements_bp.route("/upload", methods=["POST"])
@role_required(Role.PRIVACY_OFFICER)
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        flash(_("The upload was refused: the form was incomplete or expired."), "error")
        return redirect(url_for("agreements.index"))
    text = form.text.data or ""
    if form.document.data:
        try:
            text = form.document.data.read(256 * 1024 + 1).decode("utf-8")
        except UnicodeDecodeError:
            flash(_("The file is not UTF-8 text."), "error")
            return redirect(url_for("agreements.index")), 303
    if not text.strip():
        flash(_("Choose a file or paste the document."), "error")
        return redirect(url_for("agreements.index")), 303
    try:
        version = agreements.upload(text, current_user)
    except agreements.AgreementError as exc:
        current = agreements.in_force()
        return render_template("access/agreements.html", versions=agreements.all_versions(), current=current,
                               status_of=lambda v: agreements.status_of(v, current), upload_form=form,
                               consent_form=ConsentForm(), upload_error=str(exc), **_common()), 400
    flash(_("Agreement version %(label)s stored. It is in force once the works council's consent is "
            "recorded.", label=version.label), "success")
    return redirect(url_for("agreements.show", version_id=version.id), 303)


@agreements_bp.route("/<int:version_id>/consent", methods=["POST"])
@role_required(Role.OR_DELEGATE)
def consent(version_id: int):
    from backend.models.access import AgreementVersion
    version = db.session.get(AgreementVersion, version_id) or abort(404)
    form = ConsentForm()
    if not form.validate_on_submit():
        flash(_("Consent was not recorded: give the decision date and reference."), "error")
        return redirect(url_for("agreements.show", version_id=version.id), 303)
    try:
        agreements.record_consent(version, current_user, form.consent_date.data, form.reference.data,
                                  text_sha256=form.regeling_sha256.data)
    except agreements.AgreementError as exc:
        flash(str(exc), "error")
        return redirect(url_for("agreements.show", version_id=version.id), 303)
    flash(_("Consent recorded: this version is now in force."), "success")
    return redirect(url_for("agreements.show", version_id=version.id), 303)


# --- requests and grants --------------------------------------------------------------------

def _may_see_request(item: AccessRequest) -> bool:
    return item.requester_id == current_user.id or current_user.has_role(*APPROVER_ROLES)


# The endpoint is access.requests (the placeholder in backend/web/navigation.py).
@access_bp.route("/requests", endpoint="requests")
@role_required(Role.MANAGER, Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def requests_list():
    statement = select(AccessRequest).order_by(AccessRequest.filed_at.desc(), AccessRequest.id.desc())
    if not current_user.has_role(*APPROVER_ROLES):
        statement = statement.where(AccessRequest.requester_id == current_user.id)
    items = list(db.session.scalars(statement))
    to_decide = [item for item in items if approvals.can_decide(item, current_user) is None]
    return render_template("access/requests.html", items=items, to_decide=to_decide,
                           vehicles=_vehicles({i.subject_vehicle_id for i in items}), **_common())



def _vehicles(ids) -> dict[int, Vehicle]:
    ids = {i for i in ids if i is not None}
    return {v.id: v for v in db.session.scalars(select(Vehicle).where(Vehicle.id.in_(ids)))} if ids else {}


def _request_form() -> tuple[RequestForm, object]:
    form = RequestForm()
    version = agreements.in_force()
    agreement = agreements.load(version) if version else None
    purposes = agreement.purposes.values() if agreement else []
    form.purpose.choices = [(p.id, purpose_label(p.id)) for p in purposes]
    grounds = sorted({g for p in purposes for g in p.grounds_categories})
    form.grounds_category.choices = [(g, ground_label(g)) for g in grounds]
    drivers = db.session.scalars(select(User).join(UserRole).where(UserRole.role == Role.DRIVER.value)
                                 .order_by(User.name)).all()
    form.subject_user_id.choices = [("", _("(none)"))] + [(str(u.id), f"{u.name} <{u.email}>") for u in drivers]
    vehicles = db.session.scalars(select(Vehicle).order_by(Vehicle.kenteken)).all()
    form.subject_vehicle_id.choices = [("", _("(none)"))] + [
        (str(v.id), f"{v.display_kenteken} {v.make} {v.model}") for v in vehicles]
    return form, agreement


@access_bp.route("/requests/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def new_request():
    form, agreement = _request_form()
    version = agreements.in_force()
    if request.method == "GET":
        if form.grant_days.data is None:
            form.grant_days.data = 7
        return render_template("access/request_new.html", form=form, agreement=agreement, version=version,
                               **_common())
    if not form.validate_on_submit():
        return render_template("access/request_new.html", form=form, agreement=agreement, version=version,
                               **_common()), 400
    data = RequestInput(
        purpose=form.purpose.data,
        subject_user_id=int(form.subject_user_id.data) if form.subject_user_id.data else None,
        subject_vehicle_id=int(form.subject_vehicle_id.data) if form.subject_vehicle_id.data else None,
        period_start=form.period_start.data, period_end=form.period_end.data,
        categories=tuple(form.categories.data), grant_days=form.grant_days.data,
        grounds_category=form.grounds_category.data, motivation=form.motivation.data or "")
    try:
        item = requests.file_request(current_user, data)
    except RequestRefused as exc:
        return render_template("access/request_new.html", form=form, agreement=agreement, version=version,
                               refusal=str(exc), **_common()), 422
    flash(_("Request filed. It needs the approval of two people before anything can be read."), "success")
    return redirect(url_for("access.request_detail", request_id=item.id), 303)


@access_bp.route("/requests/<int:request_id>")
@role_required(Role.MANAGER, Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def request_detail(request_id: int):
    item = requests.get(request_id) or abort(404)
    if not _may_see_request(item):
        abort(403)
    form = DecisionForm()
    form.categories.data = form.categories.data or item.category_list
    clause = agreements.load(item.agreement_version).purposes.get(item.purpose)
    grant = item.grant
    return render_template(
        "access/request_detail.html", item=item, clause=clause, grant=grant, form=form,
        revoke_form=RevokeForm(), refusal=approvals.can_decide(item, current_user), refusal_text=refusal_text,
        may_revoke=grant is not None and grant.is_active(_now()) and grants.may_revoke(grant, current_user),
        grant_active=grant is not None and grant.is_active(_now()),
        vehicle=db.session.get(Vehicle, item.subject_vehicle_id) if item.subject_vehicle_id else None,
        open_roles=approvals.open_roles(item) if item.status == "pending" else [], **_common())


@access_bp.route("/requests/<int:request_id>/decide", methods=["POST"])
@role_required(Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def decide(request_id: int):
    item = requests.get(request_id) or abort(404)
    form = DecisionForm()
    if not form.validate_on_submit():
        flash(_("No decision recorded: a decision needs a reason."), "error")
        return redirect(url_for("access.request_detail", request_id=item.id), 303)
    try:
        grant = approvals.decide(item, current_user, form.decision.data, form.reason.data,
                                 period_start=form.period_start.data, period_end=form.period_end.data,
                                 categories=form.categories.data or None, grant_days=form.grant_days.data)
    except RequestRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("access.request_detail", request_id=item.id), 303)
    if grant is not None:
        flash(_("Second approval recorded: access is granted until %(until)s.", until=_local(grant.expires_at)),
              "success")
    elif form.decision.data == "deny":
        flash(_("The request is denied."), "success")
    else:
        flash(_("Approval recorded. One more approval from the other role is needed."), "success")
    return redirect(url_for("access.request_detail", request_id=item.id), 303)


@access_bp.route("/grants/<int:grant_id>/revoke", methods=["POST"])
@role_required(Role.MANAGER, Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def revoke(grant_id: int):
    grant = db.session.get(Grant, grant_id) or abort(404)
    form = RevokeForm()
    if not form.validate_on_submit():
        flash(_("Not revoked: confirm the revocation and give a reason.") if form.reason.data
              else _("Not revoked: a revocation needs a reason."), "error")
    else:
        try:
            grants.revoke(grant, current_user, form.reason.data)
            flash(_("Access revoked."), "success")
        except grants.GrantError as exc:
            flash(str(exc), "error")
    return redirect(url_for("access.request_detail", request_id=grant.request_id), 303)


@access_bp.route("/grants/<int:grant_id>/trips")
@role_required(Role.MANAGER, Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def grant_trips(grant_id: int):
    """The holder reads inside the grant; the door decides (and audits) every read."""
    grant = db.session.get(Grant, grant_id) or abort(404)
    if grant.subject_user_id is not None:
        trips = door.trips_for_driver(current_user, grant.subject_user_id, purpose=grant.purpose)
    else:
        trips = door.trips_for_vehicle(current_user, grant.subject_vehicle_id, purpose=grant.purpose)
    people = _names({t.driver_id for t in trips})
    return render_template("access/grant_trips.html", grant=grant, trips=trips, people=people,
                           tracks=BUSINESS_TRACKS in grant.category_list, **_common())


@access_bp.route("/grants/<int:grant_id>/trips/<int:trip_id>/track")
@role_required(Role.MANAGER, Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def grant_track(grant_id: int, trip_id: int):
    grant = db.session.get(Grant, grant_id) or abort(404)
    points = door.track(current_user, trip_id, purpose=grant.purpose)
    # A map of the positions (the table behind a link): the same positions, drawn.
    as_table = request.args.get("view") == "table"
    track = None if as_table else svg.track_svg([(p.lat, p.lon) for p in points], label=_("Route of this trip"))
    return render_template("access/grant_track.html", grant=grant, trip_id=trip_id, points=points,
                           track_points=[(p.lat, p.lon) for p in points], as_table=as_table, track=track,
                           **_common())


@access_bp.route("/statistics")
@role_required(Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def statistics():
    """Aggregate figures per purpose for the works council (no personal data)."""
    from backend.governance.statistics import per_purpose
    return render_template("access/statistics.html", figures=per_purpose(), **_common())


# --- the audit log --------------------------------------------------------------------------

def _user_id_by_email(email: str | None) -> int | None | bool:
    if not email:
        return None
    found = db.session.scalar(select(User.id).where(User.email == email.strip().lower()))
    return found if found is not None else False


def _audit_conditions(form: AuditFilterForm) -> list:
    """The filters as SQL conditions (a filter that does not validate filters nothing: the
    page shows its error)."""
    conditions: list = []
    if not form.validate():
        return conditions
    if form.event_type.data:
        conditions.append(AuditEvent.event_type == form.event_type.data)
    if form.purpose.data:
        conditions.append(AuditEvent.purpose == form.purpose.data.strip())
    for field, column in ((form.actor, AuditEvent.actor_id), (form.subject, AuditEvent.subject_user_id)):
        found = _user_id_by_email(field.data)
        if found is False:
            conditions.append(False)  # an unknown person matches nothing
        elif found is not None:
            conditions.append(column == found)
    if form.date_from.data:
        conditions.append(AuditEvent.at >= datetime.combine(form.date_from.data, time.min, LOCAL))
    if form.date_until.data:
        conditions.append(AuditEvent.at < datetime.combine(form.date_until.data + timedelta(days=1), time.min, LOCAL))
    return conditions


def _audit_filter_form() -> AuditFilterForm:
    form = AuditFilterForm(request.args)
    form.event_type.choices = [("", _("(all)"))] + sorted(((k, str(v)) for k, v in EVENT_LABELS.items()),
                                                         key=lambda choice: choice[1])
    return form


AUDIT_FILTERS = ("event_type", "purpose", "actor", "subject", "date_from", "date_until")


def _audit_url(endpoint: str, **extra) -> str:
    args = {name: request.args[name] for name in AUDIT_FILTERS if request.args.get(name)}
    return url_for(endpoint, **args, **extra)


def _before_seq() -> int | None:
    text = request.args.get("before", "")
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        abort(400)
    return int(text)


@audit_bp.route("/log")
@role_required(Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def log():
    """Newest first, AUDIT_PAGE events a page; the next page starts below the last seq shown
    (keyset paging: as fast on page 500 as on page 1, whatever the log's length)."""
    from backend.governance import audit_details

    form = _audit_filter_form()
    conditions = _audit_conditions(form)
    before = _before_seq()
    if before is not None:
        conditions.append(AuditEvent.seq < before)
    events = list(db.session.scalars(select(AuditEvent).where(*conditions)
                                     .order_by(AuditEvent.seq.desc()).limit(AUDIT_PAGE + 1)))
    more = len(events) > AUDIT_PAGE
    events = events[:AUDIT_PAGE]
    people = _names({e.actor_id for e in events} | {e.subject_user_id for e in events})
    plates = {v.id: v.display_kenteken for v in _vehicles({e.subject_vehicle_id for e in events}).values()}
    fields = {e.seq: audit_details.fields(e.details, plates.get(e.subject_vehicle_id)) for e in events}
    # A filter that does not validate (a date out of range, ...) shows its error: a 400.
    return render_template("access/audit_log.html", form=form, events=events, people=people,
                           details=lambda e: json.loads(e.details), fields=fields, page_size=AUDIT_PAGE,
                           next_url=_audit_url("audit.log", before=events[-1].seq) if more else None,
                           first_url=_audit_url("audit.log") if before is not None else None,
                           csv_url=_audit_url("audit.log_csv"), **_common()), 400 if form.errors else 200


CSV_BATCH = 1000


@audit_bp.route("/log.csv")
@role_required(Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def log_csv():
    """The filtered log as CSV, newest first, streamed in batches by seq (never loaded whole).
    The details column is the event's canonical JSON exactly as hashed, for checking."""
    import csv
    import io

    from flask import Response, stream_with_context

    form = _audit_filter_form()
    conditions = _audit_conditions(form)
    if form.errors:
        abort(400)
    labels = {k: str(v) for k, v in EVENT_LABELS.items()}

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";")
        writer.writerow(["seq", "at", "event_type", "event", "actor", "purpose", "subject", "kenteken",
                         "grant_id", "request_id", "details", "hash"])
        before = None
        while True:
            statement = select(AuditEvent).where(*conditions).order_by(AuditEvent.seq.desc()).limit(CSV_BATCH)
            if before is not None:
                statement = statement.where(AuditEvent.seq < before)
            batch = list(db.session.scalars(statement))
            people = _names({e.actor_id for e in batch} | {e.subject_user_id for e in batch})
            plates = {v.id: v.display_kenteken for v in _vehicles({e.subject_vehicle_id for e in batch}).values()}
            for e in batch:
                writer.writerow([e.seq, e.at.astimezone(LOCAL).isoformat(), e.event_type,
                                 labels.get(e.event_type, ""), people[e.actor_id].email if e.actor_id in people else "",
                                 e.purpose or "", people[e.subject_user_id].email if e.subject_user_id in people else "",
                                 plates.get(e.subject_vehicle_id, ""), e.grant_id or "", e.request_id or "",
                                 e.details, e.hash])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(batch) < CSV_BATCH:
                return
            before = batch[-1].seq
            db.session.expunge_all()  # a long log: keep the session small

    name = f"ritbox-auditlog-{_now().astimezone(LOCAL).strftime('%Y%m%d-%H%M')}.csv"
    return Response(stream_with_context(rows()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@audit_bp.route("/verify", methods=["POST"])
@role_required(Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def verify():
    from flask_wtf.csrf import validate_csrf
    try:
        validate_csrf(request.form.get("csrf_token"))
    except Exception:  # noqa: BLE001 - any CSRF failure is a refusal
        abort(400)
    result = audit.verify()
    flash(_("Audit chain intact: %(n)d events checked.", n=result.events) if result.ok else
          _("Audit chain BROKEN at event %(seq)s: %(reason)s", seq=result.broken_seq, reason=result.reason),
          "success" if result.ok else "error")
    return redirect(url_for("audit.log"), 303)


@audit_bp.route("/checkpoint")
@role_required(Role.OR_DELEGATE, Role.PRIVACY_OFFICER)
def checkpoint():
    """A signed checkpoint taken now, to keep outside Ritbox (backend/checkpoints.py)."""
    from flask import Response

    from backend import checkpoints
    signed = checkpoints.issue("download")
    name = f"ritbox-checkpoint-{signed['checkpoint']['at'].replace(':', '')}.json"
    return Response(checkpoints.dumps(signed), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- the driver's "who saw my data" ---------------------------------------------------------

def visible_events_for(user_id: int) -> list[AuditEvent]:
    """Events about this employee by others, from the moment the agreement says they are told.

    Under a grant (and for the request that led to it) that is when the grant's notification
    to this employee was sent: at the grant, or at its close. A request that ended without a
    grant (denied, expired) shows once it ended; events tied to no request or grant (tax reads
    by finance, refused attempts) show at once."""
    told_grant = exists().where(Notification.grant_id == AuditEvent.grant_id, Notification.user_id == user_id,
                                Notification.sent_at.is_not(None))
    told_request = exists().where(Grant.request_id == AuditEvent.request_id, Notification.grant_id == Grant.id,
                                  Notification.user_id == user_id, Notification.sent_at.is_not(None))
    ended_without_grant = exists().where(AccessRequest.id == AuditEvent.request_id,
                                         AccessRequest.status.in_(("denied", "expired")))
    visible = or_(
        and_(AuditEvent.grant_id.is_(None), AuditEvent.request_id.is_(None)),
        and_(AuditEvent.grant_id.is_not(None), told_grant),
        and_(AuditEvent.grant_id.is_(None), AuditEvent.request_id.is_not(None),
             or_(told_request, ended_without_grant)))
    statement = (select(AuditEvent)
                 .where(AuditEvent.subject_user_id == user_id,
                        or_(AuditEvent.actor_id.is_(None), AuditEvent.actor_id != user_id),
                        AuditEvent.event_type.not_in([audit.LOGIN, audit.LOGIN_FAILED]), visible)
                 .order_by(AuditEvent.seq.desc()).limit(500))
    return list(db.session.scalars(statement))


@login_required
def access_log():
    events = visible_events_for(current_user.id)
    notes = grants.notifications_for(current_user.id)
    people = _names({e.actor_id for e in events} | {n.grant.holder_id for n in notes})
    return render_template("access/access_log.html", events=events, notes=notes, people=people,
                           details=lambda e: json.loads(e.details), **_common())


# --- wiring ---------------------------------------------------------------------------------

GRANT_REFUSALS = {
    "revoked": _l("it was revoked"), "expired": _l("it has expired"),
    "the employee is outside the grant": _l("the employee is outside it"),
    "the vehicle is outside the grant": _l("the car is outside it"),
    "the period is outside the grant": _l("the period is outside it"),
}


def denial_text(reason: str) -> str:
    """The door's reason (English, as the audit log keeps it) in the reader's language."""
    from backend.access import door
    if reason in (door.TRIP_REFUSED, "no such trip"):
        return _("You may not read this trip, or it does not exist.")
    if reason == "not logged in":
        return _("You are not logged in.")
    if reason.startswith("no grant for purpose "):
        return _("There is no grant for the purpose %(purpose)s.",
                 purpose=purpose_label(reason.removeprefix("no grant for purpose ")))
    if reason.startswith("the track of a private trip"):
        return _("The route of a private trip needs a grant that includes private trips.")
    if reason.startswith("the tax purpose"):
        return _("For the tax registration a driver reads only their own trips, and finance only the tax report data.")
    grant = re.fullmatch(r"grant (\d+): (.*)", reason)
    if grant:
        why = grant.group(2)
        category = re.fullmatch(r"data category (\w+) not granted", why)
        if category:
            why = _("%(category)s is not part of it", category=CATEGORY_LABELS.get(category.group(1), ""))
        elif why.startswith("the grant differs"):
            why = _("it was changed after it was issued")
        else:
            why = str(GRANT_REFUSALS.get(why, _("it does not cover this read")))
        return _("Grant %(id)s does not allow this read: %(why)s.", id=grant.group(1), why=why)
    return _("This read is outside what your role or grant allows.")


def _denied(error: AccessDenied):
    """A refused read (already audited by the door) is a 403."""
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify({"error": "access_denied", "message": str(error)}), 403
    return render_template("access/denied.html", reason=denial_text(str(error))), 403


def init_app(app: Flask) -> None:
    app.register_blueprint(agreements_bp)
    app.register_blueprint(access_bp)
    app.register_blueprint(audit_bp)
    # The endpoint name the navigation expects; the driver's other pages may live in a "driver"
    # blueprint of their own, so this one is added on the app, not as a blueprint.
    app.add_url_rule("/me/access-log", endpoint="driver.access_log", view_func=access_log)
    app.register_error_handler(AccessDenied, _denied)

