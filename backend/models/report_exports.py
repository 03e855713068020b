"""Fleet-wide report exports running in the background: one row per export, polled by the
finance page for its status. The zip itself lives in the instance folder (exports/<id>.zip),
not in the database: it is a by-product that can be produced again at any time."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import UTCDateTime, db, utcnow

EXPORT_STATUSES = ("queued", "running", "done", "failed")


class ReportExport(db.Model):
    __tablename__ = "report_exports"
    __table_args__ = (
        CheckConstraint("status IN ('" + "', '".join(EXPORT_STATUSES) + "')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)  # cars to go through
    done: Mapped[int] = mapped_column(Integer, default=0)  # cars gone through
    reports: Mapped[int] = mapped_column(Integer, default=0)  # cars with a report in the zip
    message: Mapped[str] = mapped_column(String(500), default="")  # failure reason, no personal data
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set by the worker with every update of the row (each car done): a queued or running row
    # whose heartbeat is old has lost its worker process (backend.finance.jobs.reap_stale).
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # On the task queue the cars are split into batches, one task each (backend.finance.jobs):
    # how many, and how many are done; the one that completes the count queues the assembly.
    batches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    batches_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReportExportBatch(db.Model):
    """A batch of an export that has been counted (backend.finance.jobs): a batch task run again
    - its worker died after counting it, before the queue heard so - finds its row and adds
    nothing, so each car is counted, and the export assembled, once."""
    __tablename__ = "report_export_batches"

    export_id: Mapped[int] = mapped_column(ForeignKey("report_exports.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
