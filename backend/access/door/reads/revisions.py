"""The revisions of trips (backend/trips/revisions.py writes them): what drivers and finance typed
about a trip - its class, business relation, corrected addresses, notes. Personal data, so read
only here. The caller passes the ids of trips it read through the door (the door decided and
audited that read); which address values a reader may see is decided by the caller's view of the
trip (backend.trips.revisions hides a private trip's addresses from anyone but its driver).
RevisionRow is a plain value: no ORM object of trip_revisions leaves the door.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from backend.db import among, db
from backend.models.revisions import RevisionField, TripRevision

NOTE = RevisionField.NOTE.value


@dataclass(frozen=True)
class RevisionRow:
    id: int
    trip_id: int
    field: str
    old_value: str | None
    new_value: str | None
    author_id: int
    author_role: str
    reason: str | None
    supersedes_id: int | None
    batch_id: str
    created_at: datetime


def _row(revision: TripRevision) -> RevisionRow:
    return RevisionRow(revision.id, revision.trip_id, revision.field, revision.old_value, revision.new_value,
                       revision.author_id, revision.author_role, revision.reason, revision.supersedes_id,
                       revision.batch_id, revision.created_at)


_COLUMNS = (TripRevision.id, TripRevision.trip_id, TripRevision.field, TripRevision.old_value,
            TripRevision.new_value, TripRevision.author_id, TripRevision.author_role, TripRevision.reason,
            TripRevision.supersedes_id, TripRevision.batch_id, TripRevision.created_at)


def revision_rows(trip_ids: Iterable[int]) -> list[RevisionRow]:
    """Every revision of these trips, by trip and then oldest first (plain columns: a report
    reads a year's hundreds, which as ORM objects cost more than the query)."""
    rows = [RevisionRow(*row) for condition in among(TripRevision.trip_id, trip_ids)
            for row in db.session.execute(select(*_COLUMNS).where(condition))]
    return sorted(rows, key=lambda row: (row.trip_id, row.id))


def current_revisions(trip_ids: Iterable[int]) -> dict[tuple[int, str], RevisionRow]:
    """The newest revision per (trip, field), notes excluded."""
    rows = [_row(r) for condition in among(TripRevision.trip_id, trip_ids)
            for r in db.session.scalars(select(TripRevision).where(condition, TripRevision.field != NOTE))]
    return {(row.trip_id, row.field): row for row in sorted(rows, key=lambda row: row.id)}


def revised_trip_ids(trip_ids: Iterable[int]) -> set[int]:
    """Those of these trips that anyone ever revised."""
    return {trip_id for condition in among(TripRevision.trip_id, trip_ids)
            for trip_id in db.session.scalars(select(TripRevision.trip_id).distinct().where(condition))}
