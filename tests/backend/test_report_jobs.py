"""The fleet export job when its worker thread dies (both databases): whatever ends the thread,
the status row ends "failed" with a message that the status JSON and the finance page show,
never "running" forever; a fleet is walked page by page."""
from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import select

from tests.backend import report_fixtures as rf


@pytest.fixture
def fleet(app, client, make_user, tmp_path):
    return rf.fleet(app, client, make_user, tmp_path)


def _wait(client, job_id: int = 1) -> dict:
    status = None
    for _ in range(200):
        status = client.get(f"/finance/reports/jobs/{job_id}").get_json()
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    return status


def _job_row(app, job_id: int = 1):
    from backend.db import db
    from backend.models.report_exports import ReportExport
    with app.app_context():
        job = db.session.get(ReportExport, job_id)
        return job.status, job.message, job.finished_at


def _add_job(app, requested_by: int, year: int, **columns) -> int:
    """A job row as the page would have queued it (overridden by `columns`); its id."""
    from backend.db import db
    from backend.models.report_exports import ReportExport
    values = {"format": "csv", "status": "queued", "total": 0, "done": 0, "reports": 0, "message": ""} | columns
    with app.app_context():
        job = ReportExport(requested_by_id=requested_by, year=year, **values)
        db.session.add(job)
        db.session.commit()
        return job.id


def test_an_exception_before_the_export_starts_fails_the_job(app, client, login, fleet, monkeypatch):
    """Counting the cars happened outside any handler: the row stayed "queued" for good."""
    from backend.finance import jobs
    from backend.reports import fleet as fleet_module

    def broken_count():
        raise RuntimeError("database went away")

    monkeypatch.setattr(fleet_module, "vehicle_count", broken_count)
    login(rf.FINANCE_EMAIL)
    assert client.post("/finance/reports/fleet", data={"fleet-year": fleet.year, "fleet-format": "csv"}).status_code == 303
    status = _wait(client)
    assert status["status"] == "failed" and status["message"] == jobs.DIED, status
    assert "database went away" not in status["message"]  # no internals on the page
    page = client.get("/finance/reports")
    # The page says it in the user's language (Dutch by default), the JSON too for the script.
    dutch = "De export is gestopt door een interne fout; start hem opnieuw."
    assert "Mislukt".encode() in page.data and dutch.encode() in page.data
    assert status["message_text"] == dutch
    assert _job_row(app)[2] is not None  # finished_at set


def test_a_worker_whose_session_breaks_mid_export_still_marks_the_job_failed(app, client, login, fleet,
                                                                              monkeypatch):
    """The export fails after some progress AND the session cannot even roll back (a lost
    connection): the row is written on a connection of its own."""
    from backend.db import db
    from backend.finance import jobs
    from backend.reports import fleet as fleet_module

    real = fleet_module.export_fleet

    def dying_export(actor_id, out, *, year, fmt, progress=None):
        progress(1, 3)

        def broken_rollback():
            raise RuntimeError("connection lost")

        monkeypatch.setattr(db.session, "rollback", broken_rollback)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(fleet_module, "export_fleet", dying_export)
    with app.app_context():
        folder = jobs.export_dir(app)  # the instance folder may be shared with other tests' jobs
    before = set(os.listdir(folder))
    login(rf.FINANCE_EMAIL)
    client.post("/finance/reports/fleet", data={"fleet-year": fleet.year, "fleet-format": "xlsx"})
    status = _wait(client)
    monkeypatch.setattr(fleet_module, "export_fleet", real)
    assert status["status"] == "failed" and status["message"] == jobs.DIED, status
    assert (status["done"], status["total"]) == (1, 3)  # the progress it made stays visible
    assert status["download"] is None
    assert client.get("/finance/reports/jobs/1/download").status_code == 404
    assert set(os.listdir(folder)) <= before  # neither a zip nor its .part was left behind


def test_a_base_exception_in_the_worker_marks_the_job_failed_and_ends_the_thread(app, fleet, monkeypatch):
    from backend.finance import jobs
    from backend.reports import fleet as fleet_module

    def interrupted(*args, **kwargs):
        raise SystemExit(3)

    monkeypatch.setattr(fleet_module, "export_fleet", interrupted)
    job_id = _add_job(app, fleet.finance, fleet.year)
    with pytest.raises(SystemExit):
        jobs.run(app, job_id)  # what the thread runs; the SystemExit still ends it
    status, message, finished_at = _job_row(app, job_id)
    assert (status, message) == ("failed", jobs.DIED) and finished_at is not None


def test_a_refusal_keeps_its_own_message(app, fleet):
    from backend.finance import jobs

    job_id = _add_job(app, fleet.driver, fleet.year)
    jobs.run(app, job_id)  # a driver asked: export_fleet refuses before reading anything
    status, message, _ = _job_row(app, job_id)
    assert status == "failed" and message == "only finance exports the whole fleet"


