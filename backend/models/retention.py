"""Retention runs: the one way trip facts ever leave the database (docs/retention.md).

Trip tables refuse UPDATE and DELETE (triggers, migrations 0002/0005/0006). Migration 0008 gives
those triggers a single exception: while a row of retention_runs is *open* in the same
transaction, DELETE is allowed on the tables retention empties, and on trips an UPDATE that only
sets the sealed private positions to NULL. A run is open while `open_sentinel` is 1; that column
is a foreign key to retention_open_sentinels, a table that can never hold the id 1 (check
constraint), checked only at COMMIT (DEFERRABLE INITIALLY DEFERRED). So an open run can never be
committed: the job closes it (open_sentinel NULL, counts, audit seqs) as its last write, and a
transaction that forgets to is refused at COMMIT and rolled back with everything it deleted.
Uncommitted rows are invisible to other transactions, so the exception never reaches anyone else.
Closed runs are final: triggers refuse changing or deleting them.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow

OPEN = 1  # the value of open_sentinel while a run is open; no parent row can ever have it


class RetentionOpenSentinel(db.Model):
    """Always empty: the parent that an open run's open_sentinel never finds at COMMIT."""

    __tablename__ = "retention_open_sentinels"
    __table_args__ = (CheckConstraint("id = 0", name="never_one"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class RetentionRun(db.Model):
    __tablename__ = "retention_runs"
    __table_args__ = (
        CheckConstraint("open_sentinel IS NULL OR open_sentinel = 1", name="open_sentinel_one"),
        # The triggers ask "is a run open?" for every row they guard: keep that a lookup.
        Index("ix_retention_runs_open", "open_sentinel",
              sqlite_where=text("open_sentinel IS NOT NULL"),
              postgresql_where=text("open_sentinel IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    agreement_version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id"))
    agreement_version: Mapped[str] = mapped_column(String(100))  # the document's own label
    # Per category: {"business_tracks": {"days": 90, "cutoff": "...Z"}, ...}: what was due.
    cutoffs: Mapped[dict[str, Any]] = mapped_column(JSON)
    tracks_deleted: Mapped[int] = mapped_column(Integer, default=0)  # track points
    seals_cleared: Mapped[int] = mapped_column(Integer, default=0)  # private trips
    trips_deleted: Mapped[int] = mapped_column(Integer, default=0)
    # Rows deleted with the trips: {"trip_tracks": n, "trip_revisions": n, ...}.
    related_deleted: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    audit_seqs: Mapped[list[int]] = mapped_column(JSON, default=list)  # the run's audit events
    open_sentinel: Mapped[int | None] = mapped_column(
        ForeignKey("retention_open_sentinels.id", deferrable=True, initially="DEFERRED"), default=OPEN)
