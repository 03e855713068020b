"""The fleet-wide export as a background job: a status row (ReportExport) that the page polls,
the zip written car by car to the instance folder, then moved into place when complete.

The job runs in a thread of the web worker that accepted it. Whatever ends the thread - an
exception anywhere, also before the export starts or while the failure itself is recorded -
leaves the row "failed" with a message the page shows (see run). Only a worker process that is
killed outright leaves its row at "running"; starting a new export is the remedy (the zip is
reproducible)."""
from __future__ import annotations

import logging
import os
import threading

from flask import Flask, current_app
from sqlalchemy import update

from backend.access.door import AccessDenied
from backend.db import db, utcnow
from backend.models.report_exports import ReportExport
from backend.reports.build import ReportError

log = logging.getLogger(__name__)


def export_dir(app: Flask) -> str:
    path = os.path.join(app.instance_path, "exports")
    os.makedirs(path, exist_ok=True)
    return path


def zip_path(app: Flask, job_id: int) -> str:
    return os.path.join(export_dir(app), f"fleet-{job_id}.zip")


def start(actor_id: int, year: int, fmt: str) -> ReportExport:
    job = ReportExport(requested_by_id=actor_id, year=year, format=fmt, status="queued", total=0, done=0,
                       reports=0, message="")
    db.session.add(job)
    db.session.commit()
    app = current_app._get_current_object()
    thread = threading.Thread(target=run, args=(app, job.id), name=f"fleet-export-{job.id}", daemon=True)
    thread.start()
    return job


def _set(job_id: int, **values) -> None:
    db.session.execute(update(ReportExport).where(ReportExport.id == job_id).values(**values))
    db.session.commit()


# Messages the page shows (the status row's message): no personal data, no stack traces.
DIED = "the export stopped because of an internal error; start it again"


def _fail(job_id: int, message: str) -> None:
    """Mark the job failed, whatever state the session is in: the worker's session may be the
    very thing that broke (a lost connection, a failed flush), so after a rollback the row is
    written on a connection of its own. Only a job still queued or running is touched."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - a broken session must not stop the row being marked
        log.warning("fleet export %s: rollback failed", job_id)
    statement = (update(ReportExport)
                 .where(ReportExport.id == job_id, ReportExport.status.in_(("queued", "running")))
                 .values(status="failed", message=message[:500], finished_at=utcnow()))
    try:
        with db.engine.begin() as connection:
            connection.execute(statement)
    except Exception:  # noqa: BLE001 - nothing more can be done; the log says which job
        log.exception("fleet export %s: could not mark the job failed", job_id)


def run(app: Flask, job_id: int) -> None:
    """The worker thread. Every way out leaves the row done or failed: an expected refusal
    (ReportError, AccessDenied) with its own message, anything else - also a failure while
    starting, or a BaseException that ends the thread - with DIED."""
    with app.app_context():
        try:
            _run(app, job_id)
        except (ReportError, AccessDenied) as exc:
            _fail(job_id, str(exc))
        except BaseException as exc:  # noqa: BLE001 - the page must learn that the job ended
            log.exception("fleet export %s failed", job_id)
            _fail(job_id, DIED)
            if not isinstance(exc, Exception):
                raise  # SystemExit, KeyboardInterrupt: marked failed, then let them end the thread
        finally:
            db.session.remove()


def _run(app: Flask, job_id: int) -> None:
    from backend.reports.fleet import export_fleet, vehicle_count

    job = db.session.get(ReportExport, job_id)
    actor_id, year, fmt = job.requested_by_id, job.year, job.format
    _set(job_id, status="running", total=vehicle_count())
    final = zip_path(app, job_id)
    partial = final + ".part"
    try:
        with open(partial, "wb") as handle:
            result = export_fleet(actor_id, handle, year=year, fmt=fmt,
                                  progress=lambda done, total: _set(job_id, done=done, total=total))
        os.replace(partial, final)
        _set(job_id, status="done", reports=result.reports, finished_at=utcnow())
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
