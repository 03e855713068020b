"""Trip revisions: the only way a person changes a trip (write service and read API).

Writing - revise(actor, trip_ids, changes, reason):
- The trips are read through the door (door.trip_summaries, no seal opened); a trip the
  actor may not read is refused with AccessDenied (403), and the attempt is audited.
- The trip's own driver may change every field within the correction window (the agreement in
  force, 7 days after the trip's end by default). After the window, or once finance closed the
  trip's month, the trip is locked: the driver can only add notes.
- Finance may correct any field of any trip at any time, always with a reason; the reason shows
  in the report with the original value.
- Nobody else revises anything (a manager reading under a grant included).
- Each changed field is one new row in trip_revisions that names the value it replaced and the
  revision it supersedes; nothing is ever updated or deleted. Bulk changes are all-or-nothing.

Reading - current_annotations(views) and revision_history(views): see docs/access.md.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend import audit
from backend.access import door
from backend.governance import agreements
from backend.access.door import AccessDenied, TripView
from backend.db import db, utcnow
from backend.errors import N_, UserError
from backend.models.accounts import Role, User
from backend.models.revisions import AuthorRole, RevisionField, TripClass, TripRevision
from backend.numbers import km_nl, trip_km
from backend.periods import service as periods

DEFAULT_CORRECTION_WINDOW_DAYS = 7
MAX_TEXT = 2000
REVISION_REFUSED = audit.kind("revision_refused", _l("Change to a trip refused"))
# the driver completed an incomplete address (a revision)
ADDRESS_COMPLETED = audit.kind("address_completed", _l("Driver completed an incomplete trip address"))
ADDRESS_FIELDS = (RevisionField.START_ADDRESS.value, RevisionField.END_ADDRESS.value)
NOTE = RevisionField.NOTE.value
CLASSIFICATION = RevisionField.CLASSIFICATION.value




class RevisionError(UserError):
    """A change that cannot be made (400, or 409 when `locked`)."""

    def __init__(self, msgid: str, *, locked: bool = False, **params: object) -> None:
        super().__init__(msgid, **params)
        self.locked = locked


class BusinessOnlyRefusal(RevisionError):
    """A driver classifying private km on a van under their standing verklaring uitsluitend
    zakelijk gebruik: the verklaring must be withdrawn first (verklaring_id: the one to withdraw)."""

    def __init__(self, verklaring_id: int, **params: object) -> None:
        super().__init__(N_("Trip %(trip)s was made with a van under your verklaring uitsluitend zakelijk gebruik "
                            "(nr. %(number)s): private use is not allowed while it stands. Withdraw the verklaring "
                            "first, then classify the trip as private."), **params)
        self.verklaring_id = verklaring_id


# --- the correction window --------------------------------------------------------------------

def correction_window_days(at: datetime | None = None) -> int:
    """Days after a trip's end in which its driver may change it: the agreement in force, else 7."""
    version = agreements.in_force(at)
    if version is None:
        return DEFAULT_CORRECTION_WINDOW_DAYS
    return agreements.load(version).rule("correction_window_days")


def window_ends(trip: TripView, days: int) -> datetime:
    return trip.ended_at + timedelta(days=days)


@dataclass(frozen=True)
class LockState:
    """What the trip's driver may still do: `editable` everything, else only notes."""

    editable: bool
    reason: str | None  # None, "window" (correction window passed) or "closed" (period closed)
    window_ends: datetime


def lock_states(trips: Iterable[TripView], now: datetime | None = None) -> dict[int, LockState]:
    """The driver's lock state of each trip (one agreement and one closings query for all)."""
    now = now or utcnow()
    days = correction_window_days(now)
    trips = list(trips)
    closings = periods.closed_months({t.vehicle_id for t in trips}, [t.local_date for t in trips])
    states = {}
    for trip in trips:
        ends = window_ends(trip, days)
        if periods.closed_in(closings, trip.vehicle_id, trip.local_date):
            states[trip.id] = LockState(False, "closed", ends)
        elif now > ends:
            states[trip.id] = LockState(False, "window", ends)
        else:
            states[trip.id] = LockState(True, None, ends)
    return states


# --- writing ----------------------------------------------------------------------------------