def test_the_fleet_is_walked_page_by_page_in_kenteken_order(app, fleet):
    from backend.db import db
    from backend.fleet import service
    from backend.models.fleet import Vehicle
    from backend.reports import fleet as fleet_module

    with app.app_context():
        for plate in ("ZZ-99-ZZ", "12-ABC-3", "HJ-45-KL", "PP-01-PP", "BB-22-BB"):
            service.create_vehicle(plate, "Opel", "Corsa")
        expected = list(db.session.scalars(select(Vehicle.id).order_by(Vehicle.kenteken)))
        assert list(fleet_module.iter_vehicle_ids(page=2)) == expected
        assert list(fleet_module.iter_vehicle_ids(page=6)) == expected  # exactly one full page
        assert fleet_module.vehicle_count() == len(expected) == 6


def test_a_job_whose_worker_process_died_is_marked_interrupted_when_next_looked_at(app, client, login, fleet):
    """A worker process killed outright leaves no thread to mark its job: the missing heartbeat
    does. A job that still beats stays running, and a reaped job stays failed even if its
    worker turns out to live on."""
    from datetime import timedelta

    from backend.db import db, utcnow
    from backend.finance import jobs
    from backend.models.report_exports import ReportExport

    now = utcnow()
    ids = (
        _add_job(app, fleet.finance, fleet.year, status="running", total=3, done=1, reports=1,
                 heartbeat_at=now - timedelta(minutes=11)),  # its worker died
        _add_job(app, fleet.finance, fleet.year, status="running", total=3, done=2, reports=2,
                 heartbeat_at=now - timedelta(minutes=1)),  # alive
        _add_job(app, fleet.finance, fleet.year, created_at=now - timedelta(hours=1)),  # never started
    )
    login(rf.FINANCE_EMAIL)
    dead_status = client.get(f"/finance/reports/jobs/{ids[0]}").get_json()
    dutch = "De export is onderbroken doordat de server stopte; start hem opnieuw."
    assert (dead_status["status"], dead_status["message"]) == ("failed", jobs.INTERRUPTED)
    assert dead_status["message_text"] == dutch
    assert (dead_status["done"], dead_status["total"]) == (1, 3)  # the progress it made stays visible
    assert client.get(f"/finance/reports/jobs/{ids[1]}").get_json()["status"] == "running"
    assert client.get(f"/finance/reports/jobs/{ids[2]}").get_json()["status"] == "failed"
    assert dutch.encode() in client.get("/finance/reports").data
    with app.app_context():
        jobs._set(ids[0], done=2)  # the "dead" worker beats after all: too late, the row stays failed
        row = db.session.get(ReportExport, ids[0])
        assert (row.status, row.done, row.finished_at is not None) == ("failed", 1, True)
        assert jobs.reap_stale() == 0  # nothing left to reap; the live job is untouched
        assert db.session.get(ReportExport, ids[1]).status == "running"


def test_a_running_export_beats_its_heartbeat_with_every_car(app, fleet, monkeypatch):
    from backend.db import db, utcnow
    from backend.finance import jobs
    from backend.models.report_exports import ReportExport

    before = utcnow()
    job_id = _add_job(app, fleet.finance, fleet.year)
    beats = []
    real_set = jobs._set

    def watching_set(job_id, **values):
        real_set(job_id, **values)
        beats.append(db.session.get(ReportExport, job_id).heartbeat_at)

    monkeypatch.setattr(jobs, "_set", watching_set)
    jobs.run(app, job_id)
    with app.app_context():
        row = db.session.get(ReportExport, job_id)
        assert row.status == "done", row.message
        assert row.heartbeat_at is not None and row.heartbeat_at >= before
    # running, one beat per car (the fixture's fleet has cars), done: each a later heartbeat
    assert len(beats) >= 3 and beats == sorted(beats) and None not in beats


def test_a_batch_run_again_after_its_worker_died_counts_once(app, fleet):
    """A queue worker killed after a batch was counted but before the queue heard of it: the
    queue runs the batch again (backend/tasks.py retries a dead worker's tasks); the export must
    still count each car once and be assembled once."""
    from backend.db import db
    from backend.finance import jobs as fleet_jobs
    from backend.models.report_exports import ReportExport

    job_id = _add_job(app, fleet.finance, fleet.year, status="queued")
    (batch,) = fleet_jobs.plan(app, job_id)
    assert fleet_jobs.run_batch(app, job_id, 0, batch) is True  # completes the count: assemble
    assert fleet_jobs.run_batch(app, job_id, 0, batch) is False  # counted already: nothing to add
    with app.app_context():
        job = db.session.get(ReportExport, job_id)
        assert (job.status, job.total, job.done, job.reports, job.batches, job.batches_done) == \
            ("running", 1, 1, 1, 1, 1)


def test_an_export_planned_again_keeps_its_plan_and_checkpoint(app, fleet):
    """The planning task run again (its worker died after planning): the batches and the signed
    checkpoint that batches already written carry stay those of the first run."""
    from pathlib import Path

    from backend.finance import jobs as fleet_jobs

    job_id = _add_job(app, fleet.finance, fleet.year, status="queued")
    first = fleet_jobs.plan(app, job_id)
    checkpoint = Path(fleet_jobs.checkpoint_path(app, job_id)).read_bytes()
    time.sleep(1.1)  # a checkpoint taken again would carry another second
    assert fleet_jobs.plan(app, job_id) == first
    assert Path(fleet_jobs.checkpoint_path(app, job_id)).read_bytes() == checkpoint
