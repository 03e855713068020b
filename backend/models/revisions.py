"""Trip revisions: everything a person changes about a trip, one row per change.

A trip's facts (backend/models/trips.py) never change. What a driver or finance adds later -
the class (business / commute / private), a note, the business relation visited, a route
deviation with its reason, private detour km, a corrected address - is a *revision*: one row
per field changed, naming its author, the time, the reason and the revision it supersedes.
The current value of a field is its newest revision; every earlier value stays in the table.

The database refuses UPDATE and DELETE on this table (triggers in migration 0005, SQLite and
PostgreSQL): the change history itself is immutable, as the Normenkader requires.
Written only by backend/trips/revisions.py; see docs/revisions.md.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow


class TripClass(str, Enum):
    BUSINESS = "business"
    COMMUTE = "commute"
    PRIVATE = "private"


class RevisionField(str, Enum):
    CLASSIFICATION = "classification"  # a TripClass value
    NOTE = "note"  # notes add up: a new note never supersedes an earlier one
    BUSINESS_RELATION = "business_relation"  # whom the driver visited
    DETOUR = "detour"  # the route deviated from the usual one: the reason (empty: no deviation)
    PRIVATE_DETOUR_KM = "private_detour_km"  # decimal km as text, e.g. "3.5"
    START_ADDRESS = "start_address"  # a corrected departure address
    END_ADDRESS = "end_address"  # a corrected arrival address


class AuthorRole(str, Enum):
    DRIVER = "driver"
    FINANCE = "finance"


REVISION_FIELDS = tuple(field.value for field in RevisionField)
TRIP_CLASSES = tuple(c.value for c in TripClass)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ('" + "', '".join(values) + "')"


class TripRevision(db.Model):
    __tablename__ = "trip_revisions"
    __table_args__ = (
        CheckConstraint(_in("field", REVISION_FIELDS), name="field_known"),
        CheckConstraint(_in("author_role", tuple(r.value for r in AuthorRole)), name="author_role_known"),
        CheckConstraint("field != 'classification' OR " + _in("new_value", TRIP_CLASSES), name="class_known"),
        Index("ix_trip_revisions_trip_field", "trip_id", "field", "id"),
        # A revision is superseded at most once: two people changing the same field at the same
        # moment cannot both replace the same value (the second one gets an error and retries).
        Index("ix_trip_revisions_supersedes_id", "supersedes_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A reference, not a read: the facts stay behind the door.
    trip_id: Mapped[int] = mapped_column(ForeignKey("trips.id"))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)  # the value this revision replaced (None: unset)
    new_value: Mapped[str | None] = mapped_column(Text)  # None: the field was cleared
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    author_role: Mapped[str] = mapped_column(String(16))  # the capacity the author acted in
    reason: Mapped[str | None] = mapped_column(Text)  # mandatory for finance corrections
    # The revision of the same trip and field this one replaces (None for the first, and for notes).
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("trip_revisions.id"))
    # Changes made together (one form, one bulk action) share a batch id.
    batch_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<TripRevision {self.id} {self.field}>"
