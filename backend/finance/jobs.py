"""The fleet-wide export as a background job: a status row (ReportExport) that the page polls,
the zip written car by car to the instance folder, then moved into place when complete.

The job runs in a thread of the web worker that accepted it. A worker that dies mid-export
leaves its row at "running"; starting a new export is the remedy (the zip is reproducible)."""
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


def run(app: Flask, job_id: int) -> None:
    from backend.reports.fleet import export_fleet, vehicle_ids

    with app.app_context():
        job = db.session.get(ReportExport, job_id)
        actor_id, year, fmt = job.requested_by_id, job.year, job.format
        _set(job_id, status="running", total=len(vehicle_ids()))
        final = zip_path(app, job_id)
        partial = final + ".part"
        try:
            with open(partial, "wb") as handle:
                result = export_fleet(actor_id, handle, year=year, fmt=fmt,
                                      progress=lambda done, total: _set(job_id, done=done, total=total))
            os.replace(partial, final)
            _set(job_id, status="done", reports=result.reports, finished_at=utcnow())
        except (ReportError, AccessDenied) as exc:
            db.session.rollback()
            _set(job_id, status="failed", message=str(exc)[:500], finished_at=utcnow())
        except Exception:  # noqa: BLE001 - the page must learn that the job ended
            log.exception("fleet export %s failed", job_id)
            db.session.rollback()
            _set(job_id, status="failed", message="internal error", finished_at=utcnow())
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
            db.session.remove()
