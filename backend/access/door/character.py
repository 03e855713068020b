"""A trip's effective character: the one answer to "is this trip private?" (DESIGN principles 8
and 11). The door asks it for every trip it returns (TripView.character), and every reader -
pages, reports, exports, the audit log - reads that, never the recording mode alone.

The character is the trip's newest classification revision (by the driver, or finance's
correction), else the device's recording mode. A classification revision that clears the
class falls back to the mode as well. "commute" counts as not private.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from backend.db import among, db
from backend.models.revisions import RevisionField, TripClass, TripRevision

PRIVATE = TripClass.PRIVATE.value
_CLASSIFICATION = RevisionField.CLASSIFICATION.value


@dataclass(frozen=True)
class Classification:
    """The newest classification revision of a trip (value None: cleared)."""

    revision_id: int
    value: str | None


def effective_character(mode: str, classification: str | None) -> str:
    """The driver's latest classification, else the recording mode ("business" or "private")."""
    return classification or mode


def is_private(mode: str, classification: str | None) -> bool:
    return effective_character(mode, classification) == PRIVATE


def classifications(trip_ids: Iterable[int]) -> dict[int, Classification]:
    """The newest classification revision of each trip that has one (index lookups by trip id)."""
    found: dict[int, Classification] = {}
    for condition in among(TripRevision.trip_id, trip_ids):
        rows = db.session.execute(
            select(TripRevision.trip_id, TripRevision.id, TripRevision.new_value)
            .where(TripRevision.field == _CLASSIFICATION, condition)
            .order_by(TripRevision.id))
        for trip_id, revision_id, value in rows:
            found[trip_id] = Classification(revision_id, value)
    return found
