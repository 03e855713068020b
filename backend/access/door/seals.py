"""The two acts that follow a driver's word about a trip's character (docs/access.md):

- seal_reclassified: a trip recorded in business mode that a person classifies private is sealed
  in the same transaction: its start/end positions, track and record body are sealed to the
  backend's key (the device's envelope format, docs/sealed-box.md) into trip_reseals, and the
  clear copies are removed (positions set to NULL, body replaced by a placeholder, track rows
  deleted). The trip-table triggers allow exactly this change and only for a trip whose reseal
  row names a classification to private of itself (migration 0016); nothing switches them off.
  The geocoder cache rows of those positions go too. Audited as trip_sealed.
- disclose_for_tax: the driver opens the seals of a trip that is business now (recorded in
  private mode, or sealed earlier) for the tax report. Until then finance sees the trip as
  business with its addresses withheld by the driver. Audited as seal_disclosed; each later
  opening for a reader is audited as seal_opened by the door.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, text, tuple_, update

from backend import audit
from backend.access.door import character
from backend.access.door.reads import drivers as driver_reads
from backend.access.door.decide import deny
from backend.access.door.envelopes import seal
from backend.access.door.views import Position, seal_position
from backend.access.purposes import TAX
from backend.db import db
from backend.models.accounts import Role, User
from backend.models.org_places import AddressCacheEntry
from backend.models.revisions import RevisionField, TripRevision
from backend.models.seals import SEALED_BODY, TripDisclosure, TripReseal
from backend.models.trips import Trip, TripMode, TripTrack

TRIP_SEALED = audit.kind("trip_sealed", _l("Trip classified private: positions and route sealed"))
SEAL_DISCLOSED = audit.kind("seal_disclosed", _l("Driver opened a trip's addresses for the tax report"))


def _l(msgid: str) -> str:
    """Marks a message for extraction; the pages translate it."""
    return msgid


class DisclosureRefused(Exception):
    """A disclosure that cannot be made (the trip is private, or nothing is sealed). English
    message; pages translate it."""


def seal_pending() -> list[int]:
    """Seal the business-mode trips whose current classification is private but that are still in
    clear (classified before migration 0016), as the system, one commit. Returns their ids."""
    newest = {}
    for revision in db.session.scalars(select(TripRevision).where(
            TripRevision.field == RevisionField.CLASSIFICATION.value).order_by(TripRevision.id)):
        newest[revision.trip_id] = revision
    sealed = seal_reclassified(None, newest.values())
    db.session.commit()
    if sealed:
        flush_log()
    return sealed


def seal_reclassified(actor: User | None, revisions: Iterable[TripRevision]) -> list[int]:
    """Seal every business-mode trip these (unflushed or flushed) revisions classify private, in
    the caller's transaction. Returns the ids of the trips sealed now. actor None: the system
    (the revision's author is named as the one who sealed)."""
    targets = {r.trip_id: r for r in revisions
               if r.field == RevisionField.CLASSIFICATION.value and r.new_value == character.PRIVATE}
    if not targets:
        return []
    db.session.flush()  # the revision ids the reseal rows name
    already = set(db.session.scalars(select(TripReseal.trip_id).where(TripReseal.trip_id.in_(targets))))
    rows = [row for row in db.session.scalars(select(Trip).where(
        Trip.id.in_(targets), Trip.mode == TripMode.BUSINESS.value).order_by(Trip.id)) if row.id not in already]
    sealed: dict[int | None, list[int]] = {}
    places = set()
    for row in rows:
        points = list(db.session.execute(select(TripTrack.at, TripTrack.lat, TripTrack.lon)
                                         .where(TripTrack.trip_id == row.id).order_by(TripTrack.idx)))
        start = Position(row.start_lat, row.start_lon) if row.start_lat is not None else None
        end = Position(row.end_lat, row.end_lon) if row.end_lat is not None else None
        track = json.dumps([[at.isoformat(), lat, lon] for at, lat, lon in points], separators=(",", ":"))
        db.session.add(TripReseal(
            trip_id=row.id, revision_id=targets[row.id].id,
            start_sealed=seal_position(start) if start else None,
            end_sealed=seal_position(end) if end else None,
            track_sealed=seal(track.encode("ascii")) if points else None,
            body_sealed=seal(row.body.encode("utf-8")), track_points=len(points),
            sealed_by_id=actor.id if actor is not None else targets[row.id].author_id))
        db.session.flush()  # the triggers look for this row
        _clear_copies(row.id)
        db.session.expire(row)
        places.update((round(p.lat * 100000), round(p.lon * 100000)) for p in (start, end) if p is not None)
        sealed.setdefault(row.driver_id, []).append(row.id)
    if places:
        # The cache keeps a position's address by its rounded coordinates: those of a private trip go.
        db.session.execute(delete(AddressCacheEntry).where(
            tuple_(AddressCacheEntry.lat_e5, AddressCacheEntry.lon_e5).in_(sorted(places))))
    for driver_id, trip_ids in sealed.items():
        audit.record(TRIP_SEALED, actor=actor, subject_user_id=driver_id, purpose=TAX,
                     details={"trip_ids": trip_ids}, commit=False)
    return [trip_id for ids in sealed.values() for trip_id in ids]


def _clear_copies(trip_id: int) -> None:
    """Remove a sealed trip's clear positions, body and track. PostgreSQL: through the owner's
    function (the app's role holds no UPDATE on trips nor DELETE on trip_tracks, migration 0021);
    either way the triggers allow it only for a trip whose reseal row is there (0016)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT ritbox_reseal_clear(:trip)"), {"trip": trip_id})
        return
    db.session.execute(delete(TripTrack.__table__).where(TripTrack.__table__.c.trip_id == trip_id))
    db.session.execute(update(Trip.__table__).where(Trip.__table__.c.id == trip_id).values(
        start_lat=None, start_lon=None, end_lat=None, end_lon=None, body=SEALED_BODY))


def flush_log() -> None:
    """SQLite: copy the write-ahead log into the database file and empty it, so the old page
    images holding the clear positions do not linger in the -wal file (best effort: a reader
    that holds an old snapshot keeps it until the next checkpoint). PostgreSQL keeps dead row
    versions until (auto)vacuum; see docs/access.md."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.commit()


def disclosed_for_tax(trip_id: int) -> bool:
    """Whether the driver opened this trip's seals for the tax report under its current class."""
    classified = character.classifications([trip_id]).get(trip_id)
    return classified is not None and db.session.scalar(select(TripDisclosure.id).where(
        TripDisclosure.trip_id == trip_id, TripDisclosure.revision_id == classified.revision_id)) is not None


def disclose_for_tax(actor: User, trip_id: int) -> bool:
    """The driver opens a sealed trip that is business now for the tax report (committed).
    False when it was opened already under its current classification."""
    (view,) = driver_reads.trip_summaries(actor, [trip_id])
    if view.driver_id != actor.id or not actor.has_role(Role.DRIVER):
        deny(actor, TAX, view.driver_id, view.vehicle_id,
                  "only the trip's driver opens its positions for the tax report", trip_id=trip_id)
    if view.is_private:
        raise DisclosureRefused(_l("A private trip's positions stay sealed: classify it as business or commute first."))
    if not view.sealed:
        raise DisclosureRefused(_l("This trip's addresses are not sealed: the tax report shows them already."))
    if disclosed_for_tax(trip_id):
        return False
    classified = character.classifications([trip_id])[trip_id]  # a sealed business trip was classified
    db.session.add(TripDisclosure(trip_id=trip_id, revision_id=classified.revision_id, driver_id=actor.id))
    audit.record(SEAL_DISCLOSED, actor=actor, subject_user_id=actor.id, purpose=TAX,
                 details={"trip_ids": [trip_id], "classification": view.character}, commit=False)
    db.session.commit()
    return True