def _clean(field_name: str, value: object, trip: TripView | None = None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if field_name == CLASSIFICATION:
        if text not in {c.value for c in TripClass}:
            raise RevisionError(N_("Unknown trip class %(value)s."), value=text[:40])
        return text
    if field_name == RevisionField.PRIVATE_DETOUR_KM.value:
        if text == "":
            return None
        try:
            km = Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise RevisionError(N_("Private detour km must be a number, e.g. 3,5.")) from None
        if not km.is_finite() or km < 0:
            raise RevisionError(N_("Private detour km must be zero or more."))
        if trip is not None and km > Decimal(str(trip.odometer_end_km - trip.odometer_start_km)) + Decimal("0.001"):
            raise RevisionError(N_("Private detour km cannot exceed the trip's %(km)s km."),
                                km=km_nl(trip_km(trip.odometer_start_km, trip.odometer_end_km)))
        return format(km.quantize(Decimal("0.001")).normalize(), "f")
    if len(text) > MAX_TEXT:
        raise RevisionError(N_("A text may have at most %(n)s characters."), n=MAX_TEXT)
    if field_name == NOTE and not text:
        raise RevisionError(N_("An empty note adds nothing."))
    return text or None


def _capacity(actor: User, trip: TripView) -> AuthorRole | None:
    if trip.driver_id == actor.id and actor.has_role(Role.DRIVER):
        return AuthorRole.DRIVER
    if actor.has_role(Role.FINANCE):
        return AuthorRole.FINANCE
    return None


def _refuse(actor: User, trip_ids: list[int], reason: str, subject: int | None = None) -> None:
    audit.record(REVISION_REFUSED, actor=actor, subject_user_id=subject, purpose="tax",
                 details={"trip_ids": trip_ids[:50], "reason": reason})


def revise(actor: User, trip_ids: Iterable[int], changes: Mapping[str, object], *, reason: str | None = None,
           now: datetime | None = None) -> list[TripRevision]:
    """Apply the same changes to each trip (one trip, or a bulk selection). Returns the new
    revision rows (an unchanged value writes nothing). All-or-nothing."""
    now = now or utcnow()
    ids = list(dict.fromkeys(int(i) for i in trip_ids))
    if not ids:
        raise RevisionError(N_("Select at least one trip."))
    unknown = set(changes) - {f.value for f in RevisionField}
    if unknown:
        raise RevisionError(N_("Unknown field %(field)s."), field=sorted(unknown)[0][:40])
    if not changes:
        raise RevisionError(N_("Nothing to change."))
    try:
        trips = door.trip_summaries(actor, ids)
    except AccessDenied:
        _refuse(actor, ids, "the trips cannot be read by this person")
        raise
    reason = (reason or "").strip() or None
    capacities = {trip.id: _capacity(actor, trip) for trip in trips}
    foreign = [trip for trip in trips if capacities[trip.id] is None]
    if foreign:
        _refuse(actor, [t.id for t in foreign], "only the trip's driver or finance may revise it",
                subject=foreign[0].driver_id)
        raise AccessDenied("only the trip's driver or finance may revise it")
    if any(c is AuthorRole.FINANCE for c in capacities.values()) and not reason:
        raise RevisionError(N_("A correction by finance needs a reason."))
    if reason and len(reason) > MAX_TEXT:
        raise RevisionError(N_("A text may have at most %(n)s characters."), n=MAX_TEXT)

    states = lock_states(trips, now)
    for trip in trips:
        if capacities[trip.id] is AuthorRole.DRIVER and set(changes) - {NOTE}:
            state = states[trip.id]
            if state.reason == "closed":
                raise RevisionError(N_("Trip %(trip)s lies in a closed period: you can only add a note."),
                                    locked=True, trip=trip.id)
            if state.reason == "window":
                raise RevisionError(N_("Trip %(trip)s is locked since %(date)s: you can only add a note."),
                                    locked=True, trip=trip.id,
                                    date=state.window_ends.astimezone(_local()).strftime("%d-%m-%Y"))
        if ((trip.is_private or trip.sealed or changes.get(CLASSIFICATION) == TripClass.PRIVATE.value)
                and set(changes) & set(ADDRESS_FIELDS)):
            # A plaintext address would put the sealed private destination back in the database.
            raise RevisionError(N_("Addresses of trips recorded in private mode cannot be corrected here."))

    _check_business_only(trips, capacities, changes)

    current = door.current_revisions([t.id for t in trips])
    batch = str(uuid.uuid4())
    written: list[TripRevision] = []
    for trip in trips:
        for field_name, raw in changes.items():
            value = _clean(field_name, raw, trip)
            previous = None if field_name == NOTE else current.get((trip.id, field_name))
            old = previous.new_value if previous is not None else None
            if field_name != NOTE and value == old:
                continue
            row = TripRevision(trip_id=trip.id, field=field_name, old_value=old, new_value=value,
                               author_id=actor.id, author_role=capacities[trip.id].value, reason=reason,
                               supersedes_id=previous.id if previous is not None else None,
                               batch_id=batch, created_at=now)
            db.session.add(row)
            written.append(row)
    try:
        # A business-mode trip classified private is sealed in the same transaction (door.seal_reclassified).
        sealed = door.seal_reclassified(actor, written)
        db.session.commit()
    except IntegrityError:
        # The unique supersedes_id: someone replaced the same value a moment earlier.
        db.session.rollback()
        raise RevisionError(N_("Someone else changed this trip at the same moment; reload and try again.")) from None
    if sealed:
        door.flush_log()
    _notify_not_business(trips, written)
    return written


def _private_km_asked(changes: Mapping[str, object]) -> bool:
    if changes.get(CLASSIFICATION) == TripClass.PRIVATE.value:
        return True
    detour = str(changes.get(RevisionField.PRIVATE_DETOUR_KM.value) or "").replace(",", ".").strip()
    try:
        return bool(detour) and Decimal(detour) > 0
    except InvalidOperation:
        return False


def _check_business_only(trips: list[TripView], capacities: dict, changes: Mapping[str, object]) -> None:
    """Private km on a van under the driver's own standing verklaring uitsluitend zakelijk are
    refused until the driver withdraws it (finance may still record the facts: they alert)."""
    from backend.fleet.regimes import business_only_binds

    if not _private_km_asked(changes):
        return
    for trip in trips:
        if capacities[trip.id] is not AuthorRole.DRIVER:
            continue
        binding = business_only_binds(trip.driver_id, trip.vehicle_id, trip.local_date)
        if binding is not None:
            raise BusinessOnlyRefusal(binding.id, trip=trip.id, number=binding.number)


def _notify_not_business(trips: list[TripView], written: list[TripRevision]) -> None:
    """Private km just recorded: alerts for vans under uitsluitend zakelijk and the 80%/100%
    warnings (backend.fleet.tax_notices), committed on their own."""
    from backend.fleet import tax_notices

    by_id = {trip.id: trip for trip in trips}
    private: dict[int, float] = {}
    for row in written:
        trip = by_id[row.trip_id]
        km = trip.odometer_end_km - trip.odometer_start_km
        if row.field == CLASSIFICATION and row.new_value == TripClass.PRIVATE.value:
            private[trip.id] = km
        elif row.field == RevisionField.PRIVATE_DETOUR_KM.value and row.new_value:
            private.setdefault(trip.id, float(row.new_value))
    if not private:
        return
    tax_notices.after_trips([(trip_id, by_id[trip_id].driver_id, by_id[trip_id].vehicle_id,
                              by_id[trip_id].local_date, km) for trip_id, km in private.items()],
                            tax_notices.local_today())
    db.session.commit()


def _local():
    from backend.local_time import LOCAL
    return LOCAL


# --- reading (for the driver's pages and finance's reports) ----------------------------------

@dataclass(frozen=True)
class Note:
    text: str
    author_id: int
    author_role: str
    created_at: datetime


@dataclass(frozen=True)
class Annotation:
    """What people added to one trip, current values only (history: revision_history)."""

    trip_id: int
    classification: str | None = None  # set by a person; None: nobody classified the trip
    business_relation: str | None = None
    detour: str | None = None  # reason the route deviated; None: no deviation reported
    private_detour_km: Decimal | None = None
    start_address: str | None = None
    end_address: str | None = None
    addresses_withheld: bool = False  # corrected addresses of a private trip, hidden from this reader
    notes: tuple[Note, ...] = ()
    revision_count: int = 0
    corrected_by_finance: bool = False

    def effective_class(self, trip: TripView) -> str | None:
        """The class that counts: a person's choice, else private for a trip recorded in private
        mode, else None (unclassified; a commute proposal is only a proposal)."""
        if self.classification:
            return self.classification
        return TripClass.PRIVATE.value if trip.is_private else None


@dataclass(frozen=True)
class RevisionView:
    id: int
    trip_id: int
    field: str
    old_value: str | None
    new_value: str | None
    author_id: int
    author_name: str
    author_role: str
    reason: str | None
    supersedes_id: int | None
    batch_id: str
    created_at: datetime


def _views_by_id(trips: Iterable[TripView]) -> dict[int, TripView]:
    out = {}
    for trip in trips:
        if not isinstance(trip, TripView):
            raise TypeError("pass the TripView objects the door returned, not ids")
        out[trip.id] = trip
    return out


def _hide_addresses(trip: TripView, classification: str | None, for_driver: bool) -> bool:
    private = classification == TripClass.PRIVATE.value or (classification is None and trip.is_private)
    return private and not for_driver


def current_annotations(trips: Iterable[TripView], *, for_driver: bool = False,
                        rows: list[door.RevisionRow] | None = None) -> dict[int, Annotation]:
    """Current annotations of trips the caller read through the door. Every trip gets an entry
    (empty when nobody changed it). Corrected addresses of private trips are left out unless
    for_driver (the driver's own view). rows: door.revision_rows() of these trips, if already read."""
    views = _views_by_id(trips)
    values: dict[int, dict] = {i: {"notes": [], "count": 0, "finance": False} for i in views}
    for row in (door.revision_rows(list(views)) if rows is None else rows):
        entry = values[row.trip_id]
        entry["count"] += 1
        entry["finance"] = entry["finance"] or row.author_role == AuthorRole.FINANCE.value
        if row.field == NOTE:
            entry["notes"].append(Note(row.new_value or "", row.author_id, row.author_role, row.created_at))
        else:
            entry[row.field] = row.new_value
    result = {}
    for trip_id, entry in values.items():
        classification = entry.get(CLASSIFICATION)
        hide = _hide_addresses(views[trip_id], classification, for_driver)
        km = entry.get(RevisionField.PRIVATE_DETOUR_KM.value)
        result[trip_id] = Annotation(
            trip_id=trip_id, classification=classification,
            business_relation=entry.get(RevisionField.BUSINESS_RELATION.value),
            detour=entry.get(RevisionField.DETOUR.value),
            private_detour_km=Decimal(km) if km is not None else None,
            start_address=None if hide else entry.get(RevisionField.START_ADDRESS.value),
            end_address=None if hide else entry.get(RevisionField.END_ADDRESS.value),
            addresses_withheld=hide and any(entry.get(f) for f in ADDRESS_FIELDS),
            notes=tuple(entry["notes"]), revision_count=entry["count"], corrected_by_finance=entry["finance"])
    return result


def revision_history(trips: Iterable[TripView], *, for_driver: bool = False,
                     rows: list[door.RevisionRow] | None = None) -> dict[int, list[RevisionView]]:
    """Every revision of each trip, oldest first, with original value, author, time and reason.
    Address revisions of private trips are left out unless for_driver. rows: door.revision_rows() of
    these trips, if already read."""
    views = _views_by_id(trips)
    rows = door.revision_rows(list(views)) if rows is None else rows
    current_class: dict[int, str | None] = {}
    for row in rows:
        if row.field == CLASSIFICATION:
            current_class[row.trip_id] = row.new_value
    # Columns, not User rows (whose roles would be loaded with them, once per report).
    names = {user_id: name for user_id, name in db.session.execute(
        select(User.id, User.name).where(User.id.in_({r.author_id for r in rows})))} if rows else {}
    history: dict[int, list[RevisionView]] = {i: [] for i in views}
    for row in rows:
        if row.field in ADDRESS_FIELDS and _hide_addresses(views[row.trip_id], current_class.get(row.trip_id),
                                                          for_driver):
            continue
        history[row.trip_id].append(RevisionView(
            row.id, row.trip_id, row.field, row.old_value, row.new_value, row.author_id,
            names.get(row.author_id, ""), row.author_role, row.reason, row.supersedes_id, row.batch_id,
            row.created_at))
    return history
