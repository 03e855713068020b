"""The fleet-wide export as a background job: a status row (ReportExport) that the page polls,
the zip written car by car to the instance folder, then moved into place when complete.

With RITBOX_TASK_QUEUE=procrastinate the job is a task that a worker process runs
(backend.tasks), and a web worker's restart does not touch it. Inline (the default), the job
runs in a thread of the web worker that accepted it. Whatever ends the thread - an
exception anywhere, also before the export starts or while the failure itself is recorded -
leaves the row "failed" with a message the page shows (see run). A worker *process* killed
outright (a restart, the OOM killer) cannot say so itself: every update of the row is also a
heartbeat, and a queued or running row whose heartbeat is older than STALE_AFTER is marked failed
(INTERRUPTED) when the page or the status poll next looks (reap_stale). Starting a new export is
then the remedy: the zip is reproducible."""
from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zipfile
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from backend.access.door import AccessDenied
from backend.db import db, utcnow
from backend.models.report_exports import ReportExport, ReportExportBatch
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
                       reports=0, message="", heartbeat_at=utcnow())
    db.session.add(job)
    db.session.commit()
    app = current_app._get_current_object()
    from backend import tasks
    if tasks.on_queue(app):  # a worker process runs it; the web worker may restart meanwhile
        try:
            tasks.defer(app, "ritbox.fleet_export", job_id=job.id)
        except Exception:  # noqa: BLE001 - the page must learn that the export will not run
            log.exception("fleet export %s: could not be queued", job.id)
            _fail(job.id, DIED)
        return job
    thread = threading.Thread(target=run, args=(app, job.id), name=f"fleet-export-{job.id}", daemon=True)
    thread.start()
    return job


ACTIVE = ("queued", "running")
# A car's report takes well under a second (docs/reports.md): ten minutes without a heartbeat
# is a dead worker, not a slow one.
STALE_AFTER = timedelta(minutes=10)


def _set(job_id: int, **values) -> None:
    """Update the job's row, if it is still active (a row reap_stale gave up on stays failed),
    and beat its heartbeat."""
    db.session.execute(update(ReportExport).where(ReportExport.id == job_id, ReportExport.status.in_(ACTIVE))
                       .values(heartbeat_at=utcnow(), **values))
    db.session.commit()


# Messages the page shows (the status row's message): no personal data, no stack traces.
DIED = "the export stopped because of an internal error; start it again"
INTERRUPTED = "the export was interrupted (the server stopped it); start it again"


def reap_stale(now: datetime | None = None) -> int:
    """Mark failed (INTERRUPTED) every queued or running job without a heartbeat for STALE_AFTER:
    its worker process is gone. Returns how many; commits when there were any.

    The page polls this every second or two: it reads first and writes only when a job is stale
    (an UPDATE that matches nothing would still take SQLite's write lock at every poll)."""
    from backend import tasks
    now = now or utcnow()
    last_sign = func.coalesce(ReportExport.heartbeat_at, ReportExport.created_at)
    # On the task queue a queued export waits in PostgreSQL for a free worker, however long:
    # only a running one can have lost its process.
    watched = ("running",) if tasks.on_queue() else ACTIVE
    stale = (ReportExport.status.in_(watched), last_sign < now - STALE_AFTER)
    if db.session.scalar(select(func.count()).select_from(ReportExport).where(*stale)) == 0:
        return 0
    result = db.session.execute(update(ReportExport).where(*stale)
                                .values(status="failed", message=INTERRUPTED, finished_at=now))
    db.session.commit()
    log.warning("fleet export: %d job(s) without a heartbeat marked interrupted", result.rowcount)
    return result.rowcount


def _fail(job_id: int, message: str) -> None:
    """Mark the job failed, whatever state the session is in: the worker's session may be the
    very thing that broke (a lost connection, a failed flush), so after a rollback the row is
    written on a connection of its own. Only a job still queued or running is touched."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - a broken session must not stop the row being marked
        log.warning("fleet export %s: rollback failed", job_id)
    statement = (update(ReportExport)
                 .where(ReportExport.id == job_id, ReportExport.status.in_(ACTIVE))
                 .values(status="failed", message=message[:500], finished_at=utcnow()))
    try:
        with db.engine.begin() as connection:
            connection.execute(statement)
    except Exception:  # noqa: BLE001 - nothing more can be done; the log says which job
        log.exception("fleet export %s: could not mark the job failed", job_id)


def run(app: Flask, job_id: int) -> None:
    """The worker thread (inline: the whole export, car by car)."""
    _guarded(app, job_id, _run)


def _guarded(app: Flask, job_id: int, body, *args):
    """Run one step of the job; body's result, or None when it failed. Every way out leaves the
    row going on, done or failed: an expected refusal (ReportError, AccessDenied) with its own
    message, anything else - also a failure while starting, or a BaseException that ends the
    thread - with DIED."""
    with app.app_context():
        try:
            return body(app, job_id, *args)
        except (ReportError, AccessDenied) as exc:
            _fail(job_id, str(exc))
        except BaseException as exc:  # noqa: BLE001 - the page must learn that the job ended
            log.exception("fleet export %s failed", job_id)
            _fail(job_id, DIED)
            if not isinstance(exc, Exception):
                raise  # SystemExit, KeyboardInterrupt: marked failed, then let them end the thread
        finally:
            db.session.remove()
    return None


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


# --- On the task queue: the cars in batches, one task each, assembled when all are done ---------

BATCH_CARS = 100  # cars per batch task at most: a few seconds of work, progress shown after each
# Batches an export is split into at least (when it has that many cars): a worker that finishes
# early takes the next batch, so the workers end within one small batch of each other. (One batch
# of 100 cars and one of 1 kept a second worker idle: no speed-up at 101 cars.)
MIN_BATCHES = 32


def batch_size(cars: int) -> int:
    """Cars per batch for a fleet of `cars`: at most BATCH_CARS, small enough for MIN_BATCHES."""
    return max(1, min(BATCH_CARS, -(-cars // MIN_BATCHES)))


SKIPPED_ENTRY = "skipped.txt"  # in a batch's part file: kentekens without trips in the year


def part_path(app: Flask, job_id: int, number: int) -> str:
    return os.path.join(export_dir(app), f"fleet-{job_id}-{number:06d}.part.zip")


def checkpoint_path(app: Flask, job_id: int) -> str:
    """The export's signed checkpoint, taken when it is planned: every batch's XML carries it."""
    return os.path.join(export_dir(app), f"fleet-{job_id}.checkpoint.json")


def plan(app: Flask, job_id: int) -> list[list[int]]:
    """Split the fleet into batches of batch_size() vehicle ids (kenteken order) and mark the job
    running; [] when it failed (refused, no cars)."""
    return _guarded(app, job_id, _plan) or []


def plan_path(app: Flask, job_id: int) -> str:
    """The export's batches (vehicle ids), written once: a planning task run again keeps them."""
    return os.path.join(export_dir(app), f"fleet-{job_id}.plan.json")


def _plan(app: Flask, job_id: int) -> list[list[int]]:
    from backend.reports.fleet import require_finance, vehicle_ids

    job = db.session.get(ReportExport, job_id)
    require_finance(job.requested_by_id, job.format)
    if os.path.exists(plan_path(app, job_id)):  # planned before; its worker died before saying so
        with open(plan_path(app, job_id), encoding="utf-8") as handle:
            return json.load(handle)
    ids = vehicle_ids()
    if not ids:
        raise ReportError(f"no trips in {job.year} for any car")
    size = batch_size(len(ids))
    batches = [ids[start:start + size] for start in range(0, len(ids), size)]
    from backend import checkpoints
    _write_once(checkpoint_path(app, job_id), checkpoints.dumps(checkpoints.issue("export")))
    _set(job_id, status="running", total=len(ids), batches=len(batches))
    # Last: once the plan is there, the checkpoint and the row's counts are too.
    _write_once(plan_path(app, job_id), json.dumps(batches).encode())
    return batches


def _write_once(path: str, content: bytes) -> None:
    """Write the file whole or not at all (a worker may die half-way)."""
    with open(path + ".tmp", "wb") as handle:
        handle.write(content)
    os.replace(path + ".tmp", path)


def run_batch(app: Flask, job_id: int, number: int, vehicle_ids: list[int]) -> bool:
    """Write one batch's reports to its part file and count it; True for the batch that
    completes the count (its task then queues the assembly)."""
    return bool(_guarded(app, job_id, _run_batch, number, vehicle_ids))


def _run_batch(app: Flask, job_id: int, number: int, vehicle_ids: list[int]) -> bool:
    from backend.reports.fleet import FleetResult, write_car

    job = db.session.get(ReportExport, job_id)
    if job.status != "running":  # failed meanwhile: the other batches have nothing to add
        return False
    if db.session.get(ReportExportBatch, (job_id, number)) is not None:
        return False  # counted by a run whose worker died before the queue heard of it
    actor_id, year, fmt = job.requested_by_id, job.year, job.format
    result = FleetResult(total=len(vehicle_ids))
    with open(checkpoint_path(app, job_id), "rb") as handle:
        signed = json.load(handle)
    path = part_path(app, job_id, number)
    with open(path + ".tmp", "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
        for vehicle_id in vehicle_ids:
            write_car(archive, actor_id, vehicle_id, year=year, fmt=fmt, result=result, checkpoint=signed)
        archive.writestr(SKIPPED_ENTRY, "\n".join(result.skipped))
    os.replace(path + ".tmp", path)
    # The batch's row and its count in one transaction: a second run of the batch, also one
    # running at the same time, fails on the row's key and counts nothing.
    db.session.add(ReportExportBatch(export_id=job_id, number=number))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    counted = db.session.execute(
        update(ReportExport).where(ReportExport.id == job_id, ReportExport.status == "running")
        .values(done=ReportExport.done + len(vehicle_ids), reports=ReportExport.reports + result.reports,
                batches_done=ReportExport.batches_done + 1, heartbeat_at=utcnow())
        .returning(ReportExport.batches_done, ReportExport.batches)).one_or_none()
    db.session.commit()
    return counted is not None and counted.batches_done == counted.batches


def _copy_compressed(part: zipfile.ZipFile, info: zipfile.ZipInfo, archive: zipfile.ZipFile) -> None:
    """Copy one member of a batch's part file into the export's zip as its compressed bytes, with
    its CRC and sizes. Inflating and deflating every report again made the assembly, which runs
    in one worker after all the batches, cost some 7 ms a car. zipfile has no public call for
    this: the member's local header is written as ZipFile.open(..., "w", force_zip64=True) does."""
    part.fp.seek(info.header_offset)
    header = struct.unpack(zipfile.structFileHeader, part.fp.read(zipfile.sizeFileHeader))
    if header[0] != zipfile.stringFileHeader:
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    part.fp.seek(header[zipfile._FH_FILENAME_LENGTH] + header[zipfile._FH_EXTRA_FIELD_LENGTH], os.SEEK_CUR)
    member = zipfile.ZipInfo(info.filename, info.date_time)
    member.compress_type, member.CRC = info.compress_type, info.CRC
    member.compress_size, member.file_size = info.compress_size, info.file_size
    member.external_attr, member.create_system = info.external_attr, info.create_system
    member.flag_bits = info.flag_bits & ~zipfile._MASK_USE_DATA_DESCRIPTOR  # sizes are in the header
    archive.fp.seek(archive.start_dir)
    member.header_offset = archive.start_dir
    archive.fp.write(member.FileHeader(zip64=True))
    remaining = info.compress_size
    while remaining:
        chunk = part.fp.read(min(remaining, 1 << 20))
        if not chunk:
            raise zipfile.BadZipFile(f"{info.filename} is cut short")
        archive.fp.write(chunk)
        remaining -= len(chunk)
    archive.start_dir = archive.fp.tell()
    archive.filelist.append(member)
    archive.NameToInfo[member.filename] = member
    archive._didModify = True


def assemble(app: Flask, job_id: int) -> None:
    """Copy the batches' part files, in order, into the job's zip, with LEESMIJ.txt."""
    _guarded(app, job_id, _assemble)


def _assemble(app: Flask, job_id: int) -> None:
    from backend.reports.fleet import CHECKPOINT_ENTRY, FleetResult, readme

    job = db.session.get(ReportExport, job_id)
    if job.status != "running":
        return
    result = FleetResult(total=job.total, reports=job.reports)
    parts = [part_path(app, job_id, number) for number in range(job.batches)]
    final = zip_path(app, job_id)
    partial = final + ".part"
    try:
        with open(partial, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in parts:
                with zipfile.ZipFile(path) as part:
                    for info in part.infolist():
                        if info.filename == SKIPPED_ENTRY:
                            result.skipped.extend(filter(None, part.read(info).decode().split("\n")))
                            continue
                        _copy_compressed(part, info, archive)
            archive.writestr("LEESMIJ.txt", readme(job.year, job.format, result))
            archive.write(checkpoint_path(app, job_id), CHECKPOINT_ENTRY)
        os.replace(partial, final)
        _set(job_id, status="done", finished_at=utcnow())
    finally:
        for path in (partial, *parts, checkpoint_path(app, job_id), plan_path(app, job_id)):
            if os.path.exists(path):
                os.unlink(path)
